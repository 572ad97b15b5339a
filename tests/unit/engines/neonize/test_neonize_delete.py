"""Deleting a connection on the neonize engine unlinks its device, as logout does.

WhatsApp cannot be reached here, so the session is a real never-connected neonize
client marked connected, with the library's lowest calls recorded
(``neonize_harness``): the worker's ``delete`` must call the library's ``Logout``
(before this, it only stopped the client, and the phone kept listing the device)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.unit.engines.neonize.neonize_harness import Harness

from zapgate.engines.neonize.worker import Channel, Worker


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Worker]:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        yield Worker(
            Channel(ours),
            data_dir=tmp_path,
            database_url=None,
            proxy=None,
            stagger=0.0,
            max_media_bytes=1024,
        )


@pytest.mark.parametrize("op", ["delete", "logout"])
def test_delete_and_logout_unlink_a_connected_device(op: str, worker: Worker) -> None:
    harness = Harness(Logout=lambda uuid: b"")
    harness.session.connected = True
    worker.sessions["s1"] = harness.session
    worker.dispatch(op, {"session_id": "s1"})
    assert harness.library.named("Logout") == [(b"s1.1",)]
    assert harness.library.named("Stop") == [(b"s1.1",)]
    assert harness.ended.is_set()


def test_delete_of_a_device_not_connected_only_stops_it(worker: Worker) -> None:
    harness = Harness()  # no Logout in the library: calling it would fail the test
    worker.sessions["s1"] = harness.session
    worker.dispatch("delete", {"session_id": "s1"})
    assert harness.library.named("Stop") == [(b"s1.1",)]
    assert harness.ended.is_set()
