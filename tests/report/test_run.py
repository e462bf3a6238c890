"""Batch helpers that need no kernel (csaudit/report/run.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from csaudit.report.run import Job, JobResult, ReportRun, check_kernel


def test_summary_names_failures_and_their_notebooks(tmp_path: Path) -> None:
    nb = tmp_path / "a.ipynb"
    nb.write_text("{}", encoding="utf-8")
    ok = Job("agent", "店:甲", "in.ipynb", str(tmp_path / "b.ipynb"), None, {}, "t")
    bad = Job("agent", "店:乙", "in.ipynb", str(nb), None, {}, "t")
    run = ReportRun(out=tmp_path, results=[JobResult(ok, True, 1.0, 1), JobResult(bad, False, 2.0, 2, "ValueError: x")])
    assert not run.ok and [r.job.name for r in run.failed] == ["店:乙"]
    text = run.summary()
    assert "1/2 agent reports ok" in text
    assert f"FAILED agent '店:乙' after 2 attempt(s): ValueError: x — executed notebook: {nb}" in text


def test_missing_kernel_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="ipykernel install"):
        check_kernel("no-such-kernel-xyz")


def test_the_notebooks_ship_inside_the_package() -> None:
    import csaudit
    from csaudit.report.run import AGENT_NOTEBOOK, NOTEBOOK_DIR, TEAM_NOTEBOOK

    pkg = Path(csaudit.__file__).resolve().parent
    assert NOTEBOOK_DIR == pkg / "notebooks"
    for nb in (AGENT_NOTEBOOK, TEAM_NOTEBOOK, "explore.ipynb"):
        assert (NOTEBOOK_DIR / nb).is_file(), nb
    import tomllib

    pyproject = tomllib.loads((pkg.parent / "pyproject.toml").read_text(encoding="utf-8"))
    assert "notebooks/*.ipynb" in pyproject["tool"]["setuptools"]["package-data"]["csaudit"]
    assert (pkg.parent / "notebooks").resolve() == NOTEBOOK_DIR  # the analysts' link


def test_resolve_kernel() -> None:
    from csaudit.report.run import resolve_kernel

    assert resolve_kernel("csaudit") == "csaudit"  # registered by make for the project's venv
    with pytest.raises(ValueError, match="not installed"):
        resolve_kernel("no-such-kernel")


def test_privacy_note_says_what_is_masked_and_where_the_raw_data_is() -> None:
    from csaudit.report.run import privacy_note

    masked = privacy_note({"masked": True, "raw_data": ["/data/exports", "/data/<orders>.csv"]}, True)
    assert "masked" in masked and "/data/exports" in masked and "&lt;orders&gt;" in masked and "<orders>" not in masked
    assert "wrote no unmasked copy" in privacy_note({"masked": True}, True)
    assert "holds the raw" in privacy_note({}, True)  # a raw audit reported by the API with mask=True
    assert "NOT masked" in privacy_note({"masked": False, "raw_data": ["x"]}, False)
