"""Load a config file: YAML -> `Config`, every problem reported at once, paths resolved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from digest.config.messages import describe_errors
from digest.config.model import Config
from digest.errors import ConfigError


def duplicate_problems(doc: dict[str, Any]) -> list[str]:
    """Cross-field check: source names and subscriber emails must be unique."""
    problems = []
    for where, field in (("sources", "name"), ("subscribers", "email")):
        seen: dict[str, int] = {}
        items = doc.get(where) if isinstance(doc.get(where), list) else []
        for index, item in enumerate(items or []):
            value = str(item.get(field, "")).strip().lower() if isinstance(item, dict) else ""
            if value and value in seen:
                problems.append(f"{where}[{index}].{field}: {value!r} repeats {where}[{seen[value]}];"
                                f" each {field} must be unique")
            seen.setdefault(value, index)
    return problems


def read_yaml(path: Path) -> Any:
    """Read a YAML file, turning I/O and syntax errors into ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read the file: {exc.strerror}"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), ["the file is not UTF-8 text; save it as UTF-8"]) from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(str(path), [f"{where}invalid YAML: {problem}"]) from exc


def load_config(path: str | Path) -> Config:
    """Load and validate a config file; relative paths are resolved against its folder."""
    path = Path(path)
    doc = read_yaml(path)
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ConfigError(str(path), ["the top level must be a mapping of keys (database, sources, ...)"])
    doc = _with_subscribers_file(path, doc)
    problems = duplicate_problems(doc)
    try:
        config = Config.model_validate(doc)
    except ValidationError as exc:
        raise ConfigError(str(path), describe_errors(exc) + problems) from exc
    if problems:
        raise ConfigError(str(path), problems)
    return _resolved(config, path)


def _with_subscribers_file(path: Path, doc: dict[str, Any]) -> dict[str, Any]:
    extra = doc.get("subscribers_file")
    if not extra:
        return doc
    sub_path = (path.parent / str(extra)).resolve()
    loaded = read_yaml(sub_path)
    if isinstance(loaded, dict):
        loaded = loaded.get("subscribers", [])
    if not isinstance(loaded, list):
        raise ConfigError(str(sub_path), ["expected a list of subscribers (or subscribers: [...])"])
    return {**doc, "subscribers": list(doc.get("subscribers") or []) + loaded}


def _resolved(config: Config, path: Path) -> Config:
    base = path.parent.resolve()
    db = config.database
    if db.startswith("sqlite:///") and not db.startswith("sqlite:////") and ":memory:" not in db:
        db = "sqlite:///" + str(base / db[len("sqlite:///"):])
    sources = [s.model_copy(update={"path": base / s.path}) if s.path else s for s in config.sources]
    d = config.delivery
    delivery = d.model_copy(update={
        "outbox_dir": base / d.outbox_dir,
        "templates_dir": base / d.templates_dir if d.templates_dir else None,
        "smtp": d.smtp.model_copy(update={"ca_file": base / d.smtp.ca_file})
        if d.smtp.ca_file else d.smtp})
    sem = config.ranking.semantic
    if sem.model and not Path(sem.model).is_absolute() and (base / sem.model).exists():
        sem = sem.model_copy(update={"model": str(base / sem.model)})
    elif sem.backend == "model2vec" and not sem.model:
        sem = sem.model_copy(update={"model": str(base / "models" / "minilm-m2v")})
    ranking = config.ranking.model_copy(update={"semantic": sem})
    return config.model_copy(update={"database": db, "sources": sources, "delivery": delivery,
                                     "ranking": ranking, "path": path.resolve()})


def check_environment(config: Config) -> None:
    """Problems only the environment can fix (a secret's variable unset), as a ConfigError."""
    smtp = config.delivery.smtp
    if config.delivery.transport == "smtp" and smtp.username and smtp.password() is None:
        raise ConfigError(str(config.path or "config"), [
            f"delivery.smtp.password_env: the environment variable {smtp.password_env} is not "
            "set; set it to the SMTP password where digest runs"])
