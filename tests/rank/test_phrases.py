"""A multi-word keyword matches as a phrase; its words alone never select a paper."""

from __future__ import annotations

from digest.rank import Candidate, Interest, rank
from digest.rank.textfeat import phrase_key, words
from tests.rank.test_rank import real_day


def holds(phrase: str, c: Candidate, window: int = 2) -> bool:
    """The phrase's stems in order, at most `window` words apart, in the title or abstract."""
    parts = phrase_key(phrase).split()
    for text in (c.title, c.abstract):
        stems = words(text)
        for i, s in enumerate(stems):
            pos = i
            if s != parts[0]:
                continue
            for part in parts[1:]:
                nxt = [j for j in range(pos + 1, min(pos + 2 + window, len(stems)))
                       if stems[j] == part]
                if not nxt:
                    break
                pos = nxt[0]
            else:
                return True
    return False


def test_a_phrase_keyword_never_selects_on_its_words_alone() -> None:
    day = real_day()
    for keyword in ("polar codes", "remote sensing", "graph neural network", "coding agent"):
        picks = rank(day, [Interest("a@x.org", keywords=(keyword,))])["a@x.org"]
        by_id = {c.id: c for c in day}
        assert all(holds(keyword, by_id[p.id]) for p in picks), keyword
    # the day has 60 papers on "codes" and 6 on "sensing", none on polar codes or remote sensing
    assert not rank(day, [Interest("a@x.org", keywords=("polar codes",))])["a@x.org"]
    assert not rank(day, [Interest("a@x.org", keywords=("remote sensing",))])["a@x.org"]


def test_a_phrase_a_few_words_apart_counts_but_is_not_claimed_as_the_phrase() -> None:
    near = Candidate("n", "Polar and LDPC codes for short packets", "We decode them fast.")
    exact = Candidate("e", "Polar codes at scale", "Decoding polar codes.")
    software = Candidate("s", "Codes of conduct for software",
                         "Polar bears: the software has bugs in its code.")
    picks = rank([near, exact, software], [Interest("a@x.org", keywords=("polar codes",))])
    chosen = {p.id: p for p in picks["a@x.org"]}
    assert set(chosen) == {"n", "e"} and picks["a@x.org"][0].id == "e"
    assert "polar codes" in chosen["e"].reasons[0].terms
    assert "polar codes" not in chosen["n"].reasons[0].terms  # only the words it has
    assert set(chosen["n"].reasons[0].terms) == {"polar", "codes"}
