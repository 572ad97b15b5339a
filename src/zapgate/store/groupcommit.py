"""Group commit: many writers' items written together, each writer told its own outcome.

SQLite has one writer, and even on PostgreSQL a transaction per item costs a commit per
item. A hot writer (accepted sends in ``services/messages.py``, inbound traffic in
``services/ingest.py``) therefore queues its items in a :class:`GroupCommit`: one owned
flusher task takes up to ``max_items`` of them (after waiting up to ``max_wait`` seconds
on the clock for more, when asked to) and hands them to the caller's batch function,
which writes them in one transaction and answers one result per item. Items submitted
while a batch is being written queue for the next one.

When the batch function raises, its transaction wrote nothing, so each item of that
batch is written again on its own, through the same function with a batch of one: there
is no second copy of the write to keep in step, one bad item fails alone, and an item
that only failed because of a neighbour (or of a concurrent writer's duplicate, which
the replay then finds stored) is written. Each awaiter gets its own item's result or
error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from zapgate.util.clock import Clock
from zapgate.util.tasks import TaskOwner

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


_UNSET: Any = object()


class _Ticket(Generic[R]):
    """The items of one ``submit`` call: one future for all of them (a caller handing
    over a thousand items waits on one future, not on a thousand)."""

    __slots__ = ("future", "left", "outcomes")

    def __init__(self, size: int) -> None:
        self.future: asyncio.Future[list[R | BaseException]] = (
            asyncio.get_running_loop().create_future()
        )
        self.left = size
        # Every slot is filled before the future is resolved.
        self.outcomes: list[R | BaseException] = [_UNSET] * size

    def settle(self, index: int, outcome: R | BaseException) -> None:
        """Give item ``index`` its outcome, unless it has one already."""
        if self.outcomes[index] is not _UNSET:
            return
        self.outcomes[index] = outcome
        self.left -= 1
        if self.left == 0 and not self.future.done():
            self.future.set_result(self.outcomes)


# One queued item: the item, its caller's ticket, its index in that ticket.
_Entry = tuple[T, _Ticket[R], int]


class GroupCommit(Generic[T, R]):
    """Queues items of type ``T`` and writes them in groups with ``write``.

    ``write(items)`` opens one transaction, writes every item and answers one result per
    item, in order: an ``R``, or an exception for an item it refused while committing
    the others (a per-item conflict). If it raises, nothing was written and every item
    of the group is written again alone (``write([item])``). It must not raise after
    its transaction committed, or the replay writes twice: work that follows the commit
    goes in ``on_commit(items, results)``, called after every successful ``write``
    (a logged failure there fails nothing).

    ``max_items`` bounds a group. With ``max_wait`` 0 a group is written as soon as the
    flusher runs (what queued meanwhile joins it); otherwise the flusher first waits up
    to ``max_wait`` seconds of ``clock`` for ``max_items`` to gather, which paces the
    transactions of a writer nobody waits on. Items submitted ``at_once`` are written
    (with what is queued before them) without that wait: their caller cannot go on
    until they are committed, and nothing else is coming to join them.

    An awaiter that is cancelled keeps its items queued and written (inbound traffic
    must not be lost with the task that reported it) unless ``withdraw_cancelled``: then
    items whose awaiter was cancelled before their group was taken are dropped (a client
    that hung up on an accept must not have its message sent).

    The flusher is started on demand and owned here; :meth:`close` writes what is
    queued and stops it. After that, ``submit`` writes in the caller's own task.
    """

    def __init__(
        self,
        name: str,
        write: Callable[[list[T]], Awaitable[Sequence[R | Exception]]],
        *,
        clock: Clock,
        max_items: int,
        max_wait: float = 0.0,
        withdraw_cancelled: bool = False,
        on_commit: Callable[[list[T], list[R | Exception]], None] | None = None,
    ) -> None:
        if max_items < 1:
            raise ValueError("max_items must be at least 1")
        if max_wait < 0:
            raise ValueError("max_wait cannot be negative")
        self.name = name
        self._write = write
        self._clock = clock
        self._max_items = max_items
        self._max_wait = max_wait
        self._withdraw_cancelled = withdraw_cancelled
        self._on_commit = on_commit
        self._queue: list[_Entry[T, R]] = []
        self._urgent = 0
        """How many queued items, from the head, were submitted ``at_once``."""
        self._ready = asyncio.Event()
        """Set while a whole group or an ``at_once`` item is queued, or once closing: no
        reason to wait."""
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False
        self._owner = TaskOwner(name)

    @property
    def waiting(self) -> int:
        """Items queued and not yet taken into a group."""
        return len(self._queue)

    async def submit(self, item: T, *, at_once: bool = False) -> R:
        """Write ``item`` with the next group; its result, or its error raised."""
        outcome = (await self._enqueue([item], at_once))[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def submit_many(
        self, items: Sequence[T], *, at_once: bool = False
    ) -> list[R | BaseException]:
        """Write ``items`` (in order, in as few groups as they fit); returns once every
        one of them is settled, with one result or error per item."""
        if not items:
            return []
        return await self._enqueue(items, at_once)

    async def close(self, timeout: float = 5.0) -> None:
        """Write what is queued without waiting for more, then stop the flusher; after
        ``timeout`` seconds it is cancelled and whoever still waits gets
        ``CancelledError`` (``timeout=0`` abandons the queue at once)."""
        self._closed = True
        self._ready.set()
        await self._owner.close(timeout=timeout)

    # ------------------------------------------------------------ flushing

    async def _enqueue(self, items: Sequence[T], at_once: bool) -> list[R | BaseException]:
        ticket: _Ticket[R] = _Ticket(len(items))
        entries: list[_Entry[T, R]] = [(item, ticket, index) for index, item in enumerate(items)]
        if self._closed:
            # No flusher outlives close(): late callers (a connection reporting its last
            # state during shutdown) write their own groups.
            for start in range(0, len(entries), self._max_items):
                await self._commit(entries[start : start + self._max_items])
            return ticket.future.result()
        self._queue.extend(entries)
        if at_once:
            self._urgent = len(self._queue)
        if self._urgent or len(self._queue) >= self._max_items:
            self._ready.set()
        if self._flusher is None:
            self._flusher = self._owner.spawn(self._run(), name="flush")
        return await ticket.future

    async def _run(self) -> None:
        group: list[_Entry[T, R]] = []
        try:
            while self._queue:
                if self._max_wait > 0 and not self._ready.is_set():
                    await self._gather()
                group = self._take()
                if group:
                    await self._commit(group)
        finally:
            self._flusher = None
            # Only a cancelled flusher leaves anything unsettled: whoever still waits
            # learns that their write did not happen.
            left, self._queue = [*group, *self._queue], []
            self._urgent = 0
            if not self._closed:
                self._ready.clear()
            for _, ticket, index in left:
                ticket.settle(index, asyncio.CancelledError())

    async def _gather(self) -> None:
        """Wait up to ``max_wait`` for a whole group (or an ``at_once`` item, or close)."""
        timer = asyncio.ensure_future(self._clock.sleep(self._max_wait))
        ready = asyncio.ensure_future(self._ready.wait())
        try:
            await asyncio.wait((timer, ready), return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            ready.cancel()
            await asyncio.gather(timer, ready, return_exceptions=True)

    def _take(self) -> list[_Entry[T, R]]:
        group = self._queue[: self._max_items]
        del self._queue[: self._max_items]
        self._urgent = max(0, self._urgent - len(group))
        if len(self._queue) < self._max_items and not self._urgent and not self._closed:
            self._ready.clear()
        if self._withdraw_cancelled:
            group = [entry for entry in group if not entry[1].future.cancelled()]
        return group

    async def _commit(self, group: list[_Entry[T, R]]) -> None:
        items = [item for item, _, _ in group]
        try:
            results = await self._write(items)
        except Exception as exc:
            log.warning(
                "group commit failed; writing its items one by one",
                extra={"writer": self.name, "items": len(group), "error": repr(exc)},
            )
            for entry in group:
                await self._commit_alone(entry)
            return
        self._settle(group, items, results)

    async def _commit_alone(self, entry: _Entry[T, R]) -> None:
        item, ticket, index = entry
        try:
            results = await self._write([item])
        except Exception as exc:
            ticket.settle(index, exc)
            return
        self._settle([entry], [item], results)

    def _settle(
        self, group: list[_Entry[T, R]], items: list[T], results: Sequence[R | Exception]
    ) -> None:
        if len(results) != len(group):
            error = RuntimeError(
                f"{self.name}: {len(results)} results for a group of {len(group)} items"
            )
            log.error("group commit answered the wrong number of results", exc_info=error)
            for _, ticket, index in group:
                ticket.settle(index, error)
            return
        if self._on_commit is not None:
            try:
                self._on_commit(items, list(results))
            except Exception:
                log.exception("group commit hook failed", extra={"writer": self.name})
        for (_, ticket, index), result in zip(group, results, strict=True):
            ticket.settle(index, result)
