"""Prompt templates of the pipeline, one per model role, kept as package data.

Each template is ``ROLE.vN.txt`` (``string.Template`` syntax: ``$name``). The version and the
sha256 of the template text go into provenance, so a report says exactly which prompt made
which data. The wording is ours; the structure follows the VLSBench paper (App. F).
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

#: role -> current version of its template
VERSIONS: dict[str, int] = {
    "queries": 1,
    "image_queries": 1,
    "mitigate": 1,
    "mitigate_filter": 1,
    "t2i_prompt": 1,
    "reviewer": 1,
    "final_judge": 1,
    "categorize": 1,
}


@dataclass(frozen=True)
class Prompt:
    """A loaded template: ``render(**values)`` fills it (values are inserted verbatim)."""

    role: str
    version: int
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def id(self) -> str:
        return f"{self.role}.v{self.version}"

    def render(self, **values: Any) -> str:
        """The template with every ``$name`` replaced; a missing value raises KeyError."""
        return string.Template(self.text).substitute({k: str(v) for k, v in values.items()})

    def info(self) -> dict[str, Any]:
        return {"id": self.id, "sha256": self.sha256}


@cache
def get_prompt(role: str, version: int | None = None) -> Prompt:
    """The template of ``role`` (its current version unless ``version`` is given)."""
    if role not in VERSIONS:
        raise KeyError(f"no prompt for role {role!r}; roles are {sorted(VERSIONS)}")
    v = VERSIONS[role] if version is None else version
    text = (resources.files(__name__) / f"{role}.v{v}.txt").read_text(encoding="utf-8")
    return Prompt(role, v, text)


def all_prompts() -> dict[str, dict[str, Any]]:
    """Provenance of every current template: role -> {id, sha256}."""
    return {role: get_prompt(role).info() for role in VERSIONS}
