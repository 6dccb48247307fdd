"""Config validation: valid files summarise, invalid ones name file, field and fix, exit 2."""

from __future__ import annotations

import subprocess
import sys
from datetime import time
from pathlib import Path

import pytest

from digest.cli import main
from digest.config import load_config
from digest.errors import ConfigError

ROOT = Path(__file__).parents[1]

ISSUE_EXAMPLE = """
database: sqlite:///var/digest.db
sources:
  - {name: arxiv-ml, type: arxiv_rss, url: "https://rss.arxiv.org/rss/cs.LG+cs.AI"}
  - {name: arxiv-q,  type: arxiv_api, query: "cat:cs.CL AND abs:retrieval"}
  - {name: hf,       type: hf_daily}
  - {name: lab-blog, type: rss, url: "https://example.org/feed.xml"}
  - {name: backfill, type: jsonl, path: data/papers.jsonl}
subscribers:
  - email: ada@example.org
    timezone: Europe/London
    send_at: "07:30"
    max_papers: 10
    topics: ["formal theorem proving with language models"]
    keywords: ["Lean 4", "autoformalization"]
    authors: ["Kaiyu Yang"]
    categories: [cs.LO, cs.AI]
    exclude: ["medical imaging"]
    liked: ["2306.15626"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "digest.yaml"
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return info.value.problems


def test_the_documented_example_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ISSUE_EXAMPLE))
    assert [s.type for s in config.sources] == ["arxiv_rss", "arxiv_api", "hf_daily", "rss", "jsonl"]
    ada = config.subscribers[0]
    assert ada.send_at == time(7, 30) and ada.liked == ["2306.15626"]
    assert config.database == f"sqlite:///{tmp_path.resolve()}/var/digest.db"
    assert config.sources[4].path == tmp_path.resolve() / "data/papers.jsonl"


@pytest.mark.parametrize("name", ["example.yaml", "demo.yaml"])
def test_shipped_configs_are_valid(name: str) -> None:
    assert main(["check-config", "-c", str(ROOT / "config" / name)]) == 0


@pytest.mark.parametrize(("snippet", "path", "hint"), [
    ("subscribers: [{email: a@example.org, timezone: Mars/Olympus}]",
     "subscribers[0].timezone", "IANA"),
    ("subscribers: [{email: not-an-email}]", "subscribers[0].email", "not a valid email"),
    ("subscribers: [{email: a@example.org, send_at: '25:00'}]", "subscribers[0].send_at", "HH:MM"),
    ("subscribers: [{email: a@example.org, send_at: 25:00}]", "subscribers[0].send_at", "HH:MM"),
    ("subscribers: [{email: a@example.org, liked: [abc]}]", "subscribers[0].liked", "arXiv id"),
    ("subscribers: [{email: a@example.org, colour: red}]", "subscribers[0].colour", "unknown key"),
    ('subscribers: [{email: a@example.org, name: "Ada\\r\\nBcc: x@y.org"}]', "subscribers[0].name",
     "one line"),
    ('delivery: {from: "x\\nBcc: y@z.org <a@b.org>"}', "delivery.from", "one line"),
    ("sources: [{name: x, type: rss, url: 'not a url'}]", "sources[0].url", "valid URL"),
    ("sources: [{name: x, type: gopher}]", "sources[0]", "arxiv_rss, arxiv_api"),
    ("sources: [{name: x, type: rss}]", "sources[0]", "give url"),
    ("sources: [{name: X Y, type: hf_daily}]", "sources[0].name", "lower-case"),
    ("databse: sqlite:///x.db", "databse", "unknown key"),
    ("database: mysql://x", "database", "postgresql+psycopg"),
])
def test_each_problem_names_the_field_and_the_fix(tmp_path: Path, snippet: str, path: str,
                                                  hint: str) -> None:
    found = problems(tmp_path, snippet)
    assert any(p.startswith(path + ":") and hint in p for p in found), found


def test_duplicates_are_reported_with_other_problems(tmp_path: Path) -> None:
    found = problems(tmp_path, """
subscribers:
  - {email: ada@example.org}
  - {email: bob@example.org, timezone: Nowhere/Land}
  - {email: ADA@example.org}
sources:
  - {name: hf, type: hf_daily}
  - {name: hf, type: hf_daily}
""")
    assert any(p.startswith("subscribers[2].email:") and "repeats subscribers[0]" in p for p in found)
    assert any(p.startswith("sources[1].name:") for p in found)
    assert any(p.startswith("subscribers[1].timezone:") for p in found)


def test_bad_yaml_names_line_and_column(tmp_path: Path) -> None:
    found = problems(tmp_path, "sources:\n  - {name: x, type: rss\n")
    assert len(found) == 1 and "invalid YAML" in found[0] and "line" in found[0]


def test_subscribers_file_is_merged_and_checked(tmp_path: Path) -> None:
    (tmp_path / "subs.yaml").write_text("- {email: c@example.org}\n- {email: bad}\n")
    found = problems(tmp_path, "subscribers_file: subs.yaml\nsubscribers: [{email: a@example.org}]")
    assert found == [p for p in found if p.startswith("subscribers[2].email")]


def test_check_config_cli_exit_codes_and_messages(tmp_path: Path) -> None:
    bad = write(tmp_path, "subscribers: [{email: a@example.org, timezone: Mars/Olympus}]\n"
                          "sources: [{name: x, type: gopher}]\n")
    run = subprocess.run([sys.executable, "-m", "digest.cli", "check-config", "-c", str(bad)],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 2 and all(str(bad) in line for line in lines)
    good = write(tmp_path, ISSUE_EXAMPLE)
    ok = subprocess.run([sys.executable, "-m", "digest.cli", "check-config", "-c", str(good)],
                        capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and "sources:     5" in ok.stdout


def test_poll_with_bad_config_exits_2_and_touches_nothing(tmp_path: Path) -> None:
    bad = write(tmp_path, "database: sqlite:///db.sqlite\nsources: [{name: x, type: rss}]\n")
    assert main(["poll", "-c", str(bad)]) == 2
    assert not (tmp_path / "db.sqlite").exists()


def test_missing_file(tmp_path: Path) -> None:
    assert main(["check-config", "-c", str(tmp_path / "nope.yaml")]) == 2


def test_config_subscribers_are_written_only_when_they_change(tmp_path: Path) -> None:
    from sqlmodel import Session, select

    from digest.storage.db import open_database, session_scope
    from digest.storage.models import Subscriber
    from digest.storage.subscribers import sync_subscribers

    config = load_config(write(tmp_path, ISSUE_EXAMPLE))
    engine = open_database(f"sqlite:///{tmp_path}/s.db")
    with session_scope(engine) as s:
        sync_subscribers(s, config.subscribers)
    with Session(engine) as s:
        first = s.exec(select(Subscriber.updated_at)).one()
    with session_scope(engine) as s:
        sync_subscribers(s, config.subscribers)
    with Session(engine) as s:
        assert s.exec(select(Subscriber.updated_at)).one() == first
    changed = config.subscribers[0].model_copy(update={"send_at": time(8, 0)})
    with session_scope(engine) as s:
        sync_subscribers(s, [changed])
    with Session(engine) as s:
        row = s.exec(select(Subscriber)).one()
    assert row.send_at == "08:00" and row.updated_at > first


def test_max_papers_limit_is_the_rankers(tmp_path: Path) -> None:
    from digest.rank.model import MAX_PAPERS

    path = tmp_path / "c.yaml"
    path.write_text(f"subscribers: [{{email: a@example.org, max_papers: {MAX_PAPERS + 1}}}]\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "subscribers[0].max_papers" in str(err.value)
    path.write_text(f"subscribers: [{{email: a@example.org, max_papers: {MAX_PAPERS}}}]\n")
    assert load_config(path).subscribers[0].max_papers == MAX_PAPERS


def test_listing_a_polite_host_keeps_the_publishers_gaps(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "fetch:\n  polite_hosts: {journals.example.org: 2, "
                                         "ebi.ac.uk: 0}\n"))
    hosts = config.fetch.polite_hosts
    assert hosts["journals.example.org"] == 2 and hosts["arxiv.org"] == 3.0  # arXiv's 3 s stays
    assert hosts["ebi.ac.uk"] == 0  # ... and a listed host's gap can be lifted
