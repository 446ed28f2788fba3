"""The verdict table of docs/claims.md is what --report-only rebuilds from the committed
store of the offline study (results/claims-offline): reproducible from a fresh clone."""

import re
import shutil
from pathlib import Path

import pytest

from bridge.claims.report import summary_table

from helpers import load_script

ROOT = Path(__file__).resolve().parents[1]
STORE = ROOT / "results" / "claims-offline"
BEGIN, END = "<!-- claims-offline summary: begin -->", "<!-- claims-offline summary: end -->"


PAGE = ROOT / "docs" / "claims.md"


def page_table() -> str:
    text = PAGE.read_text(encoding="utf-8")
    match = re.search(re.escape(BEGIN) + r"\n(.*?)\n" + re.escape(END), text, re.S)
    assert match, f"{PAGE} lacks the block between {BEGIN} and {END}"
    return match.group(1).strip()


@pytest.mark.skipif(not (STORE / "study.json").is_file(), reason="no committed store")
def test_report_only_on_the_committed_store_reproduces_the_docs_table(tmp_path, capsys):
    out = tmp_path / "claims-offline"
    shutil.copytree(STORE, out, ignore=shutil.ignore_patterns("checkpoints", ".lock"))
    script = load_script(ROOT / "experiments" / "thesis_claims.py")
    assert script.main(["--out", str(out), "--report-only"]) == 0
    capsys.readouterr()
    import json

    claims = json.loads((out / "report.json").read_text(encoding="utf-8"))["claims"]
    assert summary_table(claims) == page_table()
