"""What the digest templates show (DigestView, PaperView), filled from stored papers and picks."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from digest.config import Config
from digest.rank import Interest, Pick, Reason
from digest.rank.queries import surface_forms
from digest.rank.textfeat import content_terms, phrase_key, stem, words
from digest.storage.feedback import VoteAction
from digest.storage.models import Paper, Subscriber
from digest.text import cut, first_sentences, latex_to_text, one_line

if TYPE_CHECKING:
    from digest.tokens import VoteSigner

MAX_AUTHORS_SHOWN = 3
MAX_SUBJECT_TITLE = 60
MAX_WHY_PARTS = 3
MAX_TRENDING_RANK = 10  # a lower Hugging Face rank is no reason worth a line


@dataclass
class PaperView:
    """One paper as the email shows it."""

    title: str
    url: str
    authors: str
    categories: str
    tldr: str
    why: str = ""
    pdf_url: str = ""
    hf_url: str = ""
    code_url: str = ""
    upvotes: int | None = None
    ai_summary: bool = False     # the TL;DR is Hugging Face's AI summary, not the abstract
    arxiv_url: str = ""
    stars: int | None = None     # GitHub stars of the code
    affiliation: str = ""        # the first author's, when the source gives it
    comment: str = ""            # the authors' comment, e.g. "Accepted at ICML 2026"
    paper_id: str = ""           # the canonical id
    more_url: str = ""           # this subscriber's "more like this" vote link (none without web)
    less_url: str = ""

    @property
    def links(self) -> list[tuple[str, str]]:
        """The 'Open in' row: (label, url) for arXiv, PDF, Hugging Face and code."""
        hf = f"Hugging Face ▲ {self.upvotes}" if self.upvotes else "Hugging Face"
        code = f"Code ★ {count_label(self.stars)}" if self.stars else "Code"
        pairs = (("arXiv", self.arxiv_url), ("PDF", self.pdf_url), (hf, self.hf_url),
                 (code, self.code_url))
        return [(label, url) for label, url in pairs if url]

    @property
    def byline(self) -> str:
        """Authors, the first author's affiliation and categories, in one line."""
        who = f"{self.authors} ({self.affiliation})" if self.authors and self.affiliation \
            else self.authors or self.affiliation
        return " · ".join(x for x in (who, self.categories) if x)


@dataclass
class DigestView:
    """Everything a digest template needs."""

    day: date
    recipient: str
    name: str | None
    papers: list[PaperView]
    trending: list[PaperView] = field(default_factory=list)
    manage_url: str = ""
    unsubscribe_url: str = ""
    interests: str = ""

    @property
    def date_label(self) -> str:
        """'Fri 27 Nov 2026'."""
        return self.day.strftime("%a %d %b %Y")

    @property
    def subject(self) -> str:
        """Date, count and the top paper's title, shortened; one line."""
        if not self.papers:
            return one_line(f"Paper digest · {self.day:%d %b} · nothing new for you today")
        count = f"{len(self.papers)} paper{'s' if len(self.papers) != 1 else ''}"
        top = cut(self.papers[0].title, MAX_SUBJECT_TITLE)
        return one_line(f"Paper digest · {self.day:%d %b} · {count} · {top}", 200)

    @property
    def greeting(self) -> str:
        """'Hello Ada, 10 new papers matched your interests today.'"""
        count = len(self.papers)
        what = f"{count} new paper{'s' if count != 1 else ''} matched your interests"
        if not self.name:
            return f"{what} today."
        return f"Hello {one_line(self.name, 60)}, {what} today."

    @property
    def preheader(self) -> str:
        """The preview line inboxes show after the subject."""
        if not self.papers:
            return "Nothing matched your interests today."
        rest = [p.title for p in self.papers[1:3]]
        return cut("Also: " + " · ".join(rest), 140) if rest else cut(self.papers[0].tldr, 140)


def short_authors(authors: Sequence[str]) -> str:
    """'A, B, C et al.' for long author lists."""
    if len(authors) <= MAX_AUTHORS_SHOWN:
        return ", ".join(authors)
    return ", ".join(authors[:MAX_AUTHORS_SHOWN]) + " et al."


def count_label(n: int) -> str:
    """'950', '1.2k', '12k'."""
    if n < 1000:
        return str(n)
    return f"{n / 1000:.1f}k".replace(".0k", "k") if n < 10_000 else f"{round(n / 1000)}k"


def ai_summary(paper: Paper) -> str:
    """Hugging Face's AI summary of the paper, or ''."""
    summary = paper.signals.get("ai_summary")
    return cut(summary.strip(), 400) if isinstance(summary, str) else ""


def tldr(paper: Paper) -> str:
    """Hugging Face's AI summary when present, else the abstract's first sentences, readable."""
    return ai_summary(paper) or (first_sentences(latex_to_text(paper.abstract))
                                 if paper.abstract else "")


def affiliation(signals: dict[str, Any]) -> str:
    """The first author's affiliation: signals `affiliation` (text) or `affiliations` (a list)."""
    value = signals.get("affiliation") or signals.get("affiliations")
    if isinstance(value, list):
        value = value[0] if value else ""
    return one_line(value, 80) if isinstance(value, str) else ""


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def paper_view(paper: Paper, why: str = "") -> PaperView:
    """A stored paper as the email shows it."""
    signals = paper.signals
    arxiv = f"https://arxiv.org/abs/{paper.arxiv_id}" if paper.arxiv_id else ""
    return PaperView(
        title=one_line(latex_to_text(paper.title), 300), url=paper.url or arxiv,
        authors=short_authors(paper.authors),
        categories=", ".join(paper.categories[:3]), tldr=tldr(paper), why=why,
        pdf_url=paper.pdf_url or (f"https://arxiv.org/pdf/{paper.arxiv_id}" if arxiv else ""),
        hf_url=str(signals.get("hf_url") or ""), code_url=str(signals.get("github_repo") or ""),
        upvotes=_int(signals.get("hf_upvotes")), ai_summary=bool(ai_summary(paper)),
        arxiv_url=arxiv, stars=_int(signals.get("github_stars")),
        affiliation=affiliation(signals), comment=one_line(paper.comment, 160),
        paper_id=paper.canonical_id,
    )


@dataclass(frozen=True)
class WhyPart:
    """One clause of a why-line and what it claims: words or phrases in the title or abstract,
    or an author on the paper."""

    text: str
    words: tuple[str, ...] = ()
    author: str = ""


def quoted(items: Sequence[str]) -> str:
    """'“a”', '“a” and “b”', '“a”, “b” and “c”'."""
    marked = [f"“{x}”" for x in items]
    return marked[0] if len(marked) == 1 else ", ".join(marked[:-1]) + " and " + marked[-1]


def topic_part(reason: Reason) -> WhyPart:
    """The topic, saying which of its words the paper lacks, or, when it lacks most, which it has."""
    label = cut(reason.label, 80)
    found = {stem(w.lower()) for w in reason.terms}
    content = set(content_terms(words(reason.label)))
    missing = [w for s, w in surface_forms(reason.label).items() if s in content and s not in found]
    if not missing:
        return WhyPart(f"matches your topic “{label}”", reason.terms)
    if len(missing) < len(reason.terms):
        return WhyPart(f"matches your topic “{label}” except for {quoted(missing)}", reason.terms)
    return WhyPart(f"shares {quoted(reason.terms)} with your topic “{label}”", reason.terms)


def keyword_parts(reasons: Sequence[Reason]) -> list[WhyPart]:
    """Keywords found whole in one clause; a phrase of which only some words occur, named by those."""
    whole = [r.label for r in reasons if r.label in r.terms or " " not in phrase_key(r.label)]
    parts = [WhyPart(f"has your keyword{'s' if len(whole) > 1 else ''} {quoted(whole[:3])}",
                     tuple(whole[:3]))] if whole else []
    for r in reasons:
        if r.label not in whole and r.terms:
            parts.append(WhyPart(f"mentions {quoted(r.terms)} from your keyword “{cut(r.label, 60)}”",
                                 r.terms))
    return parts


_TRENDING = re.compile(r"#(\d+) on Hugging Face today \((\d+) upvotes\)")


def trending_part(reason: Reason) -> WhyPart | None:
    """'#3 on Hugging Face today, 212 upvotes'; None below the day's top ten."""
    found = _TRENDING.fullmatch(reason.label)
    if not found:
        return WhyPart(reason.label)
    rank, votes = int(found.group(1)), int(found.group(2))
    if rank > MAX_TRENDING_RANK:
        return None
    return WhyPart(f"#{rank} on Hugging Face today, {votes} upvote{'s' if votes != 1 else ''}")


def why_parts(pick: Pick, liked_titles: dict[str, str]) -> list[WhyPart]:
    """The clauses of a why-line, strongest first: author, topic, keywords, liked paper, your
    votes, trending."""
    kinds = {r.kind for r in pick.reasons}
    parts = [WhyPart(f"by {r.terms[0] if r.terms else r.label}, whom you follow",
                     author=r.terms[0] if r.terms else r.label)
             for r in pick.reasons if r.kind == "author"]
    parts += [topic_part(r) for r in pick.reasons if r.kind == "topic" and r.terms]
    parts += keyword_parts([r for r in pick.reasons if r.kind == "keyword"])
    for r in pick.reasons:
        title = cut(liked_titles.get(r.label, r.label), 80)
        if r.kind == "liked":
            parts.append(WhyPart(f"close to “{title}”, which you liked"))
        elif r.kind == "semantic" and "topic" not in kinds:
            parts.append(WhyPart(f"close in meaning to your topic “{cut(r.label, 80)}”"))
        elif r.kind == "semantic_liked" and "liked" not in kinds:
            parts.append(WhyPart(f"close in meaning to “{title}”, which you liked"))
        elif r.kind == "feedback" and r.score > 0 and r.terms:
            voted = cut(liked_titles.get(r.terms[0], r.terms[0]), 80)
            parts.append(WhyPart(f"close to “{voted}”, which you marked more like this"))
    trending = (trending_part(r) for r in pick.reasons if r.kind == "trending")
    weaker = [WhyPart("a weaker match, to fill your digest")] if "weaker" in kinds else []
    return weaker + parts + [part for part in trending if part]


def why_line(pick: Pick, liked_titles: dict[str, str]) -> str:
    """One line saying why a paper was picked, claiming only what the paper's text shows."""
    return cut("; ".join(p.text for p in why_parts(pick, liked_titles)[:MAX_WHY_PARTS]), 300)


def interests_summary(interest: Interest) -> str:
    """A short phrase of the subscriber's interests for the footer."""
    items = list(interest.topics[:2]) + list(interest.keywords[:2])
    return cut(", ".join(items), 120)


def trending_order(papers: dict[str, Paper]) -> list[Paper]:
    """The window's upvoted Hugging Face papers, most upvoted first (ties by canonical id)."""
    scored = [(int(p.signals["hf_upvotes"]), p) for p in papers.values()
              if isinstance(p.signals.get("hf_upvotes"), int) and p.signals["hf_upvotes"] > 0]
    scored.sort(key=lambda item: (-item[0], item[1].canonical_id))
    return [p for _, p in scored]


_BASE_VIEWS: dict[tuple[str, int | None, datetime], PaperView] = {}
BASE_VIEWS_KEPT = 20_000  # a day's papers many times over


def _base_view(paper: Paper) -> PaperView:
    """`paper_view` without a why-line, kept for every later group of digests made from the
    same paper (compose's chunks of subscribers): a paper that changes gets a new one."""
    key = (paper.canonical_id, paper.id, paper.changed_at)
    view = _BASE_VIEWS.get(key)
    if view is None:
        if len(_BASE_VIEWS) >= BASE_VIEWS_KEPT:
            _BASE_VIEWS.clear()
        view = _BASE_VIEWS[key] = paper_view(paper)
    return view


class PaperViews:
    """Per-paper views of one window, computed once and shared by every digest made from it:
    the TL;DR and LaTeX conversion of a paper are the same for every subscriber, and so is the
    day's trending order. The views handed out are copies, so a template may not leak one
    subscriber's why-line into another's digest."""

    def __init__(self, papers: dict[str, Paper]) -> None:
        self.papers = papers
        self._views: dict[str, PaperView] = {}
        self._trending: list[Paper] | None = None

    def view(self, canonical_id: str, why: str = "") -> PaperView:
        """The paper's view with this why-line."""
        base = self._views.get(canonical_id)
        if base is None:
            base = self._views[canonical_id] = _base_view(self.papers[canonical_id])
        return replace(base, why=why)

    def trending(self, listed: set[str], count: int) -> list[PaperView]:
        """The day's most upvoted Hugging Face papers not already in the digest."""
        if self._trending is None:
            self._trending = trending_order(self.papers)
        out: list[PaperView] = []
        for paper in self._trending:
            if len(out) >= count:
                break
            if paper.canonical_id not in listed:
                out.append(self.view(paper.canonical_id))
        return out


def digest_view(config: Config, sub: Subscriber, day: date, picks: Sequence[Pick],
                whys: Sequence[str], papers: dict[str, Paper], interest: Interest,
                manage_token: str, unsubscribe_token: str,
                views: PaperViews | None = None, votes: VoteSigner | None = None) -> DigestView:
    """Everything the digest templates need for one subscriber and date (`views`: the shared
    per-paper views of `papers`, when many digests are made from the same window; `votes`:
    signs each paper's "more / less like this" links, none without it)."""
    views = views if views is not None and views.papers is papers else PaperViews(papers)
    base = str(config.delivery.base_url).rstrip("/")
    chosen = [views.view(p.id, why) for p, why in zip(picks, whys, strict=True)]
    trending = views.trending({p.id for p in picks}, config.delivery.trending_count)
    if votes is not None:
        for view in (*chosen, *trending):  # copies: only this subscriber's links go in
            view.more_url = f"{base}/vote/{votes.token(sub, view.paper_id, VoteAction.MORE)}"
            view.less_url = f"{base}/vote/{votes.token(sub, view.paper_id, VoteAction.LESS)}"
    return DigestView(day=day, recipient=sub.email, name=sub.name, papers=chosen,
                      trending=trending, manage_url=f"{base}/manage/{manage_token}",
                      unsubscribe_url=f"{base}/unsubscribe/{unsubscribe_token}",
                      interests=interests_summary(interest))
