"""The documentation site builds without a warning: no broken link or anchor between the
pages of docs/, no page left out of the nav, no docstring that breaks the API pages.

Skipped, with the reason, when the ``docs`` extra (mkdocs, mkdocstrings[python]) is not
installed: ``pip install -e '.[docs]'``.
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _missing() -> list[str]:
    """The distributions of the docs extra whose modules cannot be found."""
    missing = []
    for dist, module in (("mkdocs", "mkdocs"), ("mkdocstrings", "mkdocstrings"),
                         ("mkdocstrings-python", "mkdocstrings_handlers.python")):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            missing.append(dist)
    return missing


MISSING = _missing()
pytestmark = pytest.mark.skipif(
    bool(MISSING), reason=f"docs extra not installed ({', '.join(MISSING)} missing): "
                          "pip install -e '.[docs]'")


def build(config: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config),
         "--site-dir", str(site)],
        capture_output=True, text=True, cwd=config.parent, timeout=300)


@pytest.mark.slow
def test_site_builds_strict(tmp_path):
    result = build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert result.returncode == 0, result.stdout + result.stderr
    site = tmp_path / "site"
    # every page of docs/ became a page of the site, the API pages with their members
    for page in sorted((ROOT / "docs").rglob("*.md")):
        relative = page.relative_to(ROOT / "docs").with_suffix("")
        html = site / ("index.html" if relative.name == "index" and relative.parent == Path(".")
                       else relative / "index.html")
        assert html.is_file(), f"{page} was not built"
    api = (site / "api" / "stdp_sim" / "index.html").read_text(encoding="utf-8")
    assert "STDPRule" in api and "classify" in api


def test_strict_build_fails_on_a_broken_anchor(tmp_path):
    """The site's link checks are on: the same validation settings turn a link to a
    missing anchor into a failed build (the API plugin is left out: it is not needed)."""
    yaml = pytest.importorskip("yaml")
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    validation = yaml.safe_load(text)["validation"]
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# Home\n\nSee [the section](other.md#no-such-heading).\n")
    (docs / "other.md").write_text("# Other\n\n## A heading\n")
    config = tmp_path / "mkdocs.yml"
    config.write_text(yaml.safe_dump({"site_name": "t", "validation": validation,
                                      "nav": ["index.md", "other.md"]}))
    result = build(config, tmp_path / "site")
    assert result.returncode != 0
    assert "no-such-heading" in result.stdout + result.stderr
    (docs / "index.md").write_text("# Home\n\nSee [the section](other.md#a-heading).\n")
    assert build(config, tmp_path / "site").returncode == 0
