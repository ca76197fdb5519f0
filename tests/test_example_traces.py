"""The committed example trace is the one the vector generator writes today."""

from __future__ import annotations

from pathlib import Path

from opsref.conformance.vectors import generate

ROOT = Path(__file__).resolve().parent.parent


def test_committed_seed_barrier_trace_is_the_generated_one(tmp_path: Path) -> None:
    generate("seed", tmp_path / "vectors")
    generated = (tmp_path / "vectors" / "decisions" / "barrier_survives_eviction.jsonl").read_text()
    assert (ROOT / "examples" / "traces" / "seed_barrier_stuck.jsonl").read_text() == generated
