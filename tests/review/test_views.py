"""Review figures in the reports: team page, agent page, the `reviews` sheet of audit.xlsx."""

from __future__ import annotations

import re

import pytest
from openpyxl import load_workbook

import csaudit as ca
from csaudit.report.excel import write_audit_workbook
from csaudit.report.views import AgentReport, TeamReport
from tests.chat_builders import A, B

from .helpers import fill
from .test_loading import V1, V2


@pytest.fixture(scope="module")
def reviewed_dir(small_audit, tmp_path_factory):
    d = tmp_path_factory.mktemp("views")
    small_audit.save(d / "audit")
    blank = ca.review.write_workbook(small_audit, ca.review.sample(small_audit, per_agent=10, seed=1), d / "r.xlsx")
    one = fill(blank, d / "1.xlsx", "甲", V1, {"a6": {"override_score": 90}})
    two = fill(blank, d / "2.xlsx", "乙", V2, {"a6": {"override_score": 80},
                                               "a2": {"dispute": "是", "dispute_reason": "<b>不同意</b>"}})
    ca.review.save_reviews(d / "audit", ca.review.load([one, two], small_audit))
    return d / "audit"


def test_team_page(reviewed_dir):
    html = str(TeamReport(reviewed_dir).reviews())
    assert "lexicon:refusal" in html and "67%" in html and "35%–88%" in html  # 6/9, Wilson 0.354–0.879
    assert re.search(r"<td[^>]*>9</td>", html)
    assert "0.29" in html  # refusal κ = 2/7
    assert "Cohen's κ 0.43 over 6" in html  # overall κ = 3/7


def test_agent_page(reviewed_dir, small_audit):
    conv = small_audit.conversations.set_index("conversation_id")["qa_score"]
    expected = (conv[["a1", "a2", "a3", "a4", "a5"]].sum() + 85) / 6
    html = str(AgentReport(reviewed_dir, A).reviews())
    assert f'data-kpi="reviewed_qa_score">{expected:.1f}<' in html
    assert "Open disputes 待处理申诉 (1)" in html and "&lt;b&gt;不同意&lt;/b&gt;" in html  # escaped
    assert "No reviewer override" in str(AgentReport(reviewed_dir, B).reviews())


def test_no_reviews_and_workbook_sheet(small_audit, reviewed_dir, tmp_path):
    small_audit.save(tmp_path / "plain")
    assert "No reviews yet" in str(TeamReport(tmp_path / "plain").reviews())
    out = write_audit_workbook(reviewed_dir, tmp_path / "audit.xlsx", lang="en")  # headers: column keys in English
    ws = load_workbook(out)["reviews"]
    rows = [[c.value for c in r] for r in ws.iter_rows()]
    assert rows[0][:4] == ["rule", "rule_version", "n_reviews", "precision"]
    by_rule = {r[0]: r for r in rows[1:]}
    assert by_rule["lexicon:refusal"][2] == 9 and by_rule["lexicon:off_platform"][3] == 0
