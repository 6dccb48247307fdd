"""Text clean-up shared by parsers and renderers: whitespace, limits, TeX and LaTeX, HTML, links."""

from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache
from typing import Any

import html2text
from pylatexenc.latex2text import LatexNodes2Text

MAX_TITLE = 500
MAX_ABSTRACT = 10_000
MAX_AUTHORS = 300
MAX_AUTHOR = 200
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u2028\u2029]")
_UNSAFE_IN_URL = re.compile(r"[\s\x00-\x1f\x7f\u2028\u2029]")  # control characters, any space
_TEX_HINT = re.compile(r"[\\{}$]")


def has_control(text: str) -> bool:
    """Whether `text` holds control characters (NUL, escapes, line/paragraph separators)."""
    return bool(_CONTROL.search(text))


def one_line(text: str | None, limit: int = MAX_TITLE) -> str:
    """Collapse all whitespace (CR/LF included) to single spaces, drop controls, cut to `limit`."""
    text = _CONTROL.sub(" ", text or "")
    text = " ".join(text.split())
    return cut(text, limit)


def paragraph(text: str | None, limit: int = MAX_ABSTRACT) -> str:
    """Normalise an abstract: unwrap hard line breaks, keep blank-line paragraphs, cut."""
    text = _CONTROL.sub(" ", (text or "").replace("\r\n", "\n").replace("\r", "\n"))
    paras = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text)]
    return cut("\n\n".join(p for p in paras if p), limit)


def http_url(value: object) -> str | None:
    """The value if it is one line of http(s) URL, else None: feeds cannot smuggle
    `javascript:` or `data:` links into an email or a page."""
    text = str(value or "").strip()
    if not text[:8].lower().startswith(("https://", "http://")) or _UNSAFE_IN_URL.search(text):
        return None
    return text


LINK_SIGNALS = ("hf_url", "github_repo", "project_page")


def safe_signals(signals: dict[str, Any]) -> dict[str, Any]:
    """Signals with every link-valued entry (`*_url`, repo, project page) kept only if http(s)."""
    out = {}
    for key, value in signals.items():
        if key in LINK_SIGNALS or key.endswith("_url"):
            value = http_url(value)
            if value is None:
                continue
        out[key] = value
    return out


def cut(text: str, limit: int) -> str:
    """Shorten `text` to at most `limit` characters, at a word boundary, with an ellipsis."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    if " " in head[limit // 2 :]:
        head = head.rsplit(" ", 1)[0]
    return head.rstrip() + "…"


@lru_cache(maxsize=1)
def _latex() -> LatexNodes2Text:
    return LatexNodes2Text(math_mode="verbatim", strict_latex_spaces=True)


@lru_cache(maxsize=4096)
def tex_to_unicode(text: str) -> str:
    """Turn TeX accents and macros into letters: `Gelp\\'i` -> `Gelpí`, `H{\\o}eg` -> `Høeg`."""
    if not _TEX_HINT.search(text):
        return text
    try:
        out = _latex().latex_to_text(text)
    except Exception:  # pylatexenc is lenient, but never let a name break a feed
        return text
    return unicodedata.normalize("NFC", out)


def author_name(raw: str) -> str:
    """Clean one author name: TeX accents to letters, whitespace collapsed, length capped."""
    return one_line(tex_to_unicode(raw), MAX_AUTHOR)


def split_authors(raw: str) -> list[str]:
    """Split arXiv's comma-separated `dc:creator` into clean names, dropping empty ones."""
    names = (author_name(part) for part in raw.split(","))
    return [n for n in names if n][:MAX_AUTHORS]


@lru_cache(maxsize=1)
def _html2text() -> html2text.HTML2Text:
    conv = html2text.HTML2Text()
    conv.ignore_images = True
    conv.ignore_links = True
    conv.ignore_emphasis = True
    conv.body_width = 0
    return conv


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment (feed descriptions), markup dropped."""
    if "<" not in html and "&" not in html:
        return html
    return _html2text().handle(html).strip()


_HAS_TEX = re.compile(r"[\\$^_{}]")
_BARE_PERCENT = re.compile(r"(?<!\\)%")  # in abstracts % is a percent sign, not a comment
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"'])")
_ABBREVIATIONS = ("e.g.", "i.e.", "et al.", "cf.", "vs.", "Fig.", "Figs.", "Eq.", "Eqs.", "Sec.",
                  "No.", "approx.", "resp.", "Dr.", "Prof.", "St.")
_INITIAL = re.compile(r"(?:^|\s)[A-Z]\.$")
_MATH = re.compile(r"(\$\$?)(.+?)\1|\\\((.+?)\\\)", re.S)
_SCRIPT = re.compile(r"([\^_])(\{(?:[^{}]|\{[^{}]*\})*\}|\\[A-Za-z]+|[^\s\\{}^_])")
_SUPER = dict(zip("0123456789+-−=()nijkhlmoprstuvwxyzabcdefgABDEGHIJKLMNOPRTUVW∘′⊤*∗†",
                  "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁻⁼⁽⁾ⁿⁱʲᵏʰˡᵐᵒᵖʳˢᵗᵘᵛʷˣʸᶻᵃᵇᶜᵈᵉᶠᵍᴬᴮᴰᴱᴳᴴᴵᴶᴷᴸᴹᴺᴼᴾᴿᵀᵁⱽᵂ°′ᵀ**†",
                  strict=True))
_SUB = dict(zip("0123456789+-−=()aehijklmnoprstuvx", "₀₁₂₃₄₅₆₇₈₉₊₋₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ", strict=True))
_DASHES = ((re.compile(r"(?<=\S)---(?=\S)|(?<=\s)---(?=\s)"), "—"),
           (re.compile(r"(?<=\S)--(?=\S)|(?<=\s)--(?=\s)"), "–"))
_TIE = re.compile(r"(?<=[A-Za-z0-9.,])~(?=[A-Za-z0-9])")  # LaTeX's non-breaking space


@lru_cache(maxsize=1)
def _math_converter() -> LatexNodes2Text:
    return LatexNodes2Text(math_mode="text", strict_latex_spaces=True)


def _script(found: re.Match[str]) -> str:
    """One ^x / _{..} in math as Unicode super/subscript when every character has one."""
    mark, body = found.group(1), found.group(2)
    inner = body[1:-1] if body.startswith("{") else body
    try:
        plain = _math_converter().latex_to_text(inner).strip()
    except Exception:  # an odd group stays as it was
        return found.group(0)
    table = _SUPER if mark == "^" else _SUB
    if plain and all(c in table for c in plain):
        return "".join(table[c] for c in plain)
    return f"{mark}{{({inner})}}" if len(plain) > 1 else found.group(0)


def _math_scripts(found: re.Match[str]) -> str:
    """A math span with its super- and subscripts made Unicode where possible."""
    if found.group(3) is not None:
        return "\\(" + _SCRIPT.sub(_script, found.group(3)) + "\\)"
    return found.group(1) + _SCRIPT.sub(_script, found.group(2)) + found.group(1)


def _typography(text: str) -> str:
    """TeX dashes (`--`, `---`) and ties (`~`) as the characters they stand for."""
    for pattern, dash in _DASHES:
        text = pattern.sub(dash, text)
    return _TIE.sub(" ", text)


@lru_cache(maxsize=20_000)  # the same abstracts appear in many subscribers' digests
def latex_to_text(text: str) -> str:
    """`$O(n^2)$ with $\\alpha$ -- $360^\\circ$` -> `O(n²) with α – 360°`; scripts without a
    Unicode form stay as `F_q` or `N^(-1/2)`."""
    if not _HAS_TEX.search(text):
        return _typography(text)
    try:
        source = _MATH.sub(_math_scripts, _BARE_PERCENT.sub(r"\\%", text))
        out = _math_converter().latex_to_text(source)
    except Exception:  # pylatexenc is lenient; never let one abstract break a digest
        return text
    return " ".join(_typography(unicodedata.normalize("NFC", out)).split())


def sentences(text: str) -> list[str]:
    """Split at sentence ends, but not after 'e.g.', 'et al.', 'Fig.' or an initial."""
    out: list[str] = []
    for piece in _SENTENCE_END.split(text.strip()):
        if out and (out[-1].endswith(_ABBREVIATIONS) or _INITIAL.search(out[-1])):
            out[-1] += " " + piece
        else:
            out.append(piece)
    return out


def first_sentences(text: str, count: int = 2, limit: int = 320) -> str:
    """The first `count` sentences of `text`, at most `limit` characters."""
    return cut(" ".join(sentences(text)[:count]), limit)


def escape_text(value: str) -> str:
    """HTML-escape outside templates (e.g. the file transport's index page)."""
    return html.escape(value, quote=True)
