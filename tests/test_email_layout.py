"""The digest email in a real browser (headless Debian chromium via Selenium), as a reader sees it.

At 1200, 600 and 360 px, light and dark: no horizontal overflow, the card fills a phone and
stays 600 px on a desktop, dividers stay subtle in dark mode, and a client that strips <style>
(no media queries, no dark block) still fits. Screenshots go to test-artifacts/email/; a loose
golden check (1/12 scale, grey) compares the first screen with tests/golden/email-*.png
(UPDATE_GOLDEN=1 rewrites them). DIGEST_DOCS_SCREENSHOTS=1 also writes the demo digest's
screenshots into docs/. Skipped without chromium unless DIGEST_REQUIRE_BROWSER is set.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from digest.compose.digests import compose_due
from digest.config import load_config
from digest.storage.db import open_database
from tests.demo import run_demo
from tests.test_email import ADA, GOLDEN, T0, make_config, outbox, store_real_papers

ROOT = Path(__file__).parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "email"
DOCS = ROOT / "docs"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
WIDTHS = (1200, 600, 360)
MODES = ("light", "dark")
SCREEN_HEIGHT = 900
SHRINK = 12
GOLDEN_TOLERANCE = 12.0  # mean grey difference (0-255) of the 1/12-scale first screen

if not (CHROMIUM and CHROMEDRIVER) and not os.environ.get("DIGEST_REQUIRE_BROWSER"):
    pytest.skip("chromium/chromedriver not installed", allow_module_level=True)

METRICS_JS = """
const vw = arguments[0];  // the screen's width: a phone may widen its layout viewport to fit
const seen = e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
const outside = [...document.querySelectorAll('body *')].filter(seen).filter(e => {
  const r = e.getBoundingClientRect(); return r.right > vw + 0.5 || r.left < -0.5; });
const blocks = [...document.querySelectorAll('.paper, .tldr, .why, .meta, .links, h1, h2')];
const style = s => getComputedStyle(document.querySelector(s));
return {scrollWidth: document.documentElement.scrollWidth, viewport: vw,
        outside: outside.slice(0, 5).map(e => e.tagName + '.' + e.className),
        clipped: blocks.filter(e => e.scrollWidth > e.clientWidth + 1).length,
        main: document.querySelector('table.main').getBoundingClientRect().width,
        background: style('table.main').backgroundColor,
        divider: style('.paper').borderBottomColor,
        tldrSize: parseFloat(style('.tldr').fontSize),
        height: document.documentElement.scrollHeight};
"""

SHRINK_JS = """
const [src, w, h, done] = arguments;
const img = new Image();
img.onload = () => {
  const c = document.createElement('canvas'); c.width = w; c.height = h;
  const x = c.getContext('2d'); x.imageSmoothingQuality = 'high';
  x.drawImage(img, 0, 0, w, h);
  const d = x.getImageData(0, 0, w, h).data, grey = [];
  for (let i = 0; i < d.length; i += 4) grey.push(0.2126 * d[i] + 0.7152 * d[i + 1] + 0.0722 * d[i + 2]);
  done([c.toDataURL('image/png'), grey]);
};
img.onerror = () => done(null);
img.src = src;
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--hide-scrollbars"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_script_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def fixed_digest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The golden-test digest (fixed date and papers) as an .html file."""
    folder = tmp_path_factory.mktemp("fixed")
    db = f"sqlite:///{folder}/g.db"
    store_real_papers(db)
    config = load_config(make_config(folder, db, [ADA]))
    compose_due(open_database(db), config, T0 + timedelta(hours=3))
    from email import message_from_bytes, policy
    msg = message_from_bytes(outbox(db)[0].message or b"", policy=policy.default)
    path = folder / "digest.html"
    path.write_text(msg.get_body(("html",)).get_content(), encoding="utf-8")  # type: ignore[union-attr]
    return path


@pytest.fixture(scope="module")
def demo_outbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The outbox folder `make demo` writes: .eml files, .html pages, index.html."""
    folder = tmp_path_factory.mktemp("demo")
    assert run_demo(folder)
    return folder / "outbox"


@pytest.fixture(scope="module")
def demo_pages(demo_outbox: Path) -> list[Path]:
    """Every digest `make demo` writes, as the file transport's .html pages, named by recipient."""
    pages = []
    for page in sorted(demo_outbox.glob("*@*.html")):
        named = demo_outbox.parent / f"{page.stem.split('-')[-1].split('@')[0]}.html"
        named.write_bytes(page.read_bytes())
        pages.append(named)
    assert len(pages) == 2
    return pages


def open_page(driver: Any, page: Path, width: int, mode: str) -> None:
    """Open `page` on a screen `width` CSS px wide, in light or dark mode."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": SCREEN_HEIGHT, "deviceScaleFactor": 1, "mobile": width < 600})
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {
        "features": [{"name": "prefers-color-scheme", "value": mode}]})
    driver.get(page.as_uri())


def show(driver: Any, page: Path, width: int, mode: str) -> dict[str, Any]:
    """Open a digest page; its layout metrics."""
    open_page(driver, page, width, mode)
    metrics: dict[str, Any] = driver.execute_script(METRICS_JS, width)
    return metrics


def screenshot(driver: Any, full: bool = False, height: int | None = None) -> bytes:
    """PNG of the first screen, of the whole page, or of its top `height` px."""
    options: dict[str, Any] = {"format": "png", "captureBeyondViewport": full or bool(height)}
    if height:
        width = driver.execute_script("return document.documentElement.clientWidth")
        options["clip"] = {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", options)
    return base64.b64decode(shot["data"])


def shrink(driver: Any, png: bytes, width: int) -> tuple[bytes, np.ndarray]:
    """(small PNG, grey pixels) of a first-screen PNG at 1/SHRINK scale, decoded by the browser."""
    size = (width // SHRINK, SCREEN_HEIGHT // SHRINK)
    src = "data:image/png;base64," + base64.b64encode(png).decode()
    result = driver.execute_async_script(SHRINK_JS, src, *size)
    assert result, "the browser could not decode the screenshot"
    small = base64.b64decode(result[0].split(",", 1)[1])
    return small, np.asarray(result[1], dtype=np.float64)


def luminance(css_color: str) -> float:
    """Relative luminance (0-1) of an `rgb(...)` / `rgba(...)` colour."""
    r, g, b = (int(x) / 255 for x in re.findall(r"\d+", css_color)[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def fits(metrics: dict[str, Any]) -> None:
    """Nothing wider than the screen, nothing cut off inside its box."""
    assert metrics["scrollWidth"] <= metrics["viewport"], metrics
    assert metrics["outside"] == [] and metrics["clipped"] == 0, metrics


def save(name: str, png: bytes) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / name).write_bytes(png)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("width", WIDTHS)
def test_demo_digests_fit_every_width_in_light_and_dark(
        browser: Any, demo_pages: list[Path], width: int, mode: str) -> None:
    for page in demo_pages:
        metrics = show(browser, page, width, mode)
        save(f"{page.stem}-{width}-{mode}.png", screenshot(browser, full=True))
        fits(metrics)
        assert metrics["main"] == min(width, 600)  # fills a phone, a 600 px card on a desktop
        assert metrics["tldrSize"] >= 14
        background, divider = luminance(metrics["background"]), luminance(metrics["divider"])
        assert (background > 0.95) if mode == "light" else (background < 0.1), metrics
        assert abs(divider - background) < 0.12, metrics  # a hairline, not a stark line


@pytest.mark.parametrize("width", WIDTHS)
def test_a_client_that_strips_style_still_fits(browser: Any, demo_pages: list[Path],
                                                tmp_path: Path, width: int) -> None:
    for page in demo_pages:
        bare = re.sub(r"<style>.*?</style>", "", page.read_text(), flags=re.S)
        assert "@media" not in bare
        stripped = tmp_path / page.name
        stripped.write_text(bare, encoding="utf-8")
        metrics = show(browser, stripped, width, "light")
        fits(metrics)
        assert min(width, 600) - 16 <= metrics["main"] <= 600  # fluid without media queries


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("width", WIDTHS)
def test_first_screen_looks_like_the_golden_one(browser: Any, fixed_digest: Path,
                                                width: int, mode: str) -> None:
    show(browser, fixed_digest, width, mode)
    png = screenshot(browser)
    save(f"golden-{width}-{mode}.png", png)
    small, grey = shrink(browser, png, width)
    golden = GOLDEN / f"email-{width}-{mode}.png"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_bytes(small)
    assert golden.exists(), f"missing {golden}; run with UPDATE_GOLDEN=1 to create it"
    expected = shrink(browser, golden.read_bytes(), width)[1]
    difference = float(np.abs(grey - expected).mean())
    assert difference < GOLDEN_TOLERANCE, f"{width}px {mode}: differs by {difference:.1f}"


def test_golden_check_survives_a_font_change_but_not_a_broken_layout(
        browser: Any, fixed_digest: Path, tmp_path: Path) -> None:
    golden = shrink(browser, (GOLDEN / "email-360-light.png").read_bytes(), 360)[1]
    html = fixed_digest.read_text()

    def difference(variant: str) -> float:
        page = tmp_path / "variant.html"
        page.write_text(variant, encoding="utf-8")
        show(browser, page, 360, "light")
        return float(np.abs(shrink(browser, screenshot(browser), 360)[1] - golden).mean())

    serif = html.replace("</head>", "<style>* { font-family: serif !important; }</style></head>")
    fixed = html.replace("</head>", "<style>table.main { width: 600px !important; "
                                    "max-width: none !important; }</style></head>")
    assert difference(serif) < GOLDEN_TOLERANCE
    assert difference(fixed) > GOLDEN_TOLERANCE


@pytest.mark.parametrize("width", (1200, 360))
def test_the_outbox_index_fits_and_links_each_digest_page(
        browser: Any, demo_outbox: Path, width: int) -> None:
    from selenium.webdriver.common.by import By

    open_page(browser, demo_outbox / "index.html", width, "light")
    overflow = browser.execute_script("return document.documentElement.scrollWidth")
    assert overflow <= width
    links = browser.find_elements(By.CSS_SELECTOR, "a.subject")
    assert len(links) == 2 and all(a.get_attribute("href").endswith(".html") for a in links)
    links[0].click()
    assert "For you" in browser.page_source and browser.current_url.endswith(".html")


def test_demo_screenshots_for_the_docs(browser: Any, demo_pages: list[Path]) -> None:
    if not os.environ.get("DIGEST_DOCS_SCREENSHOTS"):
        pytest.skip("set DIGEST_DOCS_SCREENSHOTS=1 to rewrite the screenshots in docs/")
    ada = next(p for p in demo_pages if p.stem == "ada")
    DOCS.mkdir(exist_ok=True)
    for width, mode, height in ((800, "light", 1500), (360, "dark", 1400)):
        show(browser, ada, width, mode)
        (DOCS / f"demo-digest-{width}-{mode}.png").write_bytes(screenshot(browser, height=height))
