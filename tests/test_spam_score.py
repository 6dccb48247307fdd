"""SpamAssassin (Debian's `spamassassin`, offline: -L) scores a real demo digest.

Skipped when the binary is absent (`apt-get install spamassassin`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.demo import DemoDigest, run_demo

SPAMASSASSIN = shutil.which("spamassassin")
pytestmark = pytest.mark.skipif(SPAMASSASSIN is None and not os.environ.get("DIGEST_REQUIRE_SPAMASSASSIN"),
                                reason="spamassassin is not installed")


def spam_report(raw: bytes, home: Path) -> tuple[float, list[str]]:
    """(score, rules hit) of one message, local tests only, ALL_TRUSTED left out."""
    done = subprocess.run([str(SPAMASSASSIN), "-L", "-t", "--cf", "score ALL_TRUSTED 0"],
                          input=raw, capture_output=True, timeout=120, check=True,
                          env={"HOME": str(home), "PATH": "/usr/bin:/bin"})
    status = re.search(rb"^X-Spam-Status: \w+, score=(-?[\d.]+) .*?tests=([^\n]*(?:\n\s+[^\n]*)*)",
                       done.stdout, re.M)
    assert status, done.stdout[-2000:]
    rules = re.sub(rb"\s+", b"", status.group(2)).split(b"autolearn=")[0].decode()
    return float(status.group(1)), [r for r in rules.split(",") if r]


@pytest.fixture(scope="module")
def digests(tmp_path_factory: pytest.TempPathFactory) -> list[DemoDigest]:
    return run_demo(tmp_path_factory.mktemp("demo"))


def test_a_real_digest_scores_at_or_below_zero(digests: list[DemoDigest], tmp_path: Path) -> None:
    for digest in digests:
        score, rules = spam_report(digest.row.message or b"", tmp_path)
        assert "FONT_INVIS_MSGID" not in rules and "HTML_FONT_LOW_CONTRAST" not in rules, rules
        assert score <= 0.0, (digest.row.recipient, score, rules)
