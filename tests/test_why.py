"""The email's one-line "why" from machine-readable reasons."""

from __future__ import annotations

from digest.compose.views import short_authors, why_line
from digest.rank import Pick, Reason


def test_why_line_names_author_topic_keywords_and_liked_paper() -> None:
    pick = Pick("1", 1.0, (Reason("author", "Kaiyu Yang", ("Kaiyu Yang",)),
                           Reason("topic", "theorem proving", ("theorem", "proving")),
                           Reason("keyword", "Lean 4", ("Lean 4", "Lean", "4")),
                           Reason("keyword", "autoformalization", ("autoformalization",))))
    line = why_line(pick, {})
    assert line == ("by Kaiyu Yang, whom you follow; matches your topic “theorem proving”; "
                    "has your keywords “Lean 4” and “autoformalization”")


def test_why_line_uses_liked_titles_and_semantic_reasons() -> None:
    liked = Pick("2", 0.5, (Reason("semantic_liked", "2306.15626"),))
    assert why_line(liked, {"2306.15626": "LeanDojo"}) == \
        "close in meaning to “LeanDojo”, which you liked"
    topic = Pick("3", 0.5, (Reason("semantic", "robot grasping"),))
    assert why_line(topic, {}) == "close in meaning to your topic “robot grasping”"


def test_authors_are_shortened_with_et_al() -> None:
    assert short_authors(["A", "B", "C", "D"]) == "A, B, C et al."
    assert short_authors(["A", "B"]) == "A, B"
