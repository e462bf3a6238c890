"""Response-time figures per conversation and per agent, and the unreplied list."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csaudit.config import Config, LatencyConfig
from csaudit.metrics.latency import (
    agent_columns,
    agent_latency,
    conversation_latency,
    first_responses,
    rate_column,
    unreplied,
)
from csaudit.model.rounds import rounds
from tests.chat_builders import TZ, WORKED, A, B, cat, msgs


def test_rate_column_names():
    assert [rate_column(t) for t in LatencyConfig().rate_thresholds_s] == [
        "within_30s_rate",
        "within_3min_rate",
        "within_5min_rate",
    ]
    assert rate_column(45.5) == "within_45.5s_rate"


def test_worked_example_rates():
    m = msgs(WORKED)
    cfg = LatencyConfig()
    r = rounds(m, cfg)
    a = agent_latency(m, r, cfg).set_index("agent")
    assert list(a.reset_index().columns) == agent_columns(cfg)
    row = a.loc[A]
    assert row["n_rounds"] == 2 and row["n_answered"] == 2
    assert row["within_3min_rate"] == 0.5  # 1 of 2 rounds within 3 min
    assert row["within_30s_rate"] == 0.5  # 30 s counts as within 30 s (inclusive)
    assert row["within_5min_rate"] == 0.5
    assert row["avg_response_s"] == pytest.approx((475 + 30) / 2)
    assert row["median_response_s"] == pytest.approx(252.5)
    assert row["p90_response_s"] == pytest.approx(30 + 0.9 * 445)
    assert row["first_response_mean_s"] == 475.0 and row["first_response_median_s"] == 475.0
    assert row["slow_rounds"] == 1 and row["slow_customers"] == 1
    assert row["reply_rate"] == 1.0 and row["unreplied_customers"] == 0
    assert row["n_customer_msgs"] == 3 and row["n_agent_msgs"] == 2
    assert row["answer_ratio"] == pytest.approx(2 / 3)
    assert bool(row["answer_ratio_low"]) is True

    c = conversation_latency(m, r, cfg)
    assert c.to_dict("records") == [{"conversation_id": "c1", "first_response_s": 475.0, "n_rounds": 2}]


def test_accepts_whole_config():
    m = msgs(WORKED)
    r = rounds(m, LatencyConfig())
    a1 = agent_latency(m, r, Config())
    a2 = agent_latency(m, r, LatencyConfig())
    pd.testing.assert_frame_equal(a1, a2)


def test_cap_vs_exclude_average_and_reply_rate():
    m = cat(
        msgs([("customer", None, "10:00:00", "在吗"), ("agent", A, "10:01:00", "在")], conv="c1", customer="甲"),
        msgs(
            [
                ("customer", None, "11:00:00", "在吗"),
                ("agent", A, "11:00:20", "在"),
                ("customer", None, "11:01:00", "能便宜吗"),
            ],
            conv="c2",
            customer="乙",
        ),
    )
    cap_cfg, exc_cfg = LatencyConfig(unanswered="cap"), LatencyConfig(unanswered="exclude")
    cap = agent_latency(m, rounds(m, cap_cfg), cap_cfg).set_index("agent").loc[A]
    exc = agent_latency(m, rounds(m, exc_cfg), exc_cfg).set_index("agent").loc[A]
    assert cap["avg_response_s"] == pytest.approx((60 + 20 + 600) / 3)
    assert exc["avg_response_s"] == pytest.approx((60 + 20) / 2)
    assert cap["within_30s_rate"] == pytest.approx(1 / 3)
    assert exc["within_30s_rate"] == pytest.approx(1 / 2)
    assert cap["slow_rounds"] == 1 and exc["slow_rounds"] == 0
    for row in (cap, exc):
        assert row["n_rounds"] == 3 and row["n_answered"] == 2
        assert row["reply_rate"] == 0.5 and row["unreplied_customers"] == 1
        assert row["first_response_mean_s"] == pytest.approx(40.0)
    u = unreplied(rounds(m, cap_cfg), m)
    assert u.to_dict("records") == [
        {
            "customer": "乙",
            "conversation_id": "c2",
            "agent": A,
            "start": pd.Timestamp("2026-11-10 11:01:00", tz=TZ),
            "text": "能便宜吗",
        }
    ]
    assert unreplied(rounds(m, cap_cfg))["text"].isna().all()


def test_reply_rate_uses_last_round_per_agent_and_customer():
    # 甲's morning conversation ends with an unanswered question, the later one is answered -> replied
    m = cat(
        msgs(
            [("customer", None, "09:00:00", "在吗"), ("agent", A, "09:00:05", "在"), ("customer", None, "09:01:00", "?")],
            conv="c1",
            customer="甲",
        ),
        msgs([("customer", None, "12:00:00", "在吗"), ("agent", A, "12:00:10", "在的")], conv="c2", customer="甲"),
    )
    r = rounds(m)
    a = agent_latency(m, r).set_index("agent").loc[A]
    assert a["reply_rate"] == 1.0 and a["unreplied_customers"] == 0
    assert a["n_answered"] == 2 and a["n_rounds"] == 3
    assert unreplied(r, m).empty


def test_night_rounds_left_out_of_average():
    m = msgs(
        [
            ("customer", None, "02:00:00", "在吗"),
            ("agent", A, "08:10:00", "早"),
            ("customer", None, "09:00:00", "几点发货"),
            ("agent", A, "09:00:40", "嗯嗯"),
        ]
    )
    r = rounds(m)
    a = agent_latency(m, r).set_index("agent").loc[A]
    assert a["avg_response_s"] == 40.0
    assert a["n_rounds"] == 2
    assert np.isnan(a["first_response_mean_s"])  # the first round started outside service hours
    c = conversation_latency(m, r)
    assert c["first_response_s"].tolist() == [6 * 3600 + 600.0]  # conversation level: not capped, all hours


def test_transfer_splits_customer_messages_between_accounts():
    m = msgs(
        [
            ("customer", None, "10:00:00", "在吗"),
            ("agent", A, "10:00:10", "在的"),
            ("customer", None, "10:01:00", "开发票"),
            ("customer", None, "10:01:05", "增值税的"),
            ("system", None, "10:01:30", f"由 {A} 转交给 {B}"),
            ("agent", B, "10:02:00", "您好，我来处理"),
            ("customer", None, "10:02:30", "抬头怎么填"),
            ("agent", B, "10:02:40", "请提供抬头"),
        ]
    )
    r = rounds(m)
    a = agent_latency(m, r).set_index("agent")
    assert a.loc[A, "n_customer_msgs"] == 3 and a.loc[A, "n_agent_msgs"] == 1
    assert a.loc[A, "n_rounds"] == 2 and a.loc[A, "n_answered"] == 1
    assert a.loc[A, "reply_rate"] == 0.0 and a.loc[A, "unreplied_customers"] == 1  # A's last round: transferred
    assert a.loc[B, "n_customer_msgs"] == 1 and a.loc[B, "n_agent_msgs"] == 2
    assert a.loc[B, "answer_ratio"] == 2.0 and not a.loc[B, "answer_ratio_low"]
    assert a.loc[B, "reply_rate"] == 1.0
    # recomputing the customer counts from messages gives the same figures
    b = agent_latency(m, r.drop(columns=["n_messages"])).set_index("agent")
    pd.testing.assert_frame_equal(a, b)
    u = unreplied(r, m)
    assert u[["agent", "text"]].to_dict("records") == [{"agent": A, "text": "增值税的"}]


def test_no_timestamps_latency_na_counts_computed():
    m = msgs([("customer", None, None, "在吗"), ("agent", A, None, "在"), ("customer", None, None, "?")])
    r = rounds(m)
    a = agent_latency(m, r).set_index("agent").loc[A]
    assert a["n_rounds"] == 2 and a["n_answered"] == 1
    assert np.isnan(a["avg_response_s"]) and np.isnan(a["within_3min_rate"])
    assert a["reply_rate"] == 0.0 and a["unreplied_customers"] == 1
    assert a["n_customer_msgs"] == 2 and a["n_agent_msgs"] == 1
    assert conversation_latency(m, r)["first_response_s"].isna().all()


def test_customer_only_conversation_appears_only_in_unreplied():
    m = cat(msgs(WORKED), msgs([("customer", None, "10:00:00", "在吗")], conv="c9", customer="丙"))
    r = rounds(m)
    a = agent_latency(m, r)
    assert a["agent"].tolist() == [A]
    u = unreplied(r, m)
    assert u["customer"].tolist() == ["丙"] and u["agent"].isna().all()
    c = conversation_latency(m, r).set_index("conversation_id")
    assert c.loc["c9", "n_rounds"] == 1 and np.isnan(c.loc["c9", "first_response_s"])


def test_same_nick_in_two_shops_is_two_customers():
    # one account answers 小明 in shop 1 and leaves 小明 of shop 2 unanswered (a later round): two
    # buyers, so one replied and one not — keyed by the agent and customer only they merged into one
    # customer whose last round was unanswered (the bug a partitioned run showed)
    one = msgs([("customer", None, "09:00:00", "在吗"), ("agent", A, "09:00:05", "在的")], conv="c1", customer="小明")
    two = msgs([("customer", None, "10:00:00", "在吗"), ("agent", A, "10:00:05", "在"),
                ("customer", None, "10:01:00", "还有货吗")], conv="c2", customer="小明")
    two["shop"] = "二号店"
    m = cat(one, two)
    r = rounds(m)
    a = agent_latency(m, r).set_index("agent").loc[A]
    assert a["unreplied_customers"] == 1 and a["reply_rate"] == 0.5
    # nobody on either conversation: two unreplied rows, not one
    lone = cat(msgs([("customer", None, "09:00:00", "在吗")], conv="c3", customer="小明"),
               msgs([("customer", None, "09:30:00", "在吗")], conv="c4", customer="小明").assign(shop="二号店"))
    u = unreplied(rounds(lone), lone)
    assert u["conversation_id"].tolist() == ["c3", "c4"]


def test_agent_without_rounds_still_listed():
    m = msgs([("agent", A, "10:00:00", "亲，您的快递到了")])
    r = rounds(m)
    a = agent_latency(m, r)
    assert a["agent"].tolist() == [A]
    assert a["n_rounds"].tolist() == [0] and a["n_agent_msgs"].tolist() == [1]
    assert np.isnan(a["answer_ratio"].iloc[0]) and not a["answer_ratio_low"].iloc[0]
    assert conversation_latency(m, r)["n_rounds"].tolist() == [0]


# -- the sample's ground truth -------------------------------------------------------------------
def _truth_messages():
    """``truth_messages`` from tests/model/test_rounds.py (one copy of the reconstruction)."""
    path = Path(__file__).resolve().parents[1] / "model" / "test_rounds.py"
    spec = importlib.util.spec_from_file_location("_csaudit_test_rounds_helpers", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.truth_messages


def test_sample_personas_and_truth(truth_dir):
    m = _truth_messages()(truth_dir)
    cfg = LatencyConfig()
    r = rounds(m, cfg)
    a = agent_latency(m, r, cfg).set_index("agent")
    expected = json.loads((truth_dir / "personas.json").read_text(encoding="utf-8"))["expected"]
    assert a["avg_response_s"].idxmax() == expected["slowest_agent"]
    assert a["avg_response_s"].idxmin() == expected["fastest_agent"]
    assert a["slow_rounds"].idxmax() == expected["slowest_agent"]
    # figures recomputed straight from the truth's rounds
    t = pd.read_csv(truth_dir / "rounds.csv.gz", dtype=str, keep_default_na=False)
    t["resp"] = pd.to_numeric(t["response_s"].replace("", None))
    t = t[t["in_hours"] == "true"]
    capped = t["resp"].clip(upper=cfg.cap_s).fillna(cfg.cap_s)
    truth_avg = capped.groupby(t["agent"].replace("", None)).mean()
    pd.testing.assert_series_equal(
        a["avg_response_s"].loc[truth_avg.index], truth_avg, check_names=False, check_index_type=False
    )
    within = (t["resp"] <= 180).groupby(t["agent"].replace("", None)).mean()
    pd.testing.assert_series_equal(
        a["within_3min_rate"].loc[within.index], within, check_names=False, check_index_type=False
    )
    conv = conversation_latency(m, r, cfg)
    assert conv["n_rounds"].sum() == len(r)
    u = unreplied(r, m)
    assert len(u) == a["unreplied_customers"].sum() + u["agent"].isna().sum()
    assert u["text"].notna().all()


def test_first_response_after_a_transfer_counts_the_new_accounts_reply():
    other = msgs([("customer", None, "09:00:00", "在吗"), ("agent", A, "09:00:10", "在")], conv="c0", customer="乙")
    m = cat(
        other,
        msgs(
            [
                ("customer", None, "10:00:00", "我要投诉"),
                ("system", None, "10:00:30", f"由 {A} 转交给 {B}"),
                ("agent", B, "10:01:30", "您好，我是售后"),
            ]
        ),
    )
    r = rounds(m)
    assert r.loc[r["conversation_id"] == "c1", "transfer"].tolist() == [True]
    c = conversation_latency(m, r).set_index("conversation_id")
    assert c.loc["c1", "first_response_s"] == 90.0 and c.loc["c0", "first_response_s"] == 10.0
    fr = first_responses(m).set_index("conversation_id")
    assert fr.loc["c1", "responder"] == B and bool(fr.loc["c1", "in_hours"])
    a = agent_latency(m, r).set_index("agent")
    assert a.loc[B, "first_response_mean_s"] == 90.0 and a.loc[A, "first_response_mean_s"] == 10.0
    assert a.loc[A, "unreplied_customers"] == 1  # the transferred question counts against A
