"""A real browser (headless Debian chromium via Selenium) through the whole subscription.

Screenshots of each page go to test-artifacts/. Skipped when chromium is not installed,
unless DIGEST_REQUIRE_BROWSER is set (as .ci/run does, after installing it).
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import yaml

from digest.config import load_config
from digest.daemon.health import serve_app
from digest.storage.db import open_database
from tests.smtpsink import SmtpServer, free_port

ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

if not (CHROMIUM and CHROMEDRIVER) and not os.environ.get("DIGEST_REQUIRE_BROWSER"):
    pytest.skip("chromium/chromedriver not installed", allow_module_level=True)


@pytest.fixture
def live_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, SmtpServer]]:
    """The web app on a real port, sending its emails to an aiosmtpd sink."""
    monkeypatch.setenv("DIGEST_SECRET_KEY", "browser-test")
    smtp = SmtpServer().start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    doc = {"database": f"sqlite:///{tmp_path}/web.db",
           "delivery": {"transport": "smtp", "from": "Paper Digest <digest@lab.example>",
                        "base_url": base,
                        "smtp": {"host": "127.0.0.1", "port": smtp.port, "security": "none"}}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(doc))
    config = load_config(tmp_path / "c.yaml")
    app = serve_app(config, open_database(config.database))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield base, smtp
    server.should_exit = True
    thread.join(timeout=10)
    smtp.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1000,1400"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def wait_text(driver: Any, text: str) -> None:
    """Wait until the (new) page shows `text`; clicks navigate asynchronously."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 15).until(lambda d: text in d.page_source)


def shot(driver: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def test_subscribe_confirm_edit_unsubscribe_in_a_browser(
        live_site: tuple[str, SmtpServer], browser: Any) -> None:
    from selenium.webdriver.common.by import By

    base, smtp = live_site
    browser.get(base + "/")
    assert "Get trending papers" in browser.page_source
    browser.find_element(By.ID, "email").send_keys("ada@example.org")
    browser.find_element(By.ID, "topics").send_keys("3D Gaussian splatting")
    browser.find_element(By.ID, "keywords").send_keys("NeRF, 3DGS")
    shot(browser, "1-subscribe")
    browser.find_element(By.CSS_SELECTOR, "button[value=subscribe]").click()
    wait_text(browser, "Check your inbox")
    shot(browser, "2-check-inbox")

    deadline = time.monotonic() + 10
    while not smtp.sink.received and time.monotonic() < deadline:
        time.sleep(0.1)
    body = smtp.sink.received[-1].message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    link = re.search(r"http://127\.0\.0\.1:\d+/confirm/\S+", body)
    assert link, body
    browser.get(link.group(0))
    wait_text(browser, "Yes, confirm")
    shot(browser, "3-confirm")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_text(browser, "Your subscription is confirmed.")
    shot(browser, "4-manage")

    topics = browser.find_element(By.ID, "topics")
    topics.clear()
    topics.send_keys("neural radiance fields")
    browser.find_element(By.CSS_SELECTOR, "button[value=save]").click()
    wait_text(browser, "Saved.")
    assert "neural radiance fields" in browser.find_element(By.ID, "topics").get_attribute("value")
    shot(browser, "5-saved")

    browser.find_element(By.LINK_TEXT, "Unsubscribe").click()
    wait_text(browser, "Stop sending")
    shot(browser, "6-unsubscribe")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_text(browser, "You are unsubscribed")
    shot(browser, "7-unsubscribed")
