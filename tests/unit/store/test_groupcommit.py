"""GroupCommit on the manual clock: groups by size and by time, a failing group's items
written or failed each on its own, cancellation, and close draining the queue."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

import pytest

from zapgate.store.groupcommit import GroupCommit
from zapgate.util.clock import ManualClock


class Store:
    """A batch function that records every group it is given. A group holding
    ``poison`` raises (its transaction fails); items in ``refused`` are answered with
    their own error while the others commit; ``gate`` holds a write open."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []
        self.written: list[str] = []
        self.refused: set[str] = set()
        self.gate: asyncio.Event | None = None

    async def write(self, items: list[str]) -> Sequence[str | Exception]:
        self.groups.append(list(items))
        if self.gate is not None:
            await self.gate.wait()
        if "poison" in items:
            raise ValueError("poison in the batch")
        results: list[str | Exception] = []
        for item in items:
            if item in self.refused:
                results.append(LookupError(f"{item} refused"))
            else:
                self.written.append(item)
                results.append(item.upper())
        return results


async def settle() -> None:
    """Let every runnable task run (no time passes)."""
    for _ in range(25):
        await asyncio.sleep(0)


def make(
    store: Store,
    clock: ManualClock,
    *,
    max_items: int = 10,
    max_wait: float = 0.0,
    withdraw_cancelled: bool = False,
    on_commit: Callable[[list[str], list[str | Exception]], None] | None = None,
) -> GroupCommit[str, str]:
    return GroupCommit(
        "test",
        store.write,
        clock=clock,
        max_items=max_items,
        max_wait=max_wait,
        withdraw_cancelled=withdraw_cancelled,
        on_commit=on_commit,
    )


async def test_items_submitted_together_are_written_in_groups_of_at_most_max_items(
    clock: ManualClock,
) -> None:
    store = Store()
    group = make(store, clock, max_items=3)
    names = [f"m{n}" for n in range(7)]
    results = await asyncio.gather(*(group.submit(name) for name in names))
    assert results == [name.upper() for name in names]
    assert store.groups == [["m0", "m1", "m2"], ["m3", "m4", "m5"], ["m6"]]
    await group.close()


async def test_items_submitted_during_a_write_go_into_the_next_group(clock: ManualClock) -> None:
    store = Store()
    store.gate = asyncio.Event()
    group = make(store, clock)
    first = asyncio.create_task(group.submit("first"))
    await settle()
    assert store.groups == [["first"]]
    later = [asyncio.create_task(group.submit(name)) for name in ("a", "b", "c")]
    await settle()
    assert group.waiting == 3
    assert store.groups == [["first"]]
    store.gate.set()
    assert await first == "FIRST"
    assert await asyncio.gather(*later) == ["A", "B", "C"]
    assert store.groups == [["first"], ["a", "b", "c"]]
    await group.close()


async def test_with_max_wait_a_group_waits_on_the_clock_until_it_is_due(
    clock: ManualClock,
) -> None:
    store = Store()
    group = make(store, clock, max_items=4, max_wait=0.2)
    waiting = [asyncio.create_task(group.submit(name)) for name in ("a", "b")]
    await settle()
    await clock.advance(0.1)
    assert store.groups == []
    waiting.append(asyncio.create_task(group.submit("c")))
    await clock.advance(0.1)
    assert await asyncio.gather(*waiting) == ["A", "B", "C"]
    assert store.groups == [["a", "b", "c"]]
    await group.close()


async def test_with_max_wait_a_whole_group_is_written_without_waiting(
    clock: ManualClock,
) -> None:
    store = Store()
    group = make(store, clock, max_items=3, max_wait=0.2)
    waiting = [asyncio.create_task(group.submit(f"m{n}")) for n in range(4)]
    await settle()
    # Three made a group at once; the fourth waits for its own interval.
    assert store.groups == [["m0", "m1", "m2"]]
    assert group.waiting == 1
    await clock.advance(0.2)
    assert await asyncio.gather(*waiting) == ["M0", "M1", "M2", "M3"]
    assert store.groups == [["m0", "m1", "m2"], ["m3"]]
    assert clock.pending == 0
    await group.close()


async def test_an_item_submitted_at_once_is_written_without_waiting_with_those_before_it(
    clock: ManualClock,
) -> None:
    store = Store()
    group = make(store, clock, max_items=10, max_wait=0.2)
    queued = [asyncio.create_task(group.submit(name)) for name in ("a", "b")]
    await settle()
    assert store.groups == []
    now = asyncio.create_task(group.submit("now", at_once=True))
    await settle()
    assert store.groups == [["a", "b", "now"]]
    assert await now == "NOW"
    assert await asyncio.gather(*queued) == ["A", "B"]
    # The next group waits its interval again.
    later = asyncio.create_task(group.submit("later"))
    await settle()
    assert store.groups == [["a", "b", "now"]]
    await clock.advance(0.2)
    assert await later == "LATER"
    await group.close()


async def test_an_at_once_item_behind_a_whole_group_does_not_wait_for_the_next_one(
    clock: ManualClock,
) -> None:
    store = Store()
    store.gate = asyncio.Event()
    group = make(store, clock, max_items=2, max_wait=0.2)
    first = asyncio.create_task(group.submit("first", at_once=True))
    await settle()
    assert store.groups == [["first"]]
    queued = [asyncio.create_task(group.submit(name)) for name in ("a", "b")]
    urgent = asyncio.create_task(group.submit_many(["c"], at_once=True))
    await settle()
    store.gate.set()
    await settle()
    # No time passed: "c" did not wait for a group of its own to gather.
    assert store.groups == [["first"], ["a", "b"], ["c"]]
    assert await first == "FIRST"
    assert await asyncio.gather(*queued) == ["A", "B"]
    assert await urgent == ["C"]
    await group.close()


async def test_a_failing_group_is_replayed_item_by_item_and_only_the_bad_item_fails(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store()
    group = make(store, clock)
    caplog.set_level(logging.WARNING, logger="zapgate.store.groupcommit")
    results = await asyncio.gather(
        *(group.submit(name) for name in ("a", "poison", "b")), return_exceptions=True
    )
    assert results[0] == "A"
    assert isinstance(results[1], ValueError)
    assert str(results[1]) == "poison in the batch"
    assert results[2] == "B"
    # The batch function itself wrote each item alone: no second copy of the write.
    assert store.groups == [["a", "poison", "b"], ["a"], ["poison"], ["b"]]
    assert store.written == ["a", "b"]
    assert [r.getMessage() for r in caplog.records] == [
        "group commit failed; writing its items one by one"
    ]
    await group.close()


async def test_an_item_refused_by_a_committed_group_fails_alone_without_a_replay(
    clock: ManualClock,
) -> None:
    store = Store()
    store.refused = {"dup"}
    group = make(store, clock)
    results = await asyncio.gather(
        *(group.submit(name) for name in ("a", "dup", "b")), return_exceptions=True
    )
    assert results[0] == "A"
    assert isinstance(results[1], LookupError)
    assert results[2] == "B"
    assert store.groups == [["a", "dup", "b"]]
    await group.close()


async def test_submit_many_waits_for_every_item_and_answers_each(clock: ManualClock) -> None:
    store = Store()
    group = make(store, clock, max_items=2)
    outcomes = await group.submit_many(["a", "poison", "b"])
    assert outcomes[0] == "A"
    assert isinstance(outcomes[1], ValueError)
    assert outcomes[2] == "B"
    # One caller's items still make groups of at most max_items.
    assert store.groups == [["a", "poison"], ["a"], ["poison"], ["b"]]
    assert await group.submit_many([]) == []
    await group.close()


async def test_on_commit_sees_each_successful_write_and_its_failure_fails_nothing(
    clock: ManualClock,
) -> None:
    store = Store()
    seen: list[tuple[list[str], list[str | Exception]]] = []

    def on_commit(items: list[str], results: list[str | Exception]) -> None:
        seen.append((items, results))
        raise RuntimeError("a broken hook")

    group = make(store, clock, on_commit=on_commit)
    results = await asyncio.gather(
        *(group.submit(name) for name in ("a", "poison", "b")), return_exceptions=True
    )
    assert results[0] == "A"
    assert results[2] == "B"
    # Not for the failed group (it wrote nothing), once per replayed success.
    assert seen == [(["a"], ["A"]), (["b"], ["B"])]
    await group.close()


async def test_a_batch_function_answering_the_wrong_count_fails_its_items(
    clock: ManualClock,
) -> None:
    async def short(items: list[str]) -> list[str | Exception]:
        return ["only one"]

    group: GroupCommit[str, str] = GroupCommit("short", short, clock=clock, max_items=5)
    results = await asyncio.gather(group.submit("a"), group.submit("b"), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    await group.close()


async def test_a_cancelled_awaiter_keeps_its_item_queued_unless_it_withdraws(
    clock: ManualClock,
) -> None:
    for withdraw, expected in ((False, ["first", "gone", "kept"]), (True, ["first", "kept"])):
        store = Store()
        store.gate = asyncio.Event()
        group = make(store, clock, withdraw_cancelled=withdraw)
        first = asyncio.create_task(group.submit("first"))
        await settle()
        gone = asyncio.create_task(group.submit("gone"))
        kept = asyncio.create_task(group.submit("kept"))
        await settle()
        gone.cancel()
        store.gate.set()
        assert await first == "FIRST"
        assert await kept == "KEPT"
        with pytest.raises(asyncio.CancelledError):
            await gone
        assert store.written == expected
        await group.close()


async def test_cancelling_the_flusher_tells_every_waiter_its_write_did_not_happen(
    clock: ManualClock,
) -> None:
    store = Store()
    store.gate = asyncio.Event()
    group = make(store, clock)
    writing = asyncio.create_task(group.submit("writing"))
    await settle()
    queued = asyncio.create_task(group.submit_many(["q1", "q2"]))
    await settle()
    await group.close(timeout=0)
    with pytest.raises(asyncio.CancelledError):
        await writing
    outcomes = await queued
    assert [type(o) for o in outcomes] == [asyncio.CancelledError] * 2
    assert store.written == []
    assert group.waiting == 0


async def test_close_writes_what_is_queued_without_waiting_for_the_interval(
    clock: ManualClock,
) -> None:
    store = Store()
    group = make(store, clock, max_items=10, max_wait=60.0)
    waiting = [asyncio.create_task(group.submit(name)) for name in ("a", "b")]
    await settle()
    assert store.groups == []
    await group.close()
    assert await asyncio.gather(*waiting) == ["A", "B"]
    assert store.groups == [["a", "b"]]
    assert clock.pending == 0


async def test_after_close_a_submit_is_written_in_the_callers_own_task(
    clock: ManualClock,
) -> None:
    store = Store()
    group = make(store, clock, max_items=2, max_wait=60.0)
    await group.close()
    assert await group.submit("late") == "LATE"
    outcomes = await group.submit_many(["x", "poison", "y"])
    assert outcomes[0] == "X"
    assert isinstance(outcomes[1], ValueError)
    assert outcomes[2] == "Y"
    assert store.groups == [["late"], ["x", "poison"], ["x"], ["poison"], ["y"]]
    assert clock.pending == 0


@pytest.mark.parametrize(("max_items", "max_wait"), [(0, 0.0), (1, -1.0)])
def test_a_group_needs_room_for_an_item_and_a_wait_that_is_not_negative(
    clock: ManualClock, max_items: int, max_wait: float
) -> None:
    with pytest.raises(ValueError, match="max_"):
        make(Store(), clock, max_items=max_items, max_wait=max_wait)


async def test_after_a_cancelled_flusher_the_next_group_waits_its_interval_again(
    clock: ManualClock,
) -> None:
    store = Store()
    store.gate = asyncio.Event()
    group = make(store, clock, max_items=2, max_wait=1.0)
    # A whole group is still queued behind the one being written when it is cancelled.
    first = [asyncio.create_task(group.submit(name)) for name in ("a", "b", "c", "x", "y")]
    await settle()
    assert store.groups == [["a", "b"]]
    flusher = next(iter(group._owner.tasks))
    flusher.cancel()
    assert [type(r) for r in await asyncio.gather(*first, return_exceptions=True)] == [
        asyncio.CancelledError
    ] * 5
    store.gate.set()
    late = asyncio.create_task(group.submit("d"))
    await settle()
    assert store.groups == [["a", "b"]]
    await clock.advance(1.0)
    assert await late == "D"
    assert store.groups == [["a", "b"], ["d"]]
    await group.close()
