"""The documentation: every relative link and image resolves, and the README stays short."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    text = page.read_text()
    targets = [t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t)]
    missing = [t for t in targets
               if t.split("#")[0] and not (page.parent / t.split("#")[0]).exists()]
    assert not missing, f"{page.name}: links to missing files {missing}"


def test_readme_is_short_and_starts_with_the_two_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 200
    assert lines[2:6] == ["```", lines[3], lines[4], "```"]
    assert lines[3].startswith("make run") and lines[4].startswith("make test")
    linked = set(LINK.findall("\n".join(lines)))
    assert {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")} <= linked


@pytest.mark.slow
def test_the_documentation_site_builds_with_every_public_name(tmp_path):
    """`make docs`: mkdocs --strict fails on a broken page, nav entry or docstring reference."""
    import fashion_cluster

    pytest.importorskip("mkdocstrings_handlers.python", reason="the [docs] extra is not installed")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
                           "--site-dir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    reference = (tmp_path / "reference" / "index.html").read_text()
    missing = [name for name in fashion_cluster.__all__ if name not in reference]
    assert not missing, f"API reference lacks {missing}"
