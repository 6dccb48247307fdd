"""Subscription forms: parse, limit and validate with the same model as the config file."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import available_timezones

from pydantic import ValidationError

from digest.compose.schedule import WEEKDAYS
from digest.config import SubscriberConfig
from digest.config.messages import field_path

CATEGORIES: dict[str, str] = {  # arXiv code -> its name, as arxiv.org/category_taxonomy says
    "cs.AI": "Artificial Intelligence", "cs.CL": "Computation and Language",
    "cs.CV": "Computer Vision and Pattern Recognition", "cs.LG": "Machine Learning",
    "cs.IR": "Information Retrieval", "cs.RO": "Robotics",
    "cs.NE": "Neural and Evolutionary Computing", "cs.CR": "Cryptography and Security",
    "cs.SE": "Software Engineering", "cs.DB": "Databases",
    "cs.DC": "Distributed, Parallel, and Cluster Computing",
    "cs.DS": "Data Structures and Algorithms", "cs.GR": "Graphics",
    "cs.HC": "Human-Computer Interaction", "cs.LO": "Logic in Computer Science",
    "cs.MA": "Multiagent Systems", "cs.PL": "Programming Languages", "cs.SD": "Sound",
    "cs.SI": "Social and Information Networks", "cs.CY": "Computers and Society",
    "eess.AS": "Audio and Speech Processing", "eess.IV": "Image and Video Processing",
    "eess.SP": "Signal Processing", "eess.SY": "Systems and Control",
    "stat.ML": "Machine Learning (statistics)", "stat.ME": "Methodology (statistics)",
    "math.OC": "Optimization and Control", "math.ST": "Statistics Theory",
    "q-bio.QM": "Quantitative Methods (biology)", "q-bio.NC": "Neurons and Cognition",
    "physics.comp-ph": "Computational Physics", "quant-ph": "Quantum Physics",
    "astro-ph.IM": "Instrumentation and Methods for Astrophysics",
    "cond-mat.dis-nn": "Disordered Systems and Neural Networks",
}
ZONES = sorted(z for z in available_timezones() if "/" in z and not z.startswith("Etc/"))
LIMITS = {"topics": (10, 200), "keywords": (20, 80), "authors": (20, 80)}
MAX_FIELD = 4000
SEPARATORS = {"topics": r"[\r\n]+", "keywords": r"[\r\n,]+", "authors": r"[\r\n;]+"}


@dataclass
class FormResult:
    """Cleaned values (for re-display), per-field errors, and the validated model if valid."""

    values: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)
    subscriber: SubscriberConfig | None = None


def _lines(raw: str, name: str, errors: dict[str, str]) -> list[str]:
    items = [x.strip() for x in re.split(SEPARATORS[name], raw) if x.strip()]
    count, length = LIMITS[name]
    if len(raw) > MAX_FIELD or len(items) > count or any(len(x) > length for x in items):
        errors[name] = f"At most {count} entries of up to {length} characters each."
    return items[:count]


def _text(form: Any, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def parse_subscription(form: Any, need_email: bool = True,
                       email: str | None = None) -> FormResult:
    """Validate a subscribe/manage form; errors are keyed by field, worded for people.

    `email` fixes the address (the manage page never takes one from the form).
    """
    errors: dict[str, str] = {}
    values: dict[str, Any] = {
        "email": email if email is not None else _text(form, "email").strip()[:320],
        "topics": _lines(_text(form, "topics"), "topics", errors),
        "keywords": _lines(_text(form, "keywords"), "keywords", errors),
        "authors": _lines(_text(form, "authors"), "authors", errors),
        "categories": [c for c in form.getlist("categories") if c in CATEGORIES],
        "timezone": _text(form, "timezone").strip() or "UTC",
        "send_at": _text(form, "send_at").strip() or "07:00",
        "cadence": _text(form, "cadence").strip() or "daily",
        "weekly_day": _text(form, "weekly_day").strip() or "mon",
        "max_papers": _text(form, "max_papers").strip() or "10",
    }
    if len(values["categories"]) != len(form.getlist("categories")):
        errors["categories"] = "Pick categories from the list."
    if values["timezone"] not in ZONES and values["timezone"] != "UTC":
        errors["timezone"] = "Pick a time zone from the list."
    if values["weekly_day"] not in WEEKDAYS:
        errors["weekly_day"] = "Pick a day of the week from the list."
    if not (values["topics"] or values["keywords"] or values["authors"] or values["categories"]):
        errors["topics"] = "Tell us at least one topic, keyword, author or category."
    if not need_email and not values["email"]:
        values["email"] = "preview@example.org"
    model = _validate(values, errors)
    return FormResult(values, errors, model if not errors else None)


def _validate(values: dict[str, Any], errors: dict[str, str]) -> SubscriberConfig | None:
    try:
        return SubscriberConfig.model_validate(values)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            name = field_path(err["loc"]).split("[")[0].split(".")[0]
            message = err["msg"].removeprefix("Value error, ")
            if name == "email":
                message = "Enter a valid email address, like name@example.org."
            errors.setdefault(name, message[:200])
    return None
