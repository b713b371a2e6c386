"""Engines: what computes an audit's per-sample outputs from a dataset and a plan.

An engine is any object with a ``name`` and ``compute(dataset, plan) -> AuditOutputs``
(`Engine`); adding one is one module. ``local`` runs in this process, ``ray`` on Ray Data
actor pools (docs/scale.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from vsil.audit.outputs import AuditOutputs
from vsil.audit.plan import AuditPlan
from vsil.dataset import Dataset

if TYPE_CHECKING:
    from vsil.audit.engines.ray import RayOptions


@runtime_checkable
class Engine(Protocol):
    """Computes every per-sample output of an audit (describe, J(T, I), J(T), overlaps)."""

    name: str

    def compute(self, dataset: Dataset, plan: AuditPlan) -> AuditOutputs:
        """The outputs for every sample of ``dataset``, with the plan's detectors."""
        ...


def get_engine(engine: str | Engine,
               ray_options: RayOptions | Mapping[str, Any] | None = None) -> Engine:
    """An engine by name (``"local"``, ``"ray"``), or ``engine`` itself when it is one.

    ``ray_options`` (a `RayOptions` or a dict of its fields) only apply to ``"ray"``.
    """
    if isinstance(engine, Engine):
        return engine
    if engine == "local":
        from vsil.audit.engines.local import LocalEngine

        return LocalEngine()
    if engine == "ray":
        from vsil.audit.engines.ray import RayEngine, RayOptions

        opts = ray_options if isinstance(ray_options, RayOptions) else RayOptions(
            **(ray_options or {}))
        return RayEngine(opts)
    raise ValueError(f"engine must be 'local' or 'ray', not {engine!r}")


__all__ = ["Engine", "get_engine"]
