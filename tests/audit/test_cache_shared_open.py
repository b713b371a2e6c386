"""Opening a cache file that another process is switching to WAL at that moment (Ray actors
sharing one new cache) waits for it instead of failing with "database is locked"."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from vsil.runtime.cache import Cache


def test_opening_while_another_connection_writes_the_new_file_waits(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    # another opener mid-way through creating the file: a write lock on a rollback-journal
    # database, the state in which SQLite answers a WAL switch "locked" without waiting
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("CREATE TABLE other_table(x)")
    probe = sqlite3.connect(path, timeout=60)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        probe.execute("PRAGMA journal_mode=WAL")  # the failure the cache must absorb
    probe.close()
    release = threading.Timer(0.5, lambda: other.execute("COMMIT"))
    release.start()
    try:
        c = Cache(path)
    finally:
        release.join()
        other.close()
    c.put_many("ns", {"k": 1})
    assert c.get_many("ns", ["k"]) == {"k": 1}
    assert c._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    c.close()


def test_a_file_that_is_not_a_cache_fails_at_once_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "cache.sqlite"
    bad.write_bytes(b"this is not an SQLite database " * 100)
    t0 = time.monotonic()
    with pytest.raises(sqlite3.DatabaseError, match=r"cache\.sqlite.*not a database"):
        Cache(bad)
    assert time.monotonic() - t0 < 30  # not retried as if it were busy
