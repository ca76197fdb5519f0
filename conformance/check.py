"""`opsref check`: replay a trace against the spec and report the first divergence."""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from typing import Iterable

from opsref.conformance.jsonline import Json
from opsref.conformance.oracle import agrees, same_json
from opsref.conformance.protocol import protocol
from opsref.conformance.trace import Event, Header


@dataclass(frozen=True)
class Divergence:
    event: Event
    what: str                     # "result" or "snapshot"
    expected: Json
    observed: Json
    preceding: tuple[Event, ...]  # the events just before, oldest first
    explanation: tuple[str, ...]  # the spec guard or effects that decide it


@dataclass(frozen=True)
class CheckResult:
    events: int
    divergence: Divergence | None


def check(header: Header, events: Iterable[Event], profile: str, context: int = 5) -> CheckResult:
    oracle = protocol(header.machine).oracle(profile, header.config)
    recent: deque[Event] = deque(maxlen=context)
    count = 0
    for event in events:
        count += 1
        expected = oracle.call(event.call, event.args)
        if not agrees(expected, event.result):
            why = tuple(oracle.ruling.explain(oracle.machine))
            return CheckResult(count, Divergence(event, "result", expected, event.result, tuple(recent), why))
        if event.snapshot is not None:
            want = oracle.operations()
            if not same_json(want, event.snapshot):
                why = ("the snapshot is read off the spec state after the call",)
                return CheckResult(count, Divergence(event, "snapshot", want, event.snapshot, tuple(recent), why))
        recent.append(event)
    return CheckResult(count, None)


def _call_text(e: Event) -> str:
    args = ", ".join(f"{k}={json.dumps(v)}" for k, v in e.args.items())
    return f"{e.call}({args})"


def render(path: str, profile: str, result: CheckResult) -> str:
    d = result.divergence
    if d is None:
        return f"{path}: {result.events} events, all agree with the spec ({profile} profile)"
    lines = [f"{path}:{d.event.line}: divergence from the spec ({profile} profile) at event {result.events}: "
             f"{_call_text(d.event)}"]
    if d.preceding:
        lines.append("  preceding events:")
        lines += [f"    line {e.line}: {_call_text(e)} -> {json.dumps(e.result)}" for e in d.preceding]
    lines.append(f"  expected {d.what}: {json.dumps(d.expected)}")
    lines.append(f"  observed {d.what}: {json.dumps(d.observed)}")
    lines += [f"  why: {text}" for text in d.explanation]
    return "\n".join(lines)
