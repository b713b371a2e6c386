"""Where a local judge model comes from: a local folder, a GGUF file, or a hub id.

Used by the Llama Guard 3 and 4 judges and ShieldGemma 2.

Everything here is cheap (file stats, small JSON reads): no model is loaded. A hub id is used
only when the Hub is reachable or the model is already in the local cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vsil.runtime.failures import DetectorUnavailable

_COMMIT = re.compile(r"[/\\]snapshots[/\\]([0-9a-f]{40})(?:[/\\]|$)")
_TRUE = {"1", "on", "yes", "true"}


class ModelUnavailableError(DetectorUnavailable, OSError):
    """The weights are neither on disk nor reachable."""


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` is set."""
    return any(os.environ.get(k, "").strip().lower() in _TRUE
               for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


@dataclass(frozen=True)
class ModelSource:
    """What ``from_pretrained`` gets (``path`` and ``gguf_file``) and its revision."""

    model: str
    path: str
    gguf_file: str | None
    local: bool
    revision: str
    config_file: str | None

    @property
    def label(self) -> str:
        return f"{self.path}::{self.gguf_file}" if self.gguf_file else self.path


def resolve(model: str, *, gguf_file: str | None = None, revision: str | None = None,
            judge: str = "llamaguard3") -> ModelSource:
    """Resolve a model spec: ``/dir``, ``/dir/file.gguf``, ``/dir::file.gguf`` or ``org/name``.

    ``judge`` names the judge in the hint of the offline error (``judge='NAME:/path'``).

    Raises:
        FileNotFoundError: a local path that does not exist.
        ModelUnavailableError: a hub id while offline that is not in the local cache.
    """
    path = model
    if "::" in model:
        path, gguf_file = model.split("::", 1)
    expanded = os.path.expanduser(path)
    if gguf_file is None and expanded.endswith(".gguf") and os.path.isfile(expanded):
        expanded, gguf_file = os.path.split(os.path.abspath(expanded))
    if os.path.isdir(expanded):
        return _local(model, expanded, gguf_file)
    if _looks_like_path(path) or gguf_file is not None:
        raise FileNotFoundError(f"{judge} model path not found: {model!r}")
    return _hub(model, path, revision, judge)


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _looks_like_path(s: str) -> bool:
    return s.startswith(("/", ".", "~")) or not _HUB_ID.match(s)


def _local(model: str, path: str, gguf_file: str | None) -> ModelSource:
    if gguf_file is not None:
        f = Path(path, gguf_file)
        if not f.is_file():
            raise FileNotFoundError(f"GGUF file not found: {str(f)!r}")
        return ModelSource(model, path, gguf_file, True, "local:" + _stat_sig([f]), None)
    m = _COMMIT.search(os.path.abspath(path) + "/")
    cfg = Path(path, "config.json")
    rev = m.group(1) if m else "local:" + _stat_sig(sorted(p for p in Path(path).iterdir()
                                                           if p.is_file()))
    return ModelSource(model, path, None, True, rev, str(cfg) if cfg.is_file() else None)


def _stat_sig(files: list[Path]) -> str:
    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        h.update(f"{f.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def _hub(model: str, repo_id: str, revision: str | None, judge: str) -> ModelSource:
    cached: str | None = None
    try:
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(repo_id, "config.json", revision=revision)
        cached = hit if isinstance(hit, str) else None
    except Exception:  # an id the cache layer rejects: treat as not cached
        cached = None
    if cached is None and hub_offline():
        name = repo_id.rsplit("/", 1)[-1]
        raise ModelUnavailableError(
            f"{judge} model {repo_id!r} is not in the local Hugging Face cache and the Hub "
            f"is off (HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE). Get the weights on a machine with "
            f"access (accept the license at https://huggingface.co/{repo_id}, then "
            f"`huggingface-cli login` and `huggingface-cli download {repo_id} --local-dir "
            f"{name}`), then pass the folder: judge='{judge}:/path/to/{name}'."
        )
    m = _COMMIT.search(cached) if cached else None
    rev = m.group(1) if m else (revision or "main")
    return ModelSource(model, repo_id, None, False, rev, cached)


def read_config(src: ModelSource) -> dict[str, Any]:
    """The model's ``config.json`` as a dict ({} for GGUF files; downloaded only online)."""
    if src.gguf_file is not None:
        return {}
    cfg = src.config_file
    if cfg is None and not src.local:
        from huggingface_hub import hf_hub_download

        cfg = hf_hub_download(src.path, "config.json",
                              revision=None if src.revision.startswith("local:") else src.revision)
    if cfg is None:
        raise FileNotFoundError(f"no config.json in {src.path!r}")
    with open(cfg, encoding="utf-8") as f:
        data = json.load(f)
    return data if isinstance(data, dict) else {}


def is_vision(src: ModelSource) -> bool:
    """True for an Mllama (Llama Guard 3 Vision-style) checkpoint."""
    return read_config(src).get("model_type") == "mllama"
