"""A disk cache for detector outputs: SQLite, keyed by (detector fingerprint, input hash).

Writes are committed per batch, so an interrupted run keeps everything already computed and
a re-run computes only what is missing. Values are JSON; nothing secret is ever stored
(fingerprints never include API keys).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    ns TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (ns, key)
) WITHOUT ROWID
"""


def default_cache_dir() -> Path:
    """``$VSIL_CACHE_DIR``, else ``$XDG_CACHE_HOME/vsil``, else ``~/.cache/vsil``."""
    env = os.environ.get("VSIL_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "vsil"


def content_key(*parts: Any) -> str:
    """sha256 of the JSON of ``parts``: the cache key of one detector input."""
    blob = json.dumps(parts, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


#: how long opening a cache keeps retrying while other processes hold the file
OPEN_TIMEOUT_S = 60.0


def _retry_locked(step: Callable[[], None], path: Path) -> None:
    """Run ``step``, retrying while SQLite reports the file locked or busy.

    Several processes opening one new file at once (Ray actors sharing a cache) race to switch
    it to WAL. SQLite answers some of them "database is locked" at once, without waiting for
    the busy timeout, because waiting could deadlock; the way out is to roll back and retry.
    """
    deadline = time.monotonic() + OPEN_TIMEOUT_S
    while True:
        try:
            step()
            return
        except sqlite3.DatabaseError as e:
            msg = str(e).lower()
            contended = isinstance(e, sqlite3.OperationalError) and ("locked" in msg
                                                                     or "busy" in msg)
            if contended and time.monotonic() < deadline:
                time.sleep(random.uniform(0.02, 0.2))
                continue
            hint = f" (held by another process over {OPEN_TIMEOUT_S:.0f} s)" if contended else ""
            raise type(e)(f"could not open the cache {path}: {e}{hint}") from e


class Cache:
    """SQLite-backed key-value store, safe to share between threads of one process.

    Several processes (e.g. Ray workers) may share one file: SQLite's WAL mode serialises
    their writes, and an entry is only ever written whole.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        if path is None:
            path = default_cache_dir() / "cache.sqlite"
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False,
                                   timeout=OPEN_TIMEOUT_S)
        try:
            _retry_locked(self._setup, self.path)
        except sqlite3.DatabaseError:
            self._db.close()
            raise
        self.hits = 0
        self.misses = 0

    def _setup(self) -> None:
        self._db.rollback()  # a retry starts clean
        if self._db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self._db.commit()

    def get_many(self, ns: str, keys: Iterable[str]) -> dict[str, Any]:
        """The cached values among ``keys`` (missing keys are absent from the result)."""
        keys = list(dict.fromkeys(keys))
        out: dict[str, Any] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                marks = ",".join("?" * len(chunk))
                q = f"SELECT key, value FROM entries WHERE ns=? AND key IN ({marks})"
                for k, v in self._db.execute(q, [ns, *chunk]):
                    out[k] = json.loads(v)
        self.hits += len(out)
        self.misses += len(keys) - len(out)
        return out

    def put_many(self, ns: str, items: Mapping[str, Any]) -> None:
        now = time.time()
        rows = [(ns, k, json.dumps(v, ensure_ascii=False), now) for k, v in items.items()]
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO entries VALUES (?,?,?,?)", rows)
            self._db.commit()

    def clear(self, ns: str | None = None) -> None:
        with self._lock:
            if ns is None:
                self._db.execute("DELETE FROM entries")
            else:
                self._db.execute("DELETE FROM entries WHERE ns=?", (ns,))
            self._db.commit()

    def count(self, ns: str | None = None) -> int:
        with self._lock:
            if ns is None:
                return int(self._db.execute("SELECT COUNT(*) FROM entries").fetchone()[0])
            return int(
                self._db.execute("SELECT COUNT(*) FROM entries WHERE ns=?", (ns,)).fetchone()[0]
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __repr__(self) -> str:
        return f"Cache({str(self.path)!r})"


class NullCache(Cache):
    """A cache that stores nothing (``cache=False``)."""

    def __init__(self) -> None:
        self.path = Path(os.devnull)
        self.hits = 0
        self.misses = 0

    def get_many(self, ns: str, keys: Iterable[str]) -> dict[str, Any]:
        self.misses += len(list(keys))
        return {}

    def put_many(self, ns: str, items: Mapping[str, Any]) -> None:
        return None

    def clear(self, ns: str | None = None) -> None:
        return None

    def count(self, ns: str | None = None) -> int:
        return 0

    def close(self) -> None:
        return None


def cache_file(cache: Cache | str | os.PathLike[str] | bool | None) -> Path | None:
    """The SQLite file ``cache`` names (see `open_cache`), or None for no cache."""
    if isinstance(cache, NullCache) or cache is False:
        return None
    if isinstance(cache, Cache):
        return cache.path
    if cache is None or cache is True:
        return default_cache_dir() / "cache.sqlite"
    p = Path(cache)
    return p / "cache.sqlite" if p.is_dir() or not p.suffix else p


def open_cache(cache: Cache | str | os.PathLike[str] | bool | None) -> Cache:
    """``True``/``None`` -> the default cache; ``False`` -> no cache; a path -> that file."""
    if isinstance(cache, Cache):
        return cache
    path = cache_file(cache)
    return NullCache() if path is None else Cache(path)
