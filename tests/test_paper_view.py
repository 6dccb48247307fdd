"""What a reader uses to decide in seconds: summary source, code and stars, upvotes, affiliation,
the authors' comment, one 'Open in' row, and a greeting by name."""

from __future__ import annotations

from datetime import UTC, date, datetime

from digest.compose.render import Renderer
from digest.compose.views import DigestView, PaperView, PaperViews, count_label, paper_view
from digest.storage.models import Paper

HF_PAPER = Paper(
    canonical_id="2606.12451", arxiv_id="2606.12451", title="ToolSense: auditing tool knowledge",
    abstract="We audit parametric tool knowledge. It is shallow.", authors=["Ada Lovelace", "B"],
    categories=["cs.CL"], url="https://arxiv.org/abs/2606.12451",
    pdf_url="https://arxiv.org/pdf/2606.12451", comment="Accepted at ICML 2026",
    signals={"ai_summary": "Tool retrievers understand less than benchmarks suggest.",
             "hf_upvotes": 212, "hf_url": "https://huggingface.co/papers/2606.12451",
             "github_repo": "https://github.com/SAP/toolsense", "github_stars": 1234,
             "affiliations": ["SAP Labs", "MIT"]})
TLDR_FEED_PAPER = Paper(canonical_id="2604.26238", arxiv_id="2604.26238",
                        title="EnerGS: Energy-Based Gaussian Splatting",
                        abstract="3D Gaussian Splatting (3DGS) is widely adopted. We add priors.",
                        url="https://tldr.takara.ai/p/2604.26238")


def render(papers: list[PaperView], name: str | None = "Ada") -> tuple[str, str]:
    view = DigestView(day=date(2026, 6, 12), recipient="ada@example.org", name=name,
                      papers=papers, manage_url="https://d.example/manage/t",
                      unsubscribe_url="https://d.example/unsubscribe/t")
    rendered = Renderer().render(view)
    return rendered.html, rendered.text


def test_a_hugging_face_paper_shows_its_signals_and_marks_the_ai_summary() -> None:
    view = paper_view(HF_PAPER, "has your keyword “LLM”")
    html, text = render([view])
    assert view.ai_summary and view.tldr.startswith("Tool retrievers")
    assert ">AI summary</span> Tool retrievers" in html and "AI summary: Tool retrievers" in text
    assert view.byline == "Ada Lovelace, B (SAP Labs) · cs.CL"
    assert "Accepted at ICML 2026" in html and "Accepted at ICML 2026" in text
    assert [label for label, _ in view.links] == ["arXiv", "PDF", "Hugging Face ▲ 212",
                                                  "Code ★ 1.2k"]
    assert 'href="https://github.com/SAP/toolsense"' in html and "Code ★ 1.2k" in html
    assert "Code ★ 1.2k https://github.com/SAP/toolsense" in text


def test_an_abstract_tldr_is_not_called_an_ai_summary() -> None:
    view = paper_view(Paper(**{**HF_PAPER.model_dump(), "signals": {}}))
    html, text = render([view])
    assert not view.ai_summary and view.tldr.startswith("We audit")
    assert "AI summary" not in html and "AI summary" not in text
    assert [label for label, _ in view.links] == ["arXiv", "PDF"]


def test_an_aggregator_item_with_an_arxiv_id_gets_arxiv_and_pdf_links() -> None:
    view = paper_view(TLDR_FEED_PAPER)
    assert dict((label, url) for label, url in view.links) == {
        "arXiv": "https://arxiv.org/abs/2604.26238", "PDF": "https://arxiv.org/pdf/2604.26238"}


def test_the_greeting_uses_the_name_when_there_is_one() -> None:
    views = [paper_view(HF_PAPER), paper_view(TLDR_FEED_PAPER)]
    assert "Hello Ada, 2 new papers matched your interests today." in render(views)[1]
    assert "\n1 new paper matched your interests today." in render(views[:1], None)[1]
    html = render(views, "<b>Eve</b>")[0]
    assert "Hello &lt;b&gt;Eve&lt;/b&gt;," in html


def test_counts_are_short() -> None:
    assert [count_label(n) for n in (950, 1000, 1234, 12_345)] == ["950", "1k", "1.2k", "12k"]


def test_a_paper_view_is_made_once_for_every_group_and_again_when_the_paper_changes() -> None:
    paper = HF_PAPER.model_copy(update={"canonical_id": "2606.99999", "id": 9,
                                        "changed_at": datetime(2026, 6, 12, tzinfo=UTC)})
    first = PaperViews({paper.canonical_id: paper}).view(paper.canonical_id, "why one")
    again = PaperViews({paper.canonical_id: paper}).view(paper.canonical_id, "why two")
    assert (first.title, first.why, again.why) == (paper.title, "why one", "why two")
    again.more_url = "https://d.example/vote/x"  # a copy: nobody else's view changes
    assert PaperViews({paper.canonical_id: paper}).view(paper.canonical_id).more_url == ""
    changed = paper.model_copy(update={"title": "ToolSense v2",
                                       "changed_at": datetime(2026, 6, 13, tzinfo=UTC)})
    assert PaperViews({paper.canonical_id: changed}).view(paper.canonical_id).title == \
        "ToolSense v2"
