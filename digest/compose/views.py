"""What the digest templates show (DigestView, PaperView), filled from stored papers and picks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from digest.config import Config
from digest.rank import Interest, Pick
from digest.storage.models import Paper, Subscriber
from digest.text import cut, first_sentences, latex_to_text, one_line

MAX_AUTHORS_SHOWN = 3


MAX_SUBJECT_TITLE = 60


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


def tldr(paper: Paper) -> str:
    """Hugging Face's AI summary when present, else the abstract's first sentences, readable."""
    summary = paper.signals.get("ai_summary")
    if isinstance(summary, str) and summary.strip():
        return cut(summary.strip(), 400)
    return first_sentences(latex_to_text(paper.abstract)) if paper.abstract else ""


def paper_view(paper: Paper, why: str = "") -> PaperView:
    """A stored paper as the email shows it."""
    signals = paper.signals
    return PaperView(
        title=one_line(latex_to_text(paper.title), 300), url=paper.url or "",
        authors=short_authors(paper.authors),
        categories=", ".join(paper.categories[:3]), tldr=tldr(paper), why=why,
        pdf_url=paper.pdf_url or "", hf_url=str(signals.get("hf_url") or ""),
        code_url=str(signals.get("github_repo") or ""),
        upvotes=signals.get("hf_upvotes") if isinstance(signals.get("hf_upvotes"), int) else None,
    )


def why_line(pick: Pick, liked_titles: dict[str, str]) -> str:
    """One line saying why a paper was picked: author, topic, keywords, liked paper."""
    parts: list[str] = []
    keywords = [r.label for r in pick.reasons if r.kind == "keyword"]
    for r in pick.reasons:
        if r.kind == "author":
            parts.append(f"by {r.label}, whom you follow")
        elif r.kind == "topic":
            terms = f" ({', '.join(r.terms)})" if r.terms else ""
            parts.append(f"matches your topic “{cut(r.label, 80)}”{terms}")
        elif r.kind == "liked":
            parts.append(f"close to a paper you liked, “{cut(liked_titles.get(r.label, r.label), 80)}”")
        elif r.kind == "semantic" and not any(x.kind == "topic" for x in pick.reasons):
            parts.append(f"close in meaning to your topic “{cut(r.label, 80)}”")
        elif r.kind == "semantic_liked" and not any(x.kind == "liked" for x in pick.reasons):
            title = cut(liked_titles.get(r.label, r.label), 80)
            parts.append(f"close in meaning to a paper you liked, “{title}”")
        elif r.kind == "trending" and not parts:
            parts.append(r.label)
    if keywords:
        parts.insert(1 if parts else 0, "keywords: " + ", ".join(f"“{k}”" for k in keywords[:4]))
    return cut("; ".join(parts[:3]), 300)


def interests_summary(interest: Interest) -> str:
    """A short phrase of the subscriber's interests for the footer."""
    items = list(interest.topics[:2]) + list(interest.keywords[:2])
    return cut(", ".join(items), 120)


def trending_views(papers: dict[str, Paper], listed: set[str], count: int) -> list[PaperView]:
    """The day's most upvoted Hugging Face papers not already in the digest."""
    scored = [(int(p.signals["hf_upvotes"]), p) for p in papers.values()
              if isinstance(p.signals.get("hf_upvotes"), int) and p.canonical_id not in listed
              and p.signals["hf_upvotes"] > 0]
    scored.sort(key=lambda item: (-item[0], item[1].canonical_id))
    return [paper_view(p) for _, p in scored[:count]]


def digest_view(config: Config, sub: Subscriber, day: date, picks: Sequence[Pick],
                whys: Sequence[str], papers: dict[str, Paper], interest: Interest,
                manage_token: str, unsubscribe_token: str) -> DigestView:
    """Everything the digest templates need for one subscriber and date."""
    base = str(config.delivery.base_url).rstrip("/")
    chosen = [paper_view(papers[p.id], why) for p, why in zip(picks, whys, strict=True)]
    trending = trending_views(papers, {p.id for p in picks}, config.delivery.trending_count)
    return DigestView(day=day, recipient=sub.email, name=sub.name, papers=chosen,
                      trending=trending, manage_url=f"{base}/manage/{manage_token}",
                      unsubscribe_url=f"{base}/unsubscribe/{unsubscribe_token}",
                      interests=interests_summary(interest))
