"""What a lock-step test raises when the spec and an implementation disagree.

A "broken implementation is caught" test expects one `Disagreement` — after which call,
on which field, the spec's value against the implementation's — rather than any
`AssertionError`, which a harness assert (or a typo in the test) would satisfy as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

MISSING = "<not shown>"


@dataclass(frozen=True)
class Where:
    """After which call, on which field, a disagreement showed."""

    call: str   # the call whose answer differs, or the last call before a state that differs
    field: str  # `answer`, `error.kind`, `error.<name>`, or the path of an observed value


class Disagreement(AssertionError):
    """The spec and the implementation differ on `field` after `call`."""

    def __init__(self, call: str, field: str, spec: object, impl: object) -> None:
        self.call, self.field, self.spec, self.impl = call, field, spec, impl
        super().__init__(f"after {call}: {field}: spec {spec!r}, implementation {impl!r}")

    @property
    def where(self) -> Where:
        return Where(self.call, self.field)

    @property
    def brief(self) -> "Brief":
        """What the disagreement is about without the ids a run happened to draw: the call,
        the field's last name (`phase` of `a.phase`), and the two sides, an answer named by
        its verdict (`accepted`, `refused with not_ready`)."""
        return self.call, self.field.rsplit(".", 1)[-1], verdict(self.spec), verdict(self.impl)


Brief = tuple[str, str, object, object]
#: what a test expects: a brief (frozensets for "any of"), or a list of alternative briefs
Expected = tuple[object, ...] | list[tuple[object, ...]]


def matches(brief: Brief, expected: Expected) -> bool:
    """`brief` is `expected` (or one of a list of alternatives), where an expected frozenset
    stands for any one of its members. Alternatives: which run shows the bug first depends on
    what ran before in the process (the same test alone, after its file, under xdist), so an
    expectation lists every way the one bug shows, each naming call, field and both values."""
    if isinstance(expected, list):
        return any(matches(brief, one) for one in expected)
    return len(brief) == len(expected) and all(
        got in want if isinstance(want, frozenset) else got == want for got, want in zip(brief, expected))


def verdict(value: object) -> object:
    """A protocol answer as `accepted` or `refused with <kind>`; any other value as it is."""
    if isinstance(value, Mapping) and set(value) == {"ok"}:
        return "accepted"
    if isinstance(value, Mapping) and set(value) == {"error"} and isinstance(value["error"], Mapping):
        return f"refused with {value['error'].get('kind')}"
    return value


def first_difference(spec: object, impl: object, path: str) -> tuple[str, object, object] | None:
    """The first path (`a.b.0`) where two JSON values differ, with the two values there
    (a bool and an int differ: JSON tells `true` from `1`)."""
    if isinstance(spec, Mapping) and isinstance(impl, Mapping):
        for key in sorted(set(spec) | set(impl), key=str):
            found = first_difference(spec.get(key, MISSING), impl.get(key, MISSING), f"{path}.{key}")
            if found is not None:
                return found
        return None
    if isinstance(spec, list) and isinstance(impl, list):
        for index in range(max(len(spec), len(impl))):
            found = first_difference(spec[index] if index < len(spec) else MISSING,
                                     impl[index] if index < len(impl) else MISSING, f"{path}.{index}")
            if found is not None:
                return found
        return None
    if type(spec) is not type(impl) or spec != impl:
        return path, spec, impl
    return None


def answers_differ(call: str, spec: Mapping[str, object], impl: Mapping[str, object],
                   read: str = "") -> Disagreement:
    """The disagreement of two protocol answers (`{"ok": value}` or `{"error": {kind, fields}}`)
    that do not agree: accepted against refused (field `answer`), the error kind or a field
    the spec names (`error.kind`, `error.<name>`), or the first differing part of the value
    (`ok.<path>`). A read that checks the state after `call` prefixes the field with itself
    (`operations:ok.operations.a.status`)."""
    prefix = f"{read}:" if read else ""
    whole = Disagreement(call, f"{prefix}answer", spec, impl)
    if ("ok" in spec) != ("ok" in impl):
        return whole
    if "ok" in spec:
        found = first_difference(spec["ok"], impl["ok"], f"{prefix}ok")
        return Disagreement(call, *found) if found else whole
    want, got = spec["error"], impl.get("error")
    assert isinstance(want, Mapping)
    if not isinstance(got, Mapping):
        return whole
    for name in ("kind", *sorted(k for k in want if k != "kind")):
        found = first_difference(want[name], got.get(name, MISSING), f"{prefix}error.{name}")
        if found is not None:
            return Disagreement(call, *found)
    return whole
