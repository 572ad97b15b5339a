"""Cluster mode needs PostgreSQL; SQLite stays one node, as before."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from zapgate.cluster.leases import fair_shares
from zapgate.cluster.nodes import default_node_id
from zapgate.cluster.startup import SecondNode, SqliteServerLock
from zapgate.config import Settings

PG = "postgresql://u@h/db"


KEY = "k" * 40


def make(**kw: object) -> Settings:
    return Settings(_env_file=None, **kw)


def test_single_node_is_the_default(tmp_path: Path) -> None:
    assert not make(data_dir=tmp_path).clustered
    assert not make(database_url=PG).clustered


@pytest.mark.parametrize("given", [{"node_id": "a"}, {"cluster": True}])
def test_cluster_mode_on_sqlite_is_refused_with_a_clear_message(
    tmp_path: Path, given: dict[str, object]
) -> None:
    with pytest.raises(ValidationError, match="needs PostgreSQL"):
        make(data_dir=tmp_path, **given)


def test_a_node_id_on_postgresql_means_cluster_mode() -> None:
    s = make(database_url=PG, node_id="  node-1 ", secret_key=KEY)
    assert s.clustered
    assert s.node_id == "node-1"
    assert make(database_url=PG, cluster=True, secret_key=KEY).node_id is None


def test_cluster_mode_needs_a_shared_secret_key() -> None:
    with pytest.raises(ValidationError, match="ZAPGATE_SECRET_KEY"):
        make(database_url=PG, cluster=True)


def test_a_node_id_must_be_printable() -> None:
    with pytest.raises(ValidationError, match="printable"):
        make(database_url=PG, node_id="a\nb", secret_key=KEY)


def test_default_node_ids_are_the_hostname_and_differ() -> None:
    first, second = default_node_id(), default_node_id()
    assert first != second
    assert first.rsplit("-", 1)[0] == second.rsplit("-", 1)[0]


def test_a_second_server_on_one_sqlite_file_is_refused(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'zapgate.db'}"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from zapgate.cluster.startup import SqliteServerLock as L; "
            f"lock = L({url!r}); lock.acquire(); print('held', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == b"held\n"
        second = SqliteServerLock(url)
        with pytest.raises(SecondNode, match="one node only"):
            second.acquire()
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)
        assert holder.stdout is not None
        holder.stdout.close()
    # Once the first server is gone, the next one starts.
    again = SqliteServerLock(url)
    again.acquire()
    again.release()


def test_fair_shares_fill_small_capacities_first_and_add_up() -> None:
    assert fair_shares(12, {"a": 100, "b": 100, "c": 100}) == {"a": 4, "b": 4, "c": 4}
    assert fair_shares(10, {"a": 100, "b": 100, "c": 100}) == {"a": 4, "b": 3, "c": 3}
    assert fair_shares(12, {"a": 100, "b": 100, "c": 3}) == {"c": 3, "a": 5, "b": 4}
    assert fair_shares(12, {"a": 2, "b": 3}) == {"a": 2, "b": 3}  # all full: 7 wait
    assert fair_shares(0, {"a": 5}) == {"a": 0}
