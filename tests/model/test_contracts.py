"""Declared table contracts (csaudit/model/contracts.py): complete, typed, and the README in sync."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from csaudit.model import contracts as K
from csaudit.model.contracts import AGENTS, CONTRACTS, Column, Contract, contract, render_readme


def test_every_table_of_the_sample_audit_is_declared_with_its_dtypes(sample_shop_audit) -> None:
    sample_audit = sample_shop_audit  # the opt-in shop figures included
    tables = [f.name for f in dataclasses.fields(sample_audit) if isinstance(getattr(sample_audit, f.name), pd.DataFrame)]
    assert set(tables) == set(CONTRACTS)
    for name in tables:
        df = getattr(sample_audit, name)
        spec = contract(name)
        assert spec.undeclared(df.columns) == [], name
        assert spec.dtype_mismatches(df) == [], name
        assert [c for c in spec.required if c not in df.columns] == [], name  # nothing required that is not there
        for c in spec.columns:
            assert c.definition.strip() and c.unit.strip() and c.dtype.strip(), (name, c.name)


def test_patterns_cover_columns_named_from_settings_and_lexicons() -> None:
    assert AGENTS.column("within_3min_rate").name == "within_3min_rate"  # exact first
    assert AGENTS.column("within_45s_rate").name == "within_<t>_rate"
    assert AGENTS.column("within_2h_rate").unit == "0–1"
    assert AGENTS.column("shipping_hits").name == "<category>_hits"  # a shop lexicon's own category
    assert AGENTS.column("compliment_per100").name == "<category>_per100"
    assert AGENTS.column("qc_no_thanks").name == "qc_<rule>"
    assert AGENTS.column("no_such_column") is None
    assert AGENTS.undeclared(["agent", "within_10s_rate", "xyz"]) == ["xyz"]
    with pytest.raises(KeyError, match="tables: messages"):
        contract("nope")


def test_dtype_alternatives_and_timestamps() -> None:
    spec = Contract("t", "a row", (Column("a", "int64|float64", "count", "d"), Column("t", "ts", "time", "d")))
    ok = pd.DataFrame({"a": [1.0], "t": pd.to_datetime(["2026-11-09"]).tz_localize("Asia/Shanghai")})
    assert spec.dtype_mismatches(ok) == []
    bad = pd.DataFrame({"a": ["x"], "t": pd.to_datetime(["2026-11-09"])})
    assert [m.split(":")[0] for m in spec.dtype_mismatches(bad)] == ["a", "t"]


def test_readme_tables_are_generated_from_the_contracts(repo_root: Path) -> None:
    readme = (repo_root / "README.md").read_text(encoding="utf-8")
    assert render_readme(readme) == readme, "run: python -m csaudit.model.contracts --readme README.md"
    assert set(K.readme_blocks(readme)) == set(CONTRACTS)
    # the reviewed wording lives in the contracts now
    assert "| `avg_response_s` | s | 平响: mean capped response time" in readme


def test_render_replaces_only_marked_blocks_and_check_mode(tmp_path: Path) -> None:
    text = "# t\n\nkeep me\n\n<!-- contract:sales -->\nstale\n<!-- /contract:sales -->\n\nafter\n"
    out = render_readme(text)
    assert "stale" not in out and "| `cs_sales` | money |" in out and out.startswith("# t\n\nkeep me\n")
    assert out.endswith("<!-- /contract:sales -->\n\nafter\n")
    p = tmp_path / "README.md"
    p.write_text(text, encoding="utf-8")
    assert K.main(["--readme", str(p), "--check"]) == 1
    assert K.main(["--readme", str(p)]) == 0
    assert p.read_text(encoding="utf-8") == out
    assert K.main(["--readme", str(p), "--check"]) == 0
    with pytest.raises(KeyError):
        render_readme("<!-- contract:nope -->\n<!-- /contract:nope -->")


def test_plain_strips_markdown_for_the_workbook() -> None:
    assert K.plain("capped at *600 s* (`latency.cap_s`)") == "capped at 600 s (latency.cap_s)"
    assert K.plain("**an estimate**: gaps ≤ *120 s*") == "an estimate: gaps ≤ 120 s"
