"""A `Disagreement` names the call, the first differing field and both sides."""

from __future__ import annotations

from tests.disagreement import MISSING, Disagreement, answers_differ, first_difference, matches


def test_the_first_difference_is_found_by_path_and_tells_true_from_one() -> None:
    spec = {"watermark": 2, "entries": [{"seq": 1, "id": "a"}, {"seq": 2, "id": "b"}]}
    assert first_difference(spec, spec, "ok") is None
    assert first_difference(spec, {"watermark": 2, "entries": [{"seq": 1, "id": "a"}]}, "ok") == \
        ("ok.entries.1", {"seq": 2, "id": "b"}, MISSING)
    assert first_difference({"done": True}, {"done": 1}, "ok") == ("ok.done", True, 1)


def test_answers_differ_by_verdict_error_field_or_value() -> None:
    refused = {"error": {"kind": "not_found", "id": "a"}}
    assert answers_differ("snapshot", refused, {"ok": None}).brief == ("snapshot", "answer", "refused with not_found", "accepted")
    wrong_id = answers_differ("snapshot", refused, {"error": {"kind": "not_found", "id": "b", "message": "x"}})
    assert (wrong_id.call, wrong_id.field, wrong_id.spec, wrong_id.impl) == ("snapshot", "error.id", "a", "b")
    read = answers_differ("cancel_operation", {"ok": {"watermark": 3}}, {"ok": {"watermark": 2}}, "feed(after=0)")
    assert read.where.field == "feed(after=0):ok.watermark" and read.brief == ("cancel_operation", "watermark", 3, 2)


def test_an_expected_set_matches_any_of_its_members_only() -> None:
    brief = Disagreement("end_run", "globals.runtime", "retired", "idle").brief
    assert matches(brief, ("end_run", "runtime", frozenset({"attached", "retired"}), "idle"))
    assert not matches(brief, ("end_run", "runtime", frozenset({"attached"}), "idle"))
    assert not matches(brief, ("end_run", "runtime", "retired"))
