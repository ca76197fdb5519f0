"""The machines this reference specifies, by name, each built for a profile."""

from __future__ import annotations

from typing import Callable

from opsref.spec import comms_drain, mob_adapter, ops_lifecycle, runtime_control
from opsref.spec.machine import PROFILES, Machine

__all__ = ["MACHINES", "PROFILES", "build_all"]

MACHINES: dict[str, Callable[[str], Machine]] = {
    "ops_lifecycle": ops_lifecycle.build,
    "comms_drain": comms_drain.build,
    "mob_adapter": mob_adapter.build,
    "runtime_control": runtime_control.build,
}


def build_all(profile: str, names: list[str] | None = None) -> list[Machine]:
    """The named machines (all by default) under `profile`."""
    chosen = names or list(MACHINES)
    unknown = [n for n in chosen if n not in MACHINES]
    if unknown:
        raise KeyError(f"unknown machine {unknown[0]!r}; known: {', '.join(MACHINES)}")
    return [MACHINES[n](profile) for n in chosen]
