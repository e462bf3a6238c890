"""Report sections computed from a hand-built saved audit (tests/report/conftest.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from csaudit.report import views
from csaudit.report.data import load_slice, read_table
from csaudit.report.html import esc

from .conftest import A1, A2, A3, PHONE, SCRIPT


def test_agent_slug_is_safe_and_unique() -> None:
    names = [A1, A2, "a/b\\c:d*?\"<>|", "a-b-c-d", "..", "", "x" * 300]
    slugs = [views.agent_slug(n) for n in names]
    assert len(set(slugs)) == len(slugs)
    for s in slugs:
        assert re.fullmatch(r"[0-9A-Za-z\u4e00-\u9fff-]{1,50}", s), s
    assert views.agent_slug(A1) == views.agent_slug(A1)


def test_fmt_value_units() -> None:
    assert views.fmt_value("reply_rate", 0.8333) == "83.3%"
    assert views.fmt_value("avg_response_s", 42.04) == "42.0 秒"
    assert views.fmt_value("qa_score", 55) == "55.0"
    assert views.fmt_value("slow_rounds", 0.0) == "0"
    assert views.fmt_value("cs_sales", 1234.5) == "¥1,234.50"
    assert views.fmt_value("answer_ratio", 1.0) == "1.00"
    assert views.fmt_value("qa_score", float("nan")) == "—"


def test_slice_reads_only_the_agent(tiny_audit: Path) -> None:
    s = load_slice(tiny_audit, A1)
    assert set(s.hits["agent"]) == {A1} and set(s.conversations["agent"]) == {A1}
    assert len(s.agents) == 3  # the team scorecard is whole (medians, rank)
    assert s.turns(["c1"])["conversation_id"].unique().tolist() == ["c1"]


def test_kpi_table_is_the_scorecard(tiny_audit: Path) -> None:
    agents = read_table(tiny_audit, "agents")
    k = views.kpi_table(agents, A1, previous=agents.assign(qa_score=[40.0, 10.0, None]))
    row = k.set_index("column")
    assert row.loc["qa_score", "value"] == 55.0
    assert row.loc["qa_score", "team_median"] == 27.5  # median of 55 and 0 (NA skipped)
    assert row.loc["qa_score", "previous"] == 40.0
    assert row.loc["avg_response_s", "value"] == 160.0
    html = views.kpi_cards(k)
    assert 'data-kpi="qa_score" data-value="55.0">55.0<' in html
    assert "▲ 上期 40.0" in html
    assert '<a href="#qa">' in html  # each card links to its evidence


def test_negative_hits_skip_politeness_and_sort_by_cost(tiny_audit: Path) -> None:
    s = load_slice(tiny_audit, None)
    neg = views.negative_hits(s.hits, s.config)
    assert neg["category"].tolist() == ["off_platform", "deflection", "refusal"]  # critical, major, minor
    assert "greeting" not in set(neg["category"])


def test_hit_evidence_masks_escapes_and_marks(tiny_audit: Path) -> None:
    s = load_slice(tiny_audit, A1)
    ev = views.hit_evidence(views.negative_hits(s.hits, s.config))
    assert ev["message"].tolist() == ["我不能保证，<mark>你自己看</mark>物流", "<mark>我不能</mark>保证，你自己看物流"]
    bad = s.hits.assign(start=pd.array([50] * len(s.hits), dtype="Int64"), end=pd.array([60] * len(s.hits), dtype="Int64"))
    with pytest.raises(ValueError, match="outside"):
        views.hit_evidence(bad)


def test_agent_report_sections(tiny_audit: Path) -> None:
    r = views.AgentReport(tiny_audit, A1)
    assert not r.empty
    html = "".join(str(getattr(r, f)()) for f in ("header", "kpis", "coaching", "qa_breakdown", "response_times",
                                                  "politeness", "hits", "worst_conversations", "conversion", "footer"))
    assert SCRIPT not in html and esc(SCRIPT) in html  # the customer's script (transcript + lost inquiry)
    assert PHONE not in html and "138****5678" in html  # masked in transcript and unreplied list
    assert "<mark>我不能</mark>" in html
    assert "预设 taobao v2025.1" in html
    assert "审计生成时间 2026-11-16 16:00 (Asia/Shanghai)" in html  # shop-local, not UTC ISO
    assert "2026-11-16T08:00" not in html
    unmasked = str(views.AgentReport(tiny_audit, A1, mask=False).worst_conversations())
    assert PHONE in unmasked


def test_coaching_points_are_ranked_from_the_data(tiny_audit: Path) -> None:
    s = load_slice(tiny_audit, A1)
    row = s.agents.set_index("agent").loc[A1].rename(A1)
    pts = views.coaching_points(row, s.agents.select_dtypes("number").median(), s.hits, s.conversations, s.rounds,
                                s.lost_inquiries, s.unreplied, s.config, n=3)
    assert len(pts) == 3
    assert pts["points_lost"].is_monotonic_decreasing
    # conversion 0.10 × (100 − 0) = 10 is the largest loss for this agent
    assert pts["topic"].iloc[0] == "促成下单" and pts["points_lost"].iloc[0] == pytest.approx(10.0)


def test_coaching_quotes_the_scorecard_figure_like_the_kpi_card(tiny_audit: Path) -> None:
    """The issue: a coaching point said median response 187 s while the KPI card said 200.0 s."""
    s = load_slice(tiny_audit, A1)
    row = s.agents.set_index("agent").loc[A1].rename(A1).copy()
    row["median_response_s"] = 200.0
    pts = views.coaching_points(row, s.agents.select_dtypes("number").median(), s.hits, s.conversations, s.rounds,
                                s.lost_inquiries, s.unreplied, s.config, n=9)
    ev = pts.loc[pts["topic"] == "提升响应速度", "evidence"].iloc[0]
    assert views.fmt_value("median_response_s", 200.0) in ev and "200.0 秒" in ev


def test_agent_without_chats_gets_a_short_report(tiny_audit: Path) -> None:
    r = views.AgentReport(tiny_audit, A3)
    assert r.empty
    assert "本期无会话记录" in str(r.header())
    assert not r.kpis() and not r.hits() and not r.conversion()
    assert views.AgentReport(tiny_audit, "nobody:at all").empty


def test_team_report_escapes_agent_names_and_links(tiny_audit: Path) -> None:
    t = views.TeamReport(tiny_audit)
    lb = str(t.leaderboard())
    assert "<b>禾</b>" not in lb and esc(A2) in lb
    assert f'href="agents/{views.agent_slug(A1)}.html"' in lb
    heat = str(t.heatmap())
    assert "<b>" not in heat.split('application/json')[1].split("</script>")[0]
    assert "未提供上期审计" in str(t.trend())
    assert "¥150.00" in str(t.sales())


def test_leaderboard_links_only_reported_agents(tiny_audit: Path) -> None:
    lb = str(views.TeamReport(tiny_audit, links=[A1]).leaderboard())
    assert f'href="agents/{views.agent_slug(A1)}.html"' in lb
    assert views.agent_slug(A2) not in lb and esc(A2) in lb


def test_findings_are_grouped_by_severity_red_lines_first_and_link_to_transcripts(tiny_audit: Path) -> None:
    r = views.AgentReport(tiny_audit, A1)
    hits = str(r.hits())
    # A1: deflection (major) before refusal (minor), each a collapsed group with its count
    assert hits.index('data-rule="lexicon:deflection"') < hits.index('data-rule="lexicon:refusal"')
    assert hits.count("<details") == 2 and "推诿" in hits and "生硬拒绝" in hits
    anchor = views.conversation_anchor("c1")
    assert f'href="#{anchor}"' in hits
    tr = str(r.worst_conversations())
    assert f'id="{anchor}"' in tr and "<mark>我不能</mark>" in tr
    assert "11-09 10:06:00" in tr  # shop-local time of the turn
    red = views.AgentReport(tiny_audit, A2)
    h2 = str(red.hits())
    assert 'id="findings-critical"' in h2 and "红线" in h2 and "站外引流" in h2
    assert "<mark>微信</mark>" in str(red.worst_conversations())


def test_transcript_selection_order_and_cap() -> None:
    conv = pd.DataFrame({"conversation_id": ["a", "b", "c", "d"], "qa_score": [90.0, 10.0, 50.0, 70.0],
                         "start": pd.to_datetime(["2026-11-09"] * 4), "csat": [1.0, 5.0, 2.0, 4.0]})
    findings = pd.DataFrame({"conversation_id": ["d", "c", "a"], "severity": ["minor", "critical", "major"]})
    sel = views.transcript_selection(conv, findings, worst_n=1, cap=10)
    assert sel["conversation_id"].tolist() == ["c", "b", "a", "d"]  # red line, worst score, csat, findings
    assert "critical" in sel.loc[0, "reason"] and sel.loc[1, "reason"] == "worst"
    assert "csat" in sel.set_index("conversation_id").loc["a", "reason"]
    assert len(views.transcript_selection(conv, findings, worst_n=1, cap=2)) == 2


def test_header_shows_rank_and_red_line_status(tiny_audit: Path) -> None:
    clean, red = str(views.AgentReport(tiny_audit, A1).header()), str(views.AgentReport(tiny_audit, A2).header())
    assert "第 1 名 / 共 3 人" in clean and 'data-red-line="0"' in clean and 'id="toc"' in clean
    assert 'data-red-line="1"' in red and "触碰红线" in red  # critical_hits 1 (no critical_conversations column)
    en = str(views.AgentReport(tiny_audit, A2, lang="en").header())
    assert "rank 2 of 3" in en and "RED LINE" in en


def test_team_page_red_line_column_heatmap_by_severity_and_rule_list(tiny_audit: Path) -> None:
    t = views.TeamReport(tiny_audit)
    lb = str(t.leaderboard())
    assert "红线" in lb and lb.count('data-red-line="1"') == 1
    heat = str(t.heatmap())
    import json

    payload = re.search(r'<script type="application/json" class="csa-fig-data" data-for="[^"]+">(.*?)</script>', heat)
    data = json.loads(payload.group(1))["data"][0]
    # columns ordered by severity: the red-line category first, and its cells darkest
    import base64

    import numpy as np

    z = data["z"]
    if isinstance(z, dict):  # plotly ≥ 6 writes arrays as base64 typed arrays
        z = np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(z.get("shape", "1,-1") if isinstance(
            z.get("shape"), tuple) else tuple(int(x) for x in str(z.get("shape", "-1")).split(",")))
    z = np.asarray(z, dtype=float)
    assert data["x"][0].startswith("站外引流")
    assert z[:, 0].max() == 1.0 and z[:, 1:].max() < 1.0  # the red-line column is the darkest
    rules = str(t.rules())
    assert rules.index("站外引流") < rules.index("推诿") < rules.index("生硬拒绝")
