"""The drive's sequences kept between runs (conformance/tape_cache.py): a kept tape replays
the very sequences generating gives, grows past what it kept, and one that cannot be read
is generated again."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

from opsref.conformance.drive import Plan, Tape

PLAN = Plan.of("comms_drain")
SETTINGS = (PLAN, 7, ("a", "b", "c"), 20)


def first(tape: Tape, count: int) -> list[object]:
    return list(itertools.islice(tape, count))


def test_a_kept_tape_replays_and_grows_into_the_sequences_generating_gives(tmp_path: Path) -> None:
    fresh = first(Tape(*SETTINGS, folder=None), 30)
    writer = Tape(*SETTINGS, folder=tmp_path)
    assert first(writer, 12) == fresh[:12]
    writer.keep()
    assert len(list(tmp_path.glob("*.json"))) == 1
    reader = Tape(*SETTINGS, folder=tmp_path)  # as a later process finds it
    assert first(reader, 30) == fresh  # 12 read, then 18 generated from the seed on
    assert reader._generated == 30 and reader._kept == 12
    reader.keep()
    assert first(Tape(*SETTINGS, folder=tmp_path), 30) == fresh
    assert Tape(*SETTINGS, folder=tmp_path)._kept == 30


def test_other_settings_are_another_tape(tmp_path: Path) -> None:
    kept = Tape(*SETTINGS, folder=tmp_path)
    first(kept, 5)
    kept.keep()
    other = Tape(PLAN, 8, ("a", "b", "c"), 20, folder=tmp_path)
    assert other._kept == 0 and first(other, 5) == first(Tape(PLAN, 8, ("a", "b", "c"), 20, folder=None), 5)


def test_a_tape_that_cannot_be_read_is_generated_again(tmp_path: Path) -> None:
    kept = Tape(*SETTINGS, folder=tmp_path)
    first(kept, 5)
    kept.keep()
    (path,) = tmp_path.glob("*.json")
    fresh = first(Tape(*SETTINGS, folder=None), 5)
    for garbage in ("{not json", '{"sequences": [[99, [], []]]}', '{"sequences": 3}', "[]"):
        path.write_text(garbage)
        again = Tape(*SETTINGS, folder=tmp_path)
        assert again._kept == 0 and first(again, 5) == fresh, garbage


def test_no_cache_keeps_nothing_and_the_default_keeps_the_tape(tmp_path: Path) -> None:
    opsref = str(Path(sys.executable).with_name("opsref"))
    serve = [opsref, "serve", "--machine", "runtime_control"]
    for extra in (["--no-cache"], []):
        run = subprocess.run([opsref, "drive", "--machine", "runtime_control", "--runs", "5", *extra, "--", *serve],
                             capture_output=True, text=True, cwd=tmp_path, timeout=120)
        assert run.returncode == 0, run.stdout + run.stderr
        assert (tmp_path / "build" / "drive-cache").exists() == (extra == []), extra
