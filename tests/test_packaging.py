"""The wheel carries the templates and the migrations, and installs the `digest` script."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_wheel_ships_templates_migrations_and_entry_point(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("paper_digest-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {p.relative_to(ROOT / "templates").as_posix()
               for p in (ROOT / "templates").rglob("*") if p.is_file()}
    assert shipped and {f"digest/templates/{n}" for n in shipped} <= set(names)
    assert any(n.startswith("digest/storage/migrations/versions/0001") for n in names)
    assert "digest/storage/migrations/env.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "digest = digest.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
