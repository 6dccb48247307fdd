"""LaTeX in titles and abstracts reads as text: scripts, symbols, dashes, ties, sentences."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from digest.text import first_sentences, latex_to_text

DEMO = Path(__file__).parents[1] / "config" / "demo"


@pytest.mark.parametrize(("tex", "text"), [
    (r"Open-Domain 360$^\circ$ Panorama Generation", "Open-Domain 360° Panorama Generation"),
    (r"$360^{\circ}$ panoramas", "360° panoramas"),
    (r"the ambient space $\mathbb{F}_q^n$", "the ambient space 𝔽_qⁿ"),
    (r"in $\ell_q(\mathbb{R}^d)$ spaces", "in ℓ_q(ℝᵈ) spaces"),
    (r"$O(n^2)$ with $\alpha$", "O(n²) with α"),
    (r"a rate of $\mathcal{O}(N^{-1/2})$", "a rate of 𝒪(N^(-1/2))"),
    (r"an error rate of $10^{-7}$ and $E_8$", "an error rate of 10⁻⁷ and E₈"),
    (r"$A^\top x$", "Aᵀ x"),
    (r"safety improves by 9--52\% -- a gain", "safety improves by 9–52% – a gain"),
    ("Kolmogorov--Arnold networks---briefly", "Kolmogorov–Arnold networks—briefly"),
    ("human--AI collaboration", "human–AI collaboration"),
    ("Llama~3.3~70B", "Llama 3.3 70B"),
    ("PP-OCRv5_server and val_bpb stay", "PP-OCRv5_server and val_bpb stay"),
    ("run it with --verbose; see https://x.org/~me", "run it with --verbose; see https://x.org/~me"),
])
def test_latex_reads_as_text(tex: str, text: str) -> None:
    assert latex_to_text(tex) == text


def test_no_demo_abstract_keeps_a_degree_sign_or_a_double_dash_raw() -> None:
    raw = [json.loads(line) for name in ("2026-06-11.jsonl", "2026-06-12.jsonl")
           for line in (DEMO / name).read_text().splitlines()]
    shown = [latex_to_text(doc["title"]) + " " + latex_to_text(doc["summary"]) for doc in raw]
    assert any("360°" in text for text in shown)
    assert not [t for t in shown if "^∘" in t or "^\\circ" in t]
    assert not [t for t in shown if re.search(r"\w--\w| -- ", t)]


def test_first_sentences_do_not_stop_at_abbreviations() -> None:
    text = ("We follow Smith et al. (2020) and, e.g. Fig. 3 of J. Doe, extend it. "
            "The second sentence. A third.")
    assert first_sentences(text) == ("We follow Smith et al. (2020) and, e.g. Fig. 3 of J. Doe, "
                                     "extend it. The second sentence.")
    assert first_sentences("One. Two. Three.", count=1) == "One."
