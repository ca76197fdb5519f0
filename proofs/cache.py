"""Proof results kept between runs, keyed by exactly what each result depends on.

`opsref prove` re-proves only what changed. A unit of work is keyed by a digest of
the machine data its obligations read and of the prover's own source, so a change to
anything a result depends on changes its key, and a stale hit is impossible:

* Init (every initiation obligation): sorts, fields, Init, assumptions, invariants;
* one action's inductive and ranking obligations: the same without Init, plus that
  action (its parameters, guards and effects) — so editing one guard re-proves that
  action's obligations and nothing else of the unbounded proof. Init and every step
  also depend on the counts the machine reads outside its invariants (each carried by
  a ghost bijection in every hypothesis: `proofs.inductive.counted_sets`), so adding a
  count to one action re-proves every step;
* a BMC configuration, and reachability: the whole machine (every action), the
  configuration(s) and the depth;
* within a BMC configuration, the one-step closure of one action (no step of it from
  a state satisfying the invariants violates one; proofs/bmc.py): sorts, fields,
  assumptions, invariants, that action, the configuration and the depth. A kept
  closure is a fact, not an obligation: after a one-action edit the configuration's
  obligations are found again, asking Z3 about the edited action only.

Prose (docs, guard reasons, invariant sentences, decisions) is not part of any key:
rewording a sentence proves nothing new. The prover's version is the digest of the
source of `proofs/` and of the term language and interpreter in `spec/`, so a change
to the encoding invalidates everything. Only `proved` and `violated` results are kept:
`unknown` (a timeout) depends on the machine's load, and is always tried again.

Entries are JSON files under `build/proof-cache/` (written atomically); `--no-cache`
neither reads nor writes them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from opsref.proofs.inductive import counted_sets
from opsref.proofs.report import Obligation
from opsref.spec.machine import Action, CheckConfig, Machine, semantic_form

DEFAULT_FOLDER = Path("build/proof-cache")


@functools.cache
def prover_version() -> str:
    """The digest of the code that turns machine data into results (read once, on the
    first key a run asks for, not when the module is imported)."""
    here = Path(__file__).resolve().parent
    spec = here.parent / "spec"
    sources = sorted(here.glob("*.py")) + [spec / name for name in ("terms.py", "machine.py", "model.py", "compiled.py")]
    h = hashlib.sha256()
    for path in sources:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(semantic_form(value), separators=(",", ":")).encode()).hexdigest()


#: per machine object, the digest of each part the keys combine: a machine's keys share
#: its fields and invariants, which are serialised once, not once per key
_PARTS: dict[int, tuple[Machine, dict[str, str]]] = {}
PARTS = ("sorts", "fields", "init", "assumptions", "actions", "invariants")


def _parts(m: Machine) -> dict[str, str]:
    hit = _PARTS.get(id(m))
    if hit is None or hit[0] is not m:
        hit = (m, {name: _digest(getattr(m, name)) for name in PARTS})
        _PARTS[id(m)] = hit
    return hit[1]


def _counts(m: Machine) -> str:
    """The digest of the counted sets every hypothesis carries (memoized with the parts)."""
    digests = _parts(m)
    if "counts" not in digests:
        digests["counts"] = _digest(counted_sets(m))
    return digests["counts"]


def _key(kind: str, m: Machine, parts: tuple[str, ...], *extra: Any) -> str:
    digests = _parts(m)
    text = json.dumps([prover_version(), kind, [digests[p] for p in parts], [_digest(e) for e in extra]])
    return hashlib.sha256(text.encode()).hexdigest()


def initiation_key(m: Machine) -> str:
    return _key("initiation", m, ("sorts", "fields", "init", "assumptions", "invariants"), _counts(m))


def step_key(m: Machine, action: Action) -> str:
    return _key("step", m, ("sorts", "fields", "assumptions", "invariants"), action, _counts(m))


def bmc_key(m: Machine, config: CheckConfig, depth: int) -> str:
    return _key("bmc", m, PARTS, config, depth)


def reachability_key(m: Machine, depth: int) -> str:
    return _key("reachability", m, PARTS, m.configs(), depth)


def closure_key(m: Machine, config: CheckConfig, action: Action, depth: int, invariants: tuple[str, ...]) -> str:
    return _key("closure", m, ("sorts", "fields", "assumptions", "invariants"), action, config, depth, invariants,
                _counts(m))


class ProofCache:
    """Results by key in a folder; a missing, unreadable or malformed entry is a miss."""

    def __init__(self, folder: Path = DEFAULT_FOLDER) -> None:
        self.folder = folder
        self.hits = 0

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> list[Obligation] | None:
        try:
            entries = json.loads(self._path(key).read_text(encoding="utf-8"))
            found = [_obligation(e) for e in entries]
        except (OSError, ValueError, TypeError, KeyError):
            return None
        self.hits += len(found)
        return found

    def put(self, key: str, obligations: list[Obligation]) -> None:
        """Keep the results when every one is decided (no `unknown`); best effort."""
        if any(o.result not in ("proved", "violated") for o in obligations):
            return
        self._write(key, [o.to_json() for o in obligations])

    def holds(self, key: str) -> bool:
        """Whether the fact under `key` (a closure: an unsat) was kept."""
        try:
            return bool(json.loads(self._path(key).read_text(encoding="utf-8")) == {"unsat": True})
        except (OSError, ValueError):
            return False

    def put_fact(self, key: str) -> None:
        """Keep that the query under `key` is unsat."""
        self._write(key, {"unsat": True})

    def _write(self, key: str, value: Any) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(value), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only or full disk costs a re-proof next time, nothing else


def _obligation(e: dict[str, Any]) -> Obligation:
    if e["result"] not in ("proved", "violated"):
        raise ValueError("only decided results are cached")
    return Obligation(e["id"], e["invariant"], e["kind"], e["action"], e["result"], float(e["seconds"]),
                      e["domain"], e.get("counterexample"), e.get("note", ""))
