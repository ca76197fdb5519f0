"""Random drive sequences kept between runs, keyed by everything that generates them.

The driver's random sequences are steered by the reference spec (conformance/drive.py): to
draw each call, the generator steps the spec through the whole alphabet in every state it
has not seen, which is most of a default drive's time on the action machines (10 s of the
mob adapter's 13). The sequences depend only on the settings (machine, configurations,
calls, seed, id pool, depth) and on the code, never on the implementation driven, so a
tape generated once is replayed by every later drive with the same settings: a port's
author re-running `opsref drive`, `make drives` and the test suite in one CI run.

A tape's key is the digest of its settings and of the generator's version: the source of
`conformance/` and `spec/` (the machines are Python there) and the Python version. Any
edit to either makes a new key, so a stale tape cannot be read. A replayed tape yields
the very sequences generating would; where a drive needs more than the tape holds, the
generator starts again from the seed and the tape grows.

Tapes are JSON files under `build/drive-cache/`, written atomically; one that cannot be
read or written is generated again, never an error. `opsref drive --no-cache` reads and
writes none.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from pathlib import Path

from opsref.conformance.calls import Call
from opsref.conformance.jsonline import Json

DEFAULT_FOLDER = Path("build/drive-cache")

#: one kept sequence: the index of its configuration in the plan's, its calls, the
#: coverage cells (call, guard or "ok", phases) it reached first
Kept = tuple[int, list[Call], list[tuple[str, str, tuple[str, ...]]]]


@functools.cache
def generator_version() -> str:
    """The digest of the code that generates sequences (read once, when first asked)."""
    here = Path(__file__).resolve().parent
    h = hashlib.sha256(sys.version.encode())
    for path in sorted(here.glob("*.py")) + sorted((here.parent / "spec").glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def key(settings: Json) -> str:
    text = json.dumps([settings, generator_version()], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def load(folder: Path, name: str) -> list[Kept]:
    """The kept sequences, or none when the file is missing or not what `save` writes."""
    try:
        data = json.loads((folder / f"{name}.json").read_text())
        return [(int(config), [(str(call), dict(args)) for call, args in calls],
                 [(str(c), str(g), tuple(str(p) for p in phase)) for c, g, phase in cells])
                for config, calls, cells in data["sequences"]]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return []


def save(folder: Path, name: str, sequences: list[Kept]) -> None:
    """Write the tape atomically; a folder that cannot be written keeps nothing."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f".{name}.{os.getpid()}.tmp"
        temporary.write_text(json.dumps({"sequences": [[c, calls, cells] for c, calls, cells in sequences]}))
        os.replace(temporary, folder / f"{name}.json")
    except OSError:
        pass
