"""Honest why-lines: every claim a digest makes about a paper is checked against that paper."""

from __future__ import annotations

import re

import pytest

from digest.compose.views import why_line
from digest.rank import Pick, Reason
from digest.rank.textfeat import content_terms, phrase_key, stem, words
from digest.storage.models import Paper
from tests.demo import DemoDigest, run_demo

QUOTED = r"“[^”]+”(?:(?:, | and )“[^”]+”)*"


def line(*reasons: Reason, liked: dict[str, str] | None = None) -> str:
    return why_line(Pick("1", 1.0, reasons), liked or {})


def test_a_keyword_phrase_is_claimed_only_when_the_phrase_occurs() -> None:
    moverse = line(Reason("keyword", "gaussian splatting", ("gaussian",), 0.4))
    assert moverse == "mentions “gaussian” from your keyword “gaussian splatting”"
    network = line(Reason("keyword", "Logic Tensor Network", ("Network",), 0.1))
    assert network == "mentions “Network” from your keyword “Logic Tensor Network”"
    whole = line(Reason("keyword", "gaussian splatting",
                        ("gaussian splatting", "gaussian", "splatting"), 1.0),
                 Reason("keyword", "NeRF", ("NeRF",), 1.0))
    assert whole == "has your keywords “gaussian splatting” and “NeRF”"


def test_a_topic_names_the_words_it_lacks_or_the_few_it_has() -> None:
    topic = "3D Gaussian splatting and neural scene reconstruction"
    every = line(Reason("topic", topic, ("3D", "Gaussian", "splatting", "neural", "scene",
                                         "reconstruction"), 1.0))
    assert every == f"matches your topic “{topic}”"
    most = line(Reason("topic", topic, ("3D", "Gaussian", "splatting", "scene"), 1.0))
    assert most == f"matches your topic “{topic}” except for “neural” and “reconstruction”"
    few = line(Reason("topic", topic, ("3D", "scene"), 1.0))
    assert few == f"shares “3D” and “scene” with your topic “{topic}”"


def test_reasons_read_like_a_colleagues_note() -> None:
    assert line(Reason("author", "Y. LeCun", ("Yann LeCun",), 1.0)) == \
        "by Yann LeCun, whom you follow"
    assert line(Reason("liked", "1706.03762", (), 0.4),
                liked={"1706.03762": "Attention Is All You Need"}) == \
        "close to “Attention Is All You Need”, which you liked"
    assert line(Reason("trending", "#3 on Hugging Face today (212 upvotes)", (), 0.9)) == \
        "#3 on Hugging Face today, 212 upvotes"


# --- every reason of the digests `make demo` writes --------------------------------------


@pytest.fixture(scope="module")
def digests(tmp_path_factory: pytest.TempPathFactory) -> list[DemoDigest]:
    return run_demo(tmp_path_factory.mktemp("demo"))


def occurs(phrase: str, paper: Paper) -> bool:
    """Whether the phrase (or its stemmed form) occurs in the title or the abstract."""
    key = f" {phrase_key(phrase)} "
    return any(key in f" {' '.join(words(text))} " for text in (paper.title, paper.abstract))


def items(found: re.Match[str] | None) -> list[str]:
    return re.findall(r"“([^”]+)”", found.group(1)) if found else []


def check_why(why: str, paper: Paper) -> int:
    """Assert every claim of one why-line against the paper; the number of claims checked."""
    checked = 0
    for claim in ("has your keywords? ", "mentions ", "shares "):
        for word in items(re.search(claim + f"({QUOTED})", why)):
            assert occurs(word, paper), (why, word, paper.title)
            checked += 1
    for word in items(re.search(f"except for ({QUOTED})", why)):
        assert not occurs(word, paper), (why, word, paper.title)
        checked += 1
    whole = re.search(r"matches your topic “([^”]+)”(?! except)", why)
    if whole:
        wanted = content_terms(words(whole.group(1)))
        assert all(occurs(w, paper) for w in wanted), (why, paper.title)
        checked += 1
    author = re.search(r"by (.+?), whom you follow", why)
    if author:
        assert author.group(1) in paper.authors, (why, paper.authors)
        checked += 1
    return checked


def test_every_reason_in_the_demo_digests_is_true_of_its_paper(digests: list[DemoDigest]) -> None:
    checked = 0
    for digest in digests:
        assert digest.placed, digest.row.recipient
        for placed, paper in digest.placed:
            assert placed.why and f"Why: {placed.why}" in digest.text
            checked += check_why(placed.why, paper)
    assert checked >= 2 * sum(len(d.placed) for d in digests)


def test_the_check_catches_an_overclaiming_line(digests: list[DemoDigest]) -> None:
    paper = next(p for d in digests for _, p in d.placed if not occurs("gaussian splatting", p)
                 and occurs("gaussian", p))
    with pytest.raises(AssertionError):
        check_why("has your keyword “gaussian splatting”", paper)
    assert check_why("mentions “gaussian” from your keyword “gaussian splatting”", paper) == 1


def test_stems_match_as_the_ranker_matches() -> None:
    paper = Paper(canonical_id="x", title="Factually grounded splats", abstract="")
    assert occurs("factuality", paper) and occurs("Gaussian Splatting", Paper(
        canonical_id="y", title="gaussian splats", abstract=""))
    assert stem("splatting") == stem("splats")
