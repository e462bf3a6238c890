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
    assert views.fmt_value("avg_response_s", 42.04) == "42.0 s"
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
    assert "▲ previous 40.0" in html


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
    assert "preset taobao v2025.1" in html
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
    assert pts["topic"].iloc[0].startswith("Close the sale") and pts["points_lost"].iloc[0] == pytest.approx(10.0)


def test_agent_without_chats_gets_a_short_report(tiny_audit: Path) -> None:
    r = views.AgentReport(tiny_audit, A3)
    assert r.empty
    assert "no chats in this period" in str(r.header())
    assert not r.kpis() and not r.hits() and not r.conversion()
    assert views.AgentReport(tiny_audit, "nobody:at all").empty


def test_team_report_escapes_agent_names_and_links(tiny_audit: Path) -> None:
    t = views.TeamReport(tiny_audit)
    lb = str(t.leaderboard())
    assert "<b>禾</b>" not in lb and esc(A2) in lb
    assert f'href="agents/{views.agent_slug(A1)}.html"' in lb
    heat = str(t.heatmap())
    assert "<b>" not in heat.split("Plotly.newPlot")[1].split("</script>")[0].replace("\\u003cb\\u003e", "")
    assert "No previous audit" in str(t.trend())
    assert "¥150.00" in str(t.sales())


def test_leaderboard_links_only_reported_agents(tiny_audit: Path) -> None:
    lb = str(views.TeamReport(tiny_audit, links=[A1]).leaderboard())
    assert f'href="agents/{views.agent_slug(A1)}.html"' in lb
    assert views.agent_slug(A2) not in lb and esc(A2) in lb
