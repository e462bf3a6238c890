"""QA score definitions on hand-built conversations (csaudit/score.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csaudit.config import Config
from csaudit.model import schema
from csaudit.score import (
    agent_scores,
    base_counts,
    check_scorecard,
    conversation_scores,
    hit_counts,
    politeness,
    rank,
    responsiveness,
    scorecard,
    sentiment_figures,
)

TZ = "Asia/Shanghai"


def T(s: str) -> pd.Timestamp:
    return pd.Timestamp(f"2026-11-10 {s}", tz=TZ)


def msgs(rows: list[tuple[str, str, str, str | None]]) -> pd.DataFrame:
    """rows: (conversation_id, role, HH:MM:SS, agent) -> MESSAGES frame, ids c-<n>."""
    df = pd.DataFrame(
        {
            "message_id": [f"m{i}" for i in range(len(rows))],
            "conversation_id": [r[0] for r in rows],
            "shop": "店",
            "customer": [f"cust_{r[0]}" for r in rows],
            "sender": [r[3] or f"cust_{r[0]}" for r in rows],
            "agent": [r[3] for r in rows],
            "role": [r[1] for r in rows],
            "ts": [T(r[2]) for r in rows],
            "text": "x",
            "source": "t.txt",
            "line": range(1, len(rows) + 1),
        }
    )
    return schema.conform(df, "messages")


def rnds(rows: list[tuple[str, float | None, bool]]) -> pd.DataFrame:
    """rows: (conversation_id, response_s or None = unanswered, in_hours)."""
    df = pd.DataFrame(
        {
            "conversation_id": [r[0] for r in rows],
            "customer": "c",
            "agent": "店:a",
            "round": range(1, len(rows) + 1),
            "start": T("10:00:00"),
            "reply": [T("10:00:00") + pd.Timedelta(seconds=r[1]) if r[1] is not None else pd.NaT for r in rows],
            "response_s": [r[1] if r[1] is not None else np.nan for r in rows],
            "capped_s": [min(r[1], 600) if r[1] is not None else 600 for r in rows],
            "answered": [r[1] is not None for r in rows],
            "in_hours": [r[2] for r in rows],
            "slow": [(r[1] or 601) > 180 for r in rows],
        }
    )
    return schema.conform(df, "rounds")


def hits(rows: list[tuple[str, str | None, str, str, str, str]]) -> pd.DataFrame:
    """rows: (conversation_id, message_id, rule, category, severity, side)."""
    df = pd.DataFrame(
        {
            "message_id": [r[1] for r in rows],
            "conversation_id": [r[0] for r in rows],
            "agent": "店:a",
            "ts": T("10:00:00"),
            "rule": [r[2] for r in rows],
            "category": [r[3] for r in rows],
            "severity": [r[4] for r in rows],
            "side": [r[5] for r in rows],
            "term": "t",
            "start": 0,
            "end": 1,
            "text": "x",
            "suggestion": "s",
        }
    )
    return schema.conform(df, "hits")


NO_HITS = schema.empty("hits")


def test_responsiveness_linear_between_full_and_cap():
    r = rnds([("c1", 20, True), ("c1", 180, True), ("c1", None, True), ("c1", 900, False), ("c2", 700, True)])
    s = responsiveness(r, Config())
    # 20 s -> 100, 180 s -> (600-180)/(600-30) = 73.68, unanswered -> 0; night round ignored
    assert s["c1"] == pytest.approx((100 + 100 * 420 / 570 + 0) / 3)
    assert s["c2"] == 0.0


def test_responsiveness_na_without_in_hours_rounds():
    r = rnds([("c1", 20, False)])
    assert responsiveness(r, Config()).empty


def test_politeness_greeting_closing_apology():
    m = msgs(
        [
            ("c1", "customer", "10:00:00", None),   # m0
            ("c1", "agent", "10:05:00", "店:a"),     # m1 first reply, 300 s -> apology needed
            ("c1", "agent", "10:05:10", "店:a"),     # m2 apology
            ("c1", "agent", "10:06:00", "店:a"),     # m3 closing
            ("c2", "customer", "11:00:00", None),   # m4
            ("c2", "agent", "11:00:10", "店:a"),     # m5 no greeting, no closing
        ]
    )
    r = rnds([("c1", 300, True), ("c2", 10, True)])
    r.loc[0, "reply"] = T("10:05:00")
    h = hits([("c1", "m1", "lexicon:greeting", "greeting", "none", "agent"),
              ("c1", "m2", "lexicon:apology", "apology", "none", "agent"),
              ("c1", "m3", "lexicon:closing", "closing", "none", "agent"),
              # a QC finding reported under category "greeting" is not a greeting
              ("c2", "m5", "qc:no_greeting_first_reply", "greeting", "minor", "agent")])
    h.loc[1, "ts"] = T("10:05:10")
    p = politeness(m, r, h, Config())
    assert p.loc["c1"].to_dict() == {"greeting_ok": True, "closing_ok": True, "apology_needed": True,
                                     "apology_ok": True, "score_politeness": 100.0}
    assert p.loc["c2", "score_politeness"] == 0.0 and not p.loc["c2", "apology_needed"]
    # an apology BEFORE the slow reply (an earlier message) does not count
    h.loc[1, "message_id"] = "m0"
    assert politeness(m, r, h, Config()).loc["c1", "score_politeness"] == pytest.approx(200 / 3)
    # without reply_message_id in the rounds, the slow reply is found by its time: same result
    h.loc[1, "message_id"] = "m2"
    assert politeness(m, r.drop(columns=[c for c in ("reply_message_id",) if c in r]), h, Config()).loc[
        "c1", "apology_ok"]


def test_apology_needed_after_a_complaint_only_and_by_message_order():
    """No timestamps at all: a complaint calls for an apology; an apology later passes, one before the
    complaint does not, and a conversation without complaint or wait has no apology check (no plus)."""
    m = msgs([
        ("c1", "customer", "10:00:00", None),  # m0 complaint
        ("c1", "agent", "10:00:10", "店:a"),    # m1 apology after it
        ("c2", "agent", "10:00:00", "店:a"),    # m2 apology before the complaint
        ("c2", "customer", "10:00:10", None),  # m3 complaint
        ("c3", "customer", "10:00:00", None),  # m4
        ("c3", "agent", "10:00:10", "店:a"),    # m5 apology, not needed
    ]).assign(ts=pd.NaT)
    m = schema.conform(m, "messages")
    h = hits([("c1", "m0", "lexicon:escalation", "escalation", "major", "customer"),
              ("c1", "m1", "lexicon:apology", "apology", "info", "agent"),
              ("c2", "m2", "lexicon:apology", "apology", "info", "agent"),
              ("c2", "m3", "lexicon:dissatisfied", "dissatisfied", "info", "customer"),
              ("c3", "m5", "lexicon:apology", "apology", "info", "agent")])
    p = politeness(m, rnds([]), h, Config())
    assert p["apology_needed"].tolist() == [True, True, False]
    assert p["apology_ok"].tolist() == [True, False, False]
    # c3's unneeded apology is no plus: its score is greeting + closing only (both missing)
    assert p["score_politeness"].tolist() == pytest.approx([100 / 3, 0.0, 0.0])


def test_politeness_closing_must_be_in_last_n_messages():
    rows = [("c1", "agent", "10:00:00", "店:a")] + [("c1", "customer", f"10:0{i}:30", None) for i in range(1, 3)]
    m = msgs(rows)
    h = hits([("c1", "m0", "lexicon:closing", "closing", "none", "agent")])
    cfg = Config()
    assert politeness(m, rnds([]), h, cfg).loc["c1", "closing_ok"]
    cfg.qc.closing_last_n = 2
    assert not politeness(m, rnds([]), h, cfg).loc["c1", "closing_ok"]


def _one_conv(extra_hits=()):
    m = msgs([("c1", "customer", "10:00:00", None), ("c1", "agent", "10:00:20", "店:a")])
    r = rnds([("c1", 20, True)])
    h = hits([("c1", "m1", "lexicon:greeting", "greeting", "none", "agent"),
              ("c1", "m1", "lexicon:closing", "closing", "none", "agent"), *extra_hits])
    return m, r, h


def test_compliance_penalties_by_severity_and_politeness_rules_free():
    m, r, h = _one_conv([
        ("c1", "m1", "lexicon:slang", "slang", "minor", "agent"),
        ("c1", "m1", "lexicon:refusal", "refusal", "major", "agent"),
        ("c1", "m1", "qc:repeat", "repeat", "major", "customer"),       # customer side: free
        ("c1", None, "qc:no_greeting_first_reply", "no_greeting", "minor", "agent"),  # scored in politeness: free
    ])
    conv = pd.DataFrame({"conversation_id": ["c1"], "csat": [80.0], "is_inquiry": [True], "ordered": [True]})
    s = conversation_scores(conv, m, r, h, Config()).iloc[0]
    assert s["score_compliance"] == 100 - 10 - 25
    assert s["penalty"] == 35
    assert s["score_responsiveness"] == 100
    assert s["score_politeness"] == 100
    assert s["score_satisfaction"] == pytest.approx(80)
    assert s["score_conversion"] == 100
    w = Config().score.weights
    expect = (100 * w["responsiveness"] + 100 * w["politeness"] + 65 * w["compliance"] + 80 * w["satisfaction"]
              + 100 * w["conversion"]) / sum(w.values())
    assert s["qa_score"] == pytest.approx(expect)
    assert s["qa_score_critical_free"] == pytest.approx(expect)
    assert not s["critical"]


def test_compliance_floor_zero():
    m, r, h = _one_conv([("c1", "m1", "lexicon:x", "x", "major", "agent")] * 5)
    conv = pd.DataFrame({"conversation_id": ["c1"]})
    assert conversation_scores(conv, m, r, h).loc[0, "score_compliance"] == 0


def test_critical_hit_zeroes_score_but_critical_free_view_kept():
    m, r, h = _one_conv([("c1", "m1", "lexicon:off_platform", "off_platform", "critical", "agent")])
    conv = pd.DataFrame({"conversation_id": ["c1"], "csat": [50.0]})
    s = conversation_scores(conv, m, r, h, Config()).iloc[0]
    assert s["critical"] and s["n_critical"] == 1
    assert s["qa_score"] == 0
    w = Config().score.weights
    expect = (100 * w["responsiveness"] + 100 * w["politeness"] + 0 * w["compliance"] + 50 * w["satisfaction"]) / (
        w["responsiveness"] + w["politeness"] + w["compliance"] + w["satisfaction"])
    assert s["qa_score_critical_free"] == pytest.approx(expect)


def test_customer_side_critical_term_does_not_zero():
    m, r, h = _one_conv([("c1", "m0", "lexicon:off_platform", "off_platform", "critical", "customer")])
    s = conversation_scores(pd.DataFrame({"conversation_id": ["c1"]}), m, r, h).iloc[0]
    assert not s["critical"] and s["qa_score"] == 100


def test_weights_renormalised_over_applicable_categories():
    # customer only, unanswered: only responsiveness (0) and satisfaction (csat 60) apply
    m = msgs([("c1", "customer", "10:00:00", None)])
    r = rnds([("c1", None, True)])
    conv = pd.DataFrame({"conversation_id": ["c1"], "csat": [60.0], "is_inquiry": [False], "ordered": [False]})
    s = conversation_scores(conv, m, r, NO_HITS).iloc[0]
    assert np.isnan(s["score_politeness"]) and np.isnan(s["score_compliance"]) and np.isnan(s["score_conversion"])
    w = Config().score.weights
    assert s["qa_score"] == pytest.approx(60 * w["satisfaction"] / (w["satisfaction"] + w["responsiveness"]))
    # custom weights, zero weight on a category removes it
    cfg = Config().updated({"score": {"weights": {"responsiveness": 0.0, "satisfaction": 2.0}}})
    assert conversation_scores(conv, m, r, NO_HITS, cfg).loc[0, "qa_score"] == pytest.approx(60)


def test_nothing_applicable_gives_na():
    m = msgs([("c1", "system", "10:00:00", None)])
    s = conversation_scores(pd.DataFrame({"conversation_id": ["c1"]}), m, rnds([]), NO_HITS).iloc[0]
    assert np.isnan(s["qa_score"])


def test_conversion_only_for_inquiries_and_with_orders():
    m, r, h = _one_conv()
    conv = pd.DataFrame({"conversation_id": ["c1"], "is_inquiry": [True], "ordered": [False]})
    assert conversation_scores(conv, m, r, h).loc[0, "score_conversion"] == 0
    assert np.isnan(conversation_scores(conv, m, r, h, has_orders=False).loc[0, "score_conversion"])
    conv["is_inquiry"] = False
    assert np.isnan(conversation_scores(conv, m, r, h).loc[0, "score_conversion"])


def test_unknown_weight_category_is_an_error():
    m, r, h = _one_conv()
    cfg = Config()
    cfg.score.weights = {"speed": 1.0}  # Config.updated / load refuse it already (tests/test_config.py)
    with pytest.raises(ValueError, match="speed"):
        conversation_scores(pd.DataFrame({"conversation_id": ["c1"]}), m, r, h, cfg)


def test_agent_scores_mean_and_rank():
    conv = pd.DataFrame(
        {
            "agent": ["a", "a", "b", "c", None],
            "qa_score": [100.0, 0.0, 80.0, np.nan, 10.0],
            "qa_score_critical_free": [100.0, 90.0, 80.0, np.nan, 10.0],
            "critical": [False, True, False, False, False],
            **{c: [50.0, np.nan, 70.0, np.nan, 1.0] for c in (
                "score_responsiveness", "score_politeness", "score_compliance", "score_satisfaction", "score_conversion")},
        }
    )
    a = agent_scores(conv).set_index("agent")
    assert a.loc["a", "qa_score"] == 50 and a.loc["a", "qa_score_critical_free"] == 95
    assert a.loc["a", "score_politeness"] == 50  # NA skipped
    assert a.loc["a", "critical_conversations"] == 1
    assert a["rank"].to_dict() == {"a": 2, "b": 1, "c": 3}


def test_rank_ties_share_best():
    assert rank(pd.Series([90.0, 90.0, 80.0, np.nan])).tolist() == [1, 1, 3, 4]


def test_hit_counts_and_sentiment_figures_and_scorecard():
    h = hits([("c1", "m1", "lexicon:slang", "slang", "minor", "agent"),
              ("c1", "m1", "lexicon:slang", "slang", "minor", "agent"),
              ("c1", "m1", "lexicon:greeting", "greeting", "none", "agent"),
              ("c1", None, "qc:no_closing", "no_closing", "minor", "agent")])
    h = pd.concat([h, hits([("c1", "m0", "lexicon:escalation", "escalation", "major", "customer")])], ignore_index=True)
    hc = hit_counts(h, qc_rules=["qc:hold_no_followup"], aliases={"qc:customer_escalation": "lexicon:escalation",
                                                                  "qc:customer_repeated": "lexicon:repeated"})
    assert hc.set_index("agent").loc["店:a"].to_dict() == {
        "qc_hits": 2, "qc_customer_escalation": 1, "qc_customer_repeated": 0, "qc_hold_no_followup": 0, "qc_no_closing": 1}
    hc = hc.set_index("agent")

    conv = pd.DataFrame({
        "conversation_id": ["c1", "c2", "c3"], "customer": ["x", "y", "x"], "agent": ["店:a", "店:a", "店:b"],
        "agents": ["店:a", "店:a|店:b", "店:b"], "sentiment_start": [0.9, 0.5, np.nan],
        "sentiment_end": [0.5, 0.6, np.nan], "sentiment_drift": [-0.4, 0.1, np.nan],
    })
    sf = sentiment_figures(conv).set_index("agent")
    assert sf.loc["店:a", "deteriorated_rate"] == 0.5
    assert sf.loc["店:a", "sentiment_drift_mean"] == pytest.approx(-0.15)
    assert np.isnan(sf.loc["店:b", "deteriorated_rate"])

    m = msgs([("c1", "agent", "10:00:00", "店:a"), ("c2", "agent", "10:00:00", "店:b"), ("c2", "bot", "10:00:01", "店:小蜜")])
    base = base_counts(conv, m).set_index("agent")
    assert base.loc["店:a"].to_dict() == {"n_conversations": 2, "n_customers": 2, "n_transfers_in": 0}
    assert base.loc["店:b"].to_dict() == {"n_conversations": 1, "n_customers": 1, "n_transfers_in": 1}
    assert "店:小蜜" not in base.index

    scores = pd.DataFrame({"agent": ["店:a", "店:b"], "qa_score": [70.0, 90.0], "n_scored_conversations": [2, 1]})
    card = scorecard(base.reset_index(), [hc.reset_index(), sf.reset_index()], scores)
    assert card["agent"].tolist() == ["店:b", "店:a"]
    assert card["rank"].tolist() == [1, 2]
    assert card.loc[0, "qc_hits"] == 0 and card["qc_no_closing"].dtype == "int64"


def test_check_scorecard_collects_failures():
    from csaudit.model.schema import SchemaError

    bad = pd.DataFrame({"agent": ["a", "a"], "rank": [1, 0], "qa_score": [101.0, 50.0], "reply_rate": [0.5, 1.5],
                        "n_rounds": [3, -1]})
    with pytest.raises(SchemaError) as exc:
        check_scorecard(bad)
    f = exc.value.failures
    assert set(f["column"]) == {"agent", "rank", "qa_score", "reply_rate", "n_rounds"}
    assert len(f) == 6  # both duplicate agents, and one failure in each other column
    ok = bad.assign(agent=["a", "b"], rank=[1, 2], qa_score=[100.0, np.nan], reply_rate=[0.0, 1.0], n_rounds=[0, 1])
    assert check_scorecard(ok) is ok


def test_format_scorecard_aligns_cjk():
    from csaudit.score import _width, format_scorecard

    card = pd.DataFrame({"rank": [1, 2], "agent": ["云栖家居:阿青", "shop:bo"], "qa_score": [91.234, np.nan],
                         "reply_rate": [0.5, 1.0]})
    text = format_scorecard(card)
    lines = text.splitlines()
    assert lines[0].split() == ["rank", "agent", "qa_score", "reply_rate"]
    assert "91.2" in lines[2] and "0.50" in lines[2] and "–" in lines[3]
    # every row has the same display width up to the last column
    assert len({_width(x) for x in (lines[0], lines[2], lines[3])}) == 1

SEVERITIES = ["info", "minor", "major", "critical"]


@settings(max_examples=40, deadline=None)
@given(
    times=st.lists(st.one_of(st.none(), st.floats(0, 5000)), min_size=1, max_size=6),
    sev=st.lists(st.sampled_from(SEVERITIES), max_size=8),
    sentiment=st.one_of(st.none(), st.floats(0, 1)),
    inquiry=st.booleans(),
    ordered=st.booleans(),
)
def test_score_invariants(times, sev, sentiment, inquiry, ordered):
    m, r0, h0 = _one_conv()
    r = rnds([("c1", t, True) for t in times])
    cats = {"critical": "off_platform", "major": "deflection", "minor": "slang", "info": "thanks"}
    h = pd.concat([h0, hits([("c1", "m1", f"lexicon:{cats[s]}", cats[s], s, "agent") for s in sev])] if sev else [h0],
                  ignore_index=True)
    conv = pd.DataFrame({"conversation_id": ["c1"], "csat": [np.nan if sentiment is None else 100 * sentiment],
                         "is_inquiry": [inquiry], "ordered": [ordered]})
    s = conversation_scores(conv, m, r, h).iloc[0]
    for c in ("score_responsiveness", "score_politeness", "score_compliance", "score_satisfaction", "score_conversion",
              "qa_score", "qa_score_critical_free"):
        assert np.isnan(s[c]) or 0 <= s[c] <= 100
    assert s["critical"] == ("critical" in sev)
    if s["critical"]:
        assert s["qa_score"] == 0 and s["score_compliance"] == 0
    else:
        assert s["qa_score"] == s["qa_score_critical_free"]
    assert s["qa_score"] <= s["qa_score_critical_free"] + 1e-9
    assert s["score_compliance"] == max(0.0, 100 - sum({"critical": 100, "major": 25, "minor": 10}.get(x, 0) for x in sev))


def test_red_line_rank_last_puts_agents_with_red_lines_below_clean_ones() -> None:
    """The issue: an agent with 61 critical hits ranked 5th of 8, above three clean agents."""
    import pandas as pd

    from csaudit.score import red_line_rank

    a = pd.DataFrame({"agent": list("abcde"), "qa_score": [80.0, 71.0, 60.0, None, 90.0],
                      "critical_conversations": [0, 3, 0, 0, 1]})
    assert red_line_rank(a).tolist() == [1, 5, 2, 3, 4]  # clean by score (NA last), then red lines by score
    assert red_line_rank(a, "rank_last").tolist() == [1, 5, 2, 3, 4]
    assert red_line_rank(a, "conversation_zero").tolist() == [2, 3, 4, 5, 1]  # score alone
    tie = a.assign(qa_score=[70.0, 70.0, 70.0, 70.0, 70.0])
    assert red_line_rank(tie).tolist() == [1, 4, 1, 1, 4]  # ties share the best rank within a group
    import pytest

    with pytest.raises(ValueError, match="rank_last"):
        red_line_rank(a, "bogus")
