"""The RabbitMQ connection's coalescing writer: the writes of one loop turn leave in one
write, bytes and order unchanged; draining and closing send what is gathered first."""

from __future__ import annotations

import asyncio
from typing import Any

from zapgate.exports.coalesce import CoalescingWriter


class Wire:
    """Stands in for a ``StreamWriter``: what was written, write by write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.drained = 0
        self.closed = False
        self.transport = "the transport"

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    async def drain(self) -> None:
        self.drained += 1

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def writer() -> tuple[CoalescingWriter, Wire]:
    wire = Wire()
    inner: Any = wire
    return CoalescingWriter(inner), wire


async def test_the_writes_of_one_loop_turn_leave_together_in_order() -> None:
    coalescing, wire = writer()
    for frame in (b"a", b"bb", b"ccc"):
        coalescing.write(frame)
    assert wire.writes == []
    await asyncio.sleep(0)
    assert wire.writes == [b"abbccc"]
    coalescing.write(b"d")
    await asyncio.sleep(0)
    assert wire.writes == [b"abbccc", b"d"]


async def test_drain_and_close_send_what_is_gathered_first() -> None:
    coalescing, wire = writer()
    coalescing.write(b"x")
    await coalescing.drain()
    assert (wire.writes, wire.drained) == ([b"x"], 1)
    coalescing.write(b"y")
    coalescing.close()
    assert wire.writes == [b"x", b"y"]
    assert wire.closed
    await asyncio.sleep(0)  # the scheduled flush finds nothing left
    assert wire.writes == [b"x", b"y"]


async def test_nothing_is_written_to_a_closing_connection() -> None:
    coalescing, wire = writer()
    coalescing.write(b"late")
    wire.closed = True
    await asyncio.sleep(0)
    assert wire.writes == []


async def test_the_rest_is_the_wrapped_writer() -> None:
    coalescing, wire = writer()
    assert coalescing.transport == "the transport"
    assert coalescing.is_closing() is False
    wire.closed = True
    assert coalescing.is_closing() is True
