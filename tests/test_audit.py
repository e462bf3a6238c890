"""ca.audit / ca.Audit: period filter, conversation table, save/load, per-agent view, full pipeline."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csaudit.audit import Audit, conversation_table, filter_period, parse_period
from csaudit.config import Config
from csaudit.model import schema

TZ = "Asia/Shanghai"
def make_messages(rows) -> pd.DataFrame:
    """rows: (conversation_id, role, local 'YYYY-MM-DD HH:MM:SS' or None, agent or None, text)."""
    df = pd.DataFrame(
        {
            "message_id": [f"m{i:03d}" for i in range(len(rows))],
            "conversation_id": [r[0] for r in rows],
            "shop": "云栖家居",
            "customer": [f"buyer_{r[0]}" for r in rows],
            "sender": [r[3] or f"buyer_{r[0]}" for r in rows],
            "agent": [r[3] for r in rows],
            "role": [r[1] for r in rows],
            "ts": [pd.Timestamp(r[2], tz=TZ) if r[2] else pd.NaT for r in rows],
            "text": [r[4] for r in rows],
            "source": "chat.txt",
            "line": range(1, len(rows) + 1),
        }
    )
    return schema.conform(df, "messages")


# -- period ---------------------------------------------------------------------------------


def test_parse_period_forms():
    assert parse_period(None) is None
    assert parse_period("2026-W46") == (dt.date(2026, 11, 9), dt.date(2026, 11, 15))
    assert parse_period("2026-w01") == (dt.date(2025, 12, 29), dt.date(2026, 1, 4))
    assert parse_period("2026-11-09..2026-11-15") == (dt.date(2026, 11, 9), dt.date(2026, 11, 15))
    assert parse_period(("2026-11-09", dt.date(2026, 11, 10))) == (dt.date(2026, 11, 9), dt.date(2026, 11, 10))
    for bad in ("2026-W60", "last week", ("2026-11-10", "2026-11-09"), ("2026-13-01", "2026-13-02")):
        with pytest.raises(ValueError):
            parse_period(bad)


def test_filter_period_keeps_whole_conversations_by_local_start_date():
    m = make_messages(
        [
            # starts Sunday 23:50 local of the week before -> out, even though it continues into Monday
            ("c0", "customer", "2026-11-08 23:50:00", None, "在吗"),
            ("c0", "agent", "2026-11-09 00:10:00", "云栖家居:阿青", "在的"),
            # starts Monday 00:00 local (= Sunday 16:00 UTC) -> in
            ("c1", "customer", "2026-11-09 00:00:00", None, "你好"),
            # starts Sunday 23:59:59 local, last day of the week -> in, with its Monday reply
            ("c2", "customer", "2026-11-15 23:59:59", None, "发货了吗"),
            ("c2", "agent", "2026-11-16 00:01:00", "云栖家居:阿青", "今天发"),
            # next Monday -> out
            ("c3", "customer", "2026-11-16 00:00:00", None, "hi"),
            # no timestamps -> cannot be dated -> out
            ("c4", "customer", None, None, "?"),
        ]
    )
    before = m.copy()
    out = filter_period(m, parse_period("2026-W46"), TZ)
    assert out["conversation_id"].unique().tolist() == ["c1", "c2"]
    assert len(out) == 3
    pd.testing.assert_frame_equal(m, before)
    # the same instants given in UTC are judged by the LOCAL date
    utc = m.assign(ts=m["ts"].dt.tz_convert("UTC"))
    assert filter_period(utc, parse_period("2026-W46"), TZ)["conversation_id"].unique().tolist() == ["c1", "c2"]
    # a range of one day
    one = filter_period(m, parse_period(("2026-11-15", "2026-11-15")), TZ)
    assert one["conversation_id"].unique().tolist() == ["c2"]
    assert filter_period(m, None, TZ) is m


# -- conversation table ------------------------------------------------------------------------


def test_conversation_table_primary_agent_and_transfers():
    m = make_messages(
        [
            ("c1", "system", "2026-11-10 10:00:00", None, "当前用户来自 手机淘宝"),
            ("c1", "customer", "2026-11-10 10:00:01", None, "在吗"),
            ("c1", "auto_reply", "2026-11-10 10:00:01", "云栖家居:自动", "[自动回复]您好"),
            ("c1", "agent", "2026-11-10 10:00:30", "云栖家居:阿青", "您好"),
            ("c1", "agent", "2026-11-10 10:02:00", "云栖家居:小白", "我来处理"),
            ("c1", "agent", "2026-11-10 10:03:00", "云栖家居:阿青", "好的"),
            ("c2", "customer", "2026-11-10 11:00:00", None, "在吗"),
            ("c2", "auto_reply", "2026-11-10 11:00:00", "云栖家居:自动", "[自动回复]稍等"),
            ("c3", "customer", "2026-11-10 12:00:00", None, "在吗"),
        ]
    )
    rounds = pd.DataFrame({"conversation_id": ["c1", "c2", "c3"]})
    c = conversation_table(m, rounds).set_index("conversation_id")
    assert c.loc["c1", "agent"] == "云栖家居:阿青"
    assert c.loc["c1", "agents"] == "云栖家居:阿青|云栖家居:小白"
    assert c.loc["c1", "n_customer"] == 1 and c.loc["c1", "n_agent"] == 3
    assert c.loc["c1", "start"] == pd.Timestamp("2026-11-10 10:00:00", tz=TZ)
    assert c.loc["c1", "end"] == pd.Timestamp("2026-11-10 10:03:00", tz=TZ)
    assert c.loc["c2", "agent"] == "云栖家居:自动" and c.loc["c2", "agents"] == ""
    assert pd.isna(c.loc["c3", "agent"]) and c.loc["c3", "n_agent"] == 0
    assert c["n_rounds"].tolist() == [1, 1, 1]
    assert str(c["agent"].dtype) == "str" and str(c["agents"].dtype) == "str"


# -- save / load -------------------------------------------------------------------------------


def hand_built_audit() -> Audit:
    m = make_messages(
        [
            ("c1", "customer", "2026-11-10 10:00:00", None, "这件毛衣起球吗"),
            ("c1", "agent", "2026-11-10 10:00:20", "云栖家居:阿青", "亲，不起球的哦～"),
            ("c2", "customer", "2026-11-10 11:00:00", None, "在吗"),
            ("c2", "agent", None, "云栖家居:小白", "在"),
        ]
    ).assign(sentiment=[0.7, np.nan, 0.4, np.nan])
    conv = pd.DataFrame(
        {
            "conversation_id": ["c1", "c2"],
            "agent": pd.Series(["云栖家居:阿青", "云栖家居:小白"], dtype="str"),
            "agents": pd.Series(["云栖家居:阿青", "云栖家居:小白"], dtype="str"),
            "start": pd.to_datetime(["2026-11-10 10:00:00", "2026-11-10 11:00:00"]).tz_localize(TZ).as_unit("ns"),
            "first_response_s": [20.0, np.nan],
            "is_inquiry": [True, False],
            "ordered": pd.array([True, pd.NA], dtype="boolean"),
            "n_hits": np.array([1, 0], dtype="int64"),
            "qa_score": [88.5, np.nan],
        }
    )
    hits = schema.conform(
        pd.DataFrame({"message_id": ["m001"], "conversation_id": ["c1"], "agent": ["云栖家居:阿青"],
                      "ts": [pd.Timestamp("2026-11-10 10:00:20", tz=TZ)], "rule": ["lexicon:greeting"],
                      "category": ["greeting"], "severity": ["info"], "side": ["agent"], "term": ["亲"],
                      "start": [0], "end": [1], "text": ["亲，不起球的哦～"], "suggestion": [pd.NA]}),
        "hits",
    )
    agents = pd.DataFrame({"agent": ["云栖家居:阿青", "云栖家居:小白"], "qa_score": [88.5, np.nan],
                           "rank": np.array([1, 2], dtype="int64"), "reply_rate": [1.0, 0.5]})
    return Audit(
        messages=m,
        turns=schema.empty("turns"),
        conversations=conv,
        rounds=schema.empty("rounds"),
        hits=hits,
        agents=agents,
        orders=schema.empty("orders").assign(agent=pd.Series([], dtype="str")),
        unreplied=pd.DataFrame({"customer": ["buyer_c2"], "conversation_id": ["c2"], "agent": ["云栖家居:小白"]}),
        lost_inquiries=pd.DataFrame({"conversation_id": pd.Series([], dtype="str"), "agent": pd.Series([], dtype="str")}),
        sales=pd.DataFrame({"shop_sales": [199.0], "cs_sales": [199.0], "silent_sales": [0.0]}),
        keywords=pd.DataFrame({"agent": ["云栖家居:阿青"], "keyword": ["起球"], "weight": [1.0]}),
        config=Config.preset("jd").updated({"score": {"weights": {"responsiveness": 1.0}}}),
        meta={"preset": "jd", "preset_version": "2025.1", "period_start": "2026-11-09", "period_end": "2026-11-15",
              "created": "2026-11-22T16:00:00+00:00", "csaudit_version": "0.1.0", "n_messages": 4},
    )


def test_save_load_round_trip_identical(tmp_path):
    a = hand_built_audit()
    a.save(tmp_path / "audit")
    names = sorted(p.name for p in (tmp_path / "audit").iterdir())
    assert "meta.json" in names and "agents.parquet" in names and "keywords.parquet" in names
    b = Audit.load(tmp_path / "audit")
    for t in ("messages", "turns", "conversations", "rounds", "hits", "agents", "orders", "unreplied",
              "lost_inquiries", "sales", "keywords"):
        pd.testing.assert_frame_equal(getattr(a, t), getattr(b, t), check_exact=True, obj=t)
    assert b.messages["role"].dtype == schema.ROLE_DTYPE
    assert str(b.messages["ts"].dtype) == f"datetime64[ns, {TZ}]"
    assert b.hits["start"].dtype == "Int64"
    assert b.config == a.config and b.config.preset_name == "jd" and b.config.score.weights == {"responsiveness": 1.0}
    assert b.meta == a.meta
    assert a == b


def test_load_missing_dir_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a saved audit"):
        Audit.load(tmp_path)


def test_agent_view():
    a = hand_built_audit()
    v = a.agent("云栖家居:阿青")
    assert v.conversations["conversation_id"].tolist() == ["c1"]
    assert v.messages["conversation_id"].unique().tolist() == ["c1"]
    assert len(v.hits) == 1 and len(v.agents) == 1 and len(v.unreplied) == 0
    assert v.keywords["keyword"].tolist() == ["起球"]
    assert v.meta["agent"] == "云栖家居:阿青"
    with pytest.raises(KeyError, match="no agent"):
        a.agent("nobody")


def test_load_config_preset_and_file(tmp_path):
    from csaudit.audit import load_config

    assert load_config().preset_name == "taobao"
    assert load_config(preset="jd").session.idle_gap_min == 10
    f = tmp_path / "csaudit.toml"
    f.write_text('[latency]\nslow_s = 120\n', encoding="utf-8")
    cfg = load_config(f, "jd")
    assert (cfg.preset_name, cfg.latency.slow_s, cfg.session.idle_gap_min) == ("jd", 120, 10)
    assert load_config(f).preset_name == "taobao"
    f.write_text('preset = "douyin"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="names preset 'douyin'"):
        load_config(f, "jd")


# -- the whole pipeline on hand-built messages ------------------------------------------------------

A, B = "云栖家居:阿青", "云栖家居:大石"


def week_messages() -> pd.DataFrame:
    return make_messages(
        [
            ("c1", "system", "2026-11-10 14:03:00", None, "当前用户来自 手机淘宝 商品详情页"),
            ("c1", "customer", "2026-11-10 14:03:07", None, "这件毛衣起球吗"),
            ("c1", "agent", "2026-11-10 14:03:30", A, "亲，您好～不起球的哦，M码正合适"),
            ("c1", "customer", "2026-11-10 14:04:00", None, "好的，那我拍了"),
            ("c1", "agent", "2026-11-10 14:04:20", A, "感谢您的支持，欢迎下次光临～"),
            ("c2", "customer", "2026-11-12 09:00:00", None, "在吗"),
            ("c2", "customer", "2026-11-12 09:05:00", None, "人呢"),
            ("c2", "agent", "2026-11-12 09:12:00", B, "晕，加我微信聊吧"),
            ("c2", "customer", "2026-11-12 09:13:00", None, "算了，差评"),
            # the week after: filtered out by period="2026-W46"
            ("c3", "customer", "2026-11-16 10:00:00", None, "在吗"),
            ("c3", "agent", "2026-11-16 10:00:05", B, "在的"),
        ]
    ).assign(customer=lambda d: d["conversation_id"].map({"c1": "jojo", "c2": "mimi", "c3": "jojo"}))


def week_orders() -> pd.DataFrame:
    return schema.conform(
        pd.DataFrame({"order_id": ["A1"], "shop": ["云栖家居"], "customer": ["jojo"],
                      "created": [pd.Timestamp("2026-11-10 14:10:00", tz=TZ)],
                      "paid": [pd.Timestamp("2026-11-10 14:11:00", tz=TZ)], "amount": [199.0], "refund": [0.0]}),
        "orders",
    )


def assert_politeness_matches_lexicon(res) -> None:
    """The QA score's greeting/closing checks agree with lexicon.first_reply / closing_check."""
    from csaudit.metrics.lexicon import agent_turns, closing_check, first_reply

    lex = res.hits.loc[res.hits["rule"].str.startswith("lexicon:")]
    speech = agent_turns(res.messages)
    conv = res.conversations.set_index("conversation_id")
    fr = first_reply(speech, lex, ["greeting"]).set_index("conversation_id")["ok"]
    cl = closing_check(speech, lex, res.config.qc.closing_last_n).set_index("conversation_id")["ok"]
    assert len(fr) and conv.loc[fr.index, "greeting_ok"].astype(bool).tolist() == fr.tolist()
    assert len(cl) and conv.loc[cl.index, "closing_ok"].astype(bool).tolist() == cl.tolist()
    assert conv["greeting_ok"].notna().sum() == len(fr)


def test_audit_pipeline_scores_and_tables(tmp_path):
    m, o = week_messages(), week_orders()
    m_before, o_before = m.copy(), o.copy()
    res = __import__("csaudit").audit(m, orders=o, period="2026-W46")
    pd.testing.assert_frame_equal(m, m_before)
    pd.testing.assert_frame_equal(o, o_before)

    conv = res.conversations.set_index("conversation_id")
    assert list(conv.index) == ["c1", "c2"]
    assert list(res.conversations.columns[:19]) == [
        "conversation_id", "shop", "customer", "agent", "agents", "start", "end", "n_customer", "n_agent",
        "first_response_s", "is_inquiry", "sentiment_start", "sentiment_end", "sentiment_drift", "ordered",
        "paid", "order_amount", "n_hits", "qa_score"]
    assert conv.loc["c1", "first_response_s"] == 23 and conv.loc["c2", "first_response_s"] == 720
    assert conv.loc["c1", "agent"] == A and conv.loc["c2", "agent"] == B
    assert bool(conv.loc["c1", "ordered"]) and not bool(conv.loc["c2", "ordered"])

    # c1: fast (100), greeting + closing (100), clean (100), ordered inquiry (100), satisfaction = csat
    s1 = conv.loc["c1", "csat"]
    assert 0 <= s1 <= 100 and conv.loc["c1", "score_satisfaction"] == s1
    assert conv.loc["c1", "score_responsiveness"] == 100 and conv.loc["c1", "score_politeness"] == 100
    assert conv.loc["c1", "score_compliance"] == 100 and conv.loc["c1", "score_conversion"] == 100
    assert conv.loc["c1", "qa_score"] == pytest.approx(60 + 0.4 * s1)
    # c2: 微信 = off-platform steering (critical) -> 0; critical-free view keeps only the satisfaction points
    s2 = conv.loc["c2", "csat"]
    assert bool(conv.loc["c2", "critical"]) and conv.loc["c2", "qa_score"] == 0
    assert conv.loc["c2", "score_responsiveness"] == 0 and conv.loc["c2", "score_politeness"] == 0
    assert conv.loc["c2", "score_compliance"] == 0 and conv.loc["c2", "score_conversion"] == 0
    assert conv.loc["c2", "qa_score_critical_free"] == pytest.approx(0.4 * s2)

    ag = res.agents.set_index("agent")
    assert res.agents["agent"].tolist() == [A, B] and res.agents["rank"].tolist() == [1, 2]
    assert ag.loc[A, "qa_score"] == pytest.approx(60 + 0.4 * s1)
    assert ag.loc[A, "csat_mean"] == pytest.approx(s1) and ag.loc[B, "csat_mean"] == pytest.approx(s2)
    assert ag.loc[B, "critical_conversations"] == 1 and ag.loc[B, "critical_hits"] == 1
    assert ag.loc[B, "slang_hits"] == 1 and ag.loc[B, "off_platform_hits"] == 1
    assert ag.loc[B, "avg_response_s"] == 600  # 720 s capped, and the unanswered last round counts as the cap
    assert ag.loc[A, "reply_rate"] == 1 and ag.loc[B, "reply_rate"] == 0
    assert {"message_id", "rule", "term", "start", "end"} <= set(res.hits.columns)
    assert set(res.hits.loc[res.hits["agent"] == B, "term"]) >= {"晕", "加我微信"}
    assert res.unreplied["customer"].tolist() == ["mimi"]
    assert "sentiment" in res.messages.columns
    assert res.meta["period_start"] == "2026-11-09" and res.meta["n_messages"] == 9

    assert_politeness_matches_lexicon(res)

    # every scorecard column is documented in the README table
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([a-z0-9_]+)` \|", readme, flags=re.M))
    assert set(res.agents.columns) - documented == set()

    res.save(tmp_path / "a")
    back = type(res).load(tmp_path / "a")
    assert back == res
    for t in ("messages", "conversations", "hits", "agents", "rounds", "orders"):
        pd.testing.assert_frame_equal(getattr(back, t), getattr(res, t), check_exact=True, obj=t)
    assert back.agent(B).conversations["conversation_id"].tolist() == ["c2"]


def test_audit_without_orders_leaves_conversion_out():
    res = __import__("csaudit").audit(week_messages(), period=("2026-11-09", "2026-11-15"))
    conv = res.conversations.set_index("conversation_id")
    assert conv["ordered"].isna().all() and conv["score_conversion"].isna().all()
    s1 = conv.loc["c1", "csat"]
    assert conv.loc["c1", "qa_score"] == pytest.approx((50 + 0.4 * s1) / 0.9)
    assert res.meta["has_orders"] is False


def test_audit_empty_period_is_a_clear_error():
    with pytest.raises(ValueError, match=r"no conversation starts in the period 2026-09-28 \.\. 2026-10-04 "
                                         r"\(the chats cover 2026-11-10 \.\. 2026-11-16\)"):
        __import__("csaudit").audit(week_messages(), period="2026-W40")


def test_ca_audit_is_callable_after_importing_the_module():
    import csaudit
    import csaudit.audit  # binds the package attribute to the module

    assert callable(csaudit.audit) and csaudit.Audit is Audit


# -- the committed sample: personas rank as designed ------------------------------------------------


@pytest.fixture(scope="module")
def sample_run(sample_chats, sample_orders, sample_audit):
    return sample_chats.messages, sample_orders, sample_audit


def test_sample_personas_rank_as_designed(sample_run, truth_dir):
    _, _, res = sample_run
    expected = json.loads((truth_dir / "personas.json").read_text(encoding="utf-8"))["expected"]
    ag = res.agents.set_index("agent")
    assert set(ag.index) == set(json.loads((truth_dir / "personas.json").read_text(encoding="utf-8"))["agents"])
    assert ag["avg_response_s"].idxmax() == expected["slowest_agent"]
    assert ag["avg_response_s"].idxmin() == expected["fastest_agent"]
    assert ag["slang_hits"].idxmax() == expected["most_slang_agent"]
    assert ag["refusal_hits"].idxmax() == expected["most_refusals_agent"]
    assert ag["order_conversion"].idxmax() == expected["best_conversion_agent"]
    wechat = expected["wechat_agent"]
    assert ag.loc[wechat, "off_platform_hits"] > 0 and ag.loc[wechat, "critical_conversations"] > 0
    assert ag.loc[ag.index != wechat, "critical_conversations"].eq(0).all()
    assert ag.loc[wechat, "qa_score"] < ag.loc[wechat, "qa_score_critical_free"]
    # score.red_line = "rank_last" (default): the agent with red lines ranks below every clean agent
    assert res.agents["agent"].iloc[-1] == wechat and res.agents["rank"].iloc[-1] == len(res.agents)
    # among the clean agents the QA score puts the slow, the curt/slang and the deflecting agents at the bottom
    bottom3 = set(res.agents.iloc[-4:-1]["agent"])
    assert bottom3 == {expected["slowest_agent"], expected["most_slang_agent"], expected["most_refusals_agent"]}
    from csaudit.score import red_line_rank

    by_score = red_line_rank(res.agents, "conversation_zero")  # today's behaviour: the red lines only zero conversations
    assert by_score.iloc[-1] < len(res.agents)
    assert res.agents["rank"].tolist() == sorted(res.agents["rank"])
    # a critical conversation scores 0; the agent's score is the mean of its conversations' scores
    conv = res.conversations
    assert (conv.loc[conv["critical"], "qa_score"] == 0).all()
    mean = conv.groupby("agent")["qa_score"].mean()
    assert np.allclose(ag["qa_score"], mean.reindex(ag.index))
    assert_politeness_matches_lexicon(res)


def test_sample_tables_consistent(sample_run, tmp_path):
    messages, orders, res = sample_run
    assert len(res.messages) == len(messages)
    assert res.conversations["conversation_id"].is_unique
    assert set(res.conversations["conversation_id"]) == set(messages["conversation_id"])
    assert res.conversations["n_hits"].sum() == len(res.hits)
    assert res.agents["n_conversations"].sum() == res.conversations["agent"].notna().sum()
    s = res.sales.iloc[0]
    assert s["cs_sales"] + s["silent_sales"] == pytest.approx(s["shop_sales"])
    assert s["shop_sales"] == pytest.approx(orders["amount"].sum())  # no period: every order counts
    assert all(not getattr(res, t).attrs for t in ("messages", "conversations", "orders", "agents", "hits"))
    res.save(tmp_path / "audit")
    back = Audit.load(tmp_path / "audit")
    assert back == res
    assert back.agent("栖木家居:小鹿").hits["agent"].eq("栖木家居:小鹿").all()


def test_sample_week_period(sample_run):
    import csaudit as ca

    messages, orders, full = sample_run
    week = ca.audit(messages, orders=orders, period="2026-W46")
    start = week.conversations["start"].dt.tz_convert(TZ).dt.date
    assert start.min() >= dt.date(2026, 11, 9) and start.max() <= dt.date(2026, 11, 15)
    # whole conversations: the same messages as in the full audit
    day = full.conversations["start"].dt.tz_convert(TZ).dt.date
    full_w46 = full.conversations.loc[(day >= dt.date(2026, 11, 9)) & (day <= dt.date(2026, 11, 15))]
    assert set(week.conversations["conversation_id"]) == set(full_w46["conversation_id"])
    assert week.meta["period_start"] == "2026-11-09"
    s = week.sales.iloc[0]
    assert s["cs_sales"] + s["silent_sales"] == pytest.approx(s["shop_sales"])
    # no silent order after the period; orders before it are not in the week
    o = week.orders
    assert not (o["silent"] & (o["created"] >= pd.Timestamp("2026-11-16", tz=TZ))).any()
    assert (o["created"] >= pd.Timestamp("2026-11-09", tz=TZ)).all()


def test_audit_edge_cases_no_timestamps_customer_only_auto_and_bot_only():
    import csaudit as ca

    m = make_messages(
        [
            # no timestamps at all: latency NA, everything else computed
            ("n1", "customer", None, None, "这个有货吗"),
            ("n1", "agent", None, A, "您好，有货的哦"),
            ("n1", "customer", None, None, "好的谢谢"),
            ("n1", "agent", None, A, "感谢您的支持，欢迎下次光临～"),
            # customer only
            ("n2", "customer", "2026-11-10 10:00:00", None, "在吗"),
            # only an auto-reply
            ("n3", "customer", "2026-11-10 11:00:00", None, "在吗"),
            ("n3", "auto_reply", "2026-11-10 11:00:00", B, "[自动回复]您好，稍后回复您"),
            # only the robot
            ("n4", "customer", "2026-11-10 12:00:00", None, "发什么快递"),
            ("n4", "bot", "2026-11-10 12:00:01", "云栖家居:店小蜜", "默认中通快递哦"),
        ]
    )
    res = ca.audit(m)
    conv = res.conversations.set_index("conversation_id")
    assert pd.isna(conv.loc["n1", "first_response_s"]) and pd.isna(conv.loc["n1", "score_responsiveness"])
    assert conv.loc["n1", "score_politeness"] == 100 and conv.loc["n1", "score_compliance"] == 100
    assert conv.loc["n1", "qa_score"] >= 0
    assert pd.isna(conv.loc["n2", "agent"]) and conv.loc["n2", "score_responsiveness"] == 0
    assert pd.isna(conv.loc["n2", "score_politeness"]) and pd.isna(conv.loc["n2", "score_compliance"])
    assert conv.loc["n3", "agent"] == B and conv.loc["n3", "agents"] == ""
    assert pd.isna(conv.loc["n4", "agent"])
    assert set(res.agents["agent"]) == {A, B}  # the robot is never an agent
    ag = res.agents.set_index("agent")
    assert pd.isna(ag.loc[A, "avg_response_s"])
    assert ag.loc[B, "n_conversations"] == 1


def test_message_order_kept_when_grouped_and_sorted_otherwise():
    from csaudit.audit import _in_conversation_order

    m = make_messages(
        [
            ("c1", "customer", "2026-11-10 10:00:00", None, "在吗"),
            ("c1", "system", None, None, "买家 撤回了一条消息"),  # no time: stays where the reader put it
            ("c1", "agent", "2026-11-10 10:00:30", A, "在的"),
            ("c0", "customer", "2026-11-10 09:00:00", None, "你好"),
        ]
    )
    kept = _in_conversation_order(m)
    assert kept["message_id"].tolist() == ["m000", "m001", "m002", "m003"]
    shuffled = m.iloc[[2, 3, 0, 1]]
    fixed = _in_conversation_order(shuffled)
    assert fixed["conversation_id"].tolist() == ["c0", "c1", "c1", "c1"]
    assert fixed.loc[fixed["ts"].notna(), "message_id"].tolist() == ["m003", "m000", "m002"]


def test_side_stages_in_forked_worker_equal_in_process(sample_chats):
    """The forked worker of the side stages (sentiment, word figures) returns exactly what the
    in-process call does, and the sentiment it computes is snownlp's (no nested fork needed)."""
    import csaudit.audit as audit_mod
    from csaudit.config import Config
    from csaudit.metrics.lexicon import Lexicon

    cfg = Config()
    msgs = sample_chats.messages
    here = audit_mod.side_stages(msgs, cfg, Lexicon.load(cfg))
    assert len(here.pronouns) > 0 and len(here.keywords) > 0
    assert np.isfinite(here.sentiment[(msgs["role"] == "customer").to_numpy()]).all()
    job = audit_mod._Background(audit_mod.side_stages, msgs, cfg, Lexicon.load(cfg), parallel=True)
    assert job._async is not None  # really forked
    got = job.result()
    np.testing.assert_array_equal(got.sentiment, here.sentiment)
    for name in ("conversations", "pronouns", "keywords"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(here, name), check_exact=True)
    assert set(got.timings) == {"sentiment", "words"}


def test_audit_of_messages_read_back_from_parquet_in_chunks(sample_run, tmp_path):
    """A messages table saved by `csaudit ingest -o` and read back may hold its text in several Arrow
    chunks: the audit works on it and gives the same tables as on the table read from the chats."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    import csaudit as ca

    messages, orders, res = sample_run
    pq.write_table(pa.Table.from_pandas(messages, preserve_index=False), tmp_path / "m.parquet", row_group_size=4000)
    back = pd.read_parquet(tmp_path / "m.parquet")
    assert back["text"].array._pa_array.num_chunks > 1
    # index labels that are not positions (one_chunk once aligned the combined text on them)
    part = back.iloc[:6000].set_axis(np.arange(0, 12000, 2))
    assert part["text"].array._pa_array.num_chunks > 1
    got = ca.audit(part, orders=orders)
    want = ca.audit(messages.iloc[:6000], orders=orders)
    for name in ("turns", "rounds", "hits", "conversations"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(want, name), check_exact=True)


def test_hits_suggestion_stays_categorical_through_concat(sample_run):
    """HITS.suggestion is categorical; schema.concat of parts with different categories keeps it so
    (pd.concat would give objects) and the texts are unchanged."""
    from csaudit.model import schema

    _, _, res = sample_run
    hits = res.hits
    assert isinstance(hits["suggestion"].dtype, pd.CategoricalDtype)
    lex, qc = hits[hits["rule"].str.startswith("lexicon:")], hits[hits["rule"].str.startswith("qc:")]
    both = schema.concat([lex, qc], "hits")
    assert isinstance(both["suggestion"].dtype, pd.CategoricalDtype)
    assert both["suggestion"].astype("str").tolist() == [*lex["suggestion"].astype("str"), *qc["suggestion"].astype("str")]
    assert schema.concat([], "hits").empty


def test_conversation_scores_with_precomputed_checks_are_the_same(sample_run):
    """The audit computes the sentiment-free parts of the QA score (conversation_checks) while the
    second core scores sentiment; handing them to conversation_scores changes nothing, in any row order."""
    from csaudit.score import conversation_checks, conversation_scores

    _, _, res = sample_run
    conv, msgs = res.conversations, res.messages
    want = conversation_scores(conv, msgs, res.rounds, res.hits, res.config)
    checks = conversation_checks(conv["conversation_id"], msgs, res.rounds, res.hits, res.config)
    got = conversation_scores(conv, msgs, res.rounds, res.hits, res.config, checks=checks)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    shuffled = conversation_scores(conv, msgs, res.rounds, res.hits, res.config, checks=checks.iloc[::-1])
    pd.testing.assert_frame_equal(shuffled, want, check_exact=True)


def test_hits_concat_accepts_object_categories():
    """A HITS part whose suggestion categories are objects (e.g. built by hand or read elsewhere)
    concatenates with one of str categories."""
    from csaudit.model import schema

    parts = []
    for text, cats_dtype in (("y", "str"), ("x", object)):
        part = schema.empty("hits").reindex(range(1))
        for c in ("message_id", "conversation_id", "rule", "category", "severity", "side"):
            part[c] = "v"
        part["suggestion"] = pd.Categorical([text], categories=pd.Index([text], dtype=cats_dtype))
        parts.append(part)
    out = schema.concat(parts, "hits")
    assert out["suggestion"].astype("str").tolist() == ["y", "x"]
    assert isinstance(out["suggestion"].dtype, pd.CategoricalDtype)


# -- bounded text stages and hostile input ----------------------------------------------------
def test_a_long_message_is_read_by_its_head_and_tail_with_offsets_in_the_whole_text():
    """A generated 1M-character message: the text stages read its first and last ``[text]`` characters;
    hits at both ends carry offsets into the whole text, a term in the left-out middle is not read."""
    import csaudit as ca

    n = 1_000_000
    long_text = "您好" + "天" * 20_000 + "抱歉" + "天" * n + "谢谢您"
    rows = [
        ("c1", "customer", "2026-11-10 10:00:00", None, "在吗"),
        ("c1", "agent", "2026-11-10 10:00:20", "云栖家居:阿青", long_text),
        ("c1", "agent", "2026-11-10 10:00:30", "云栖家居:阿青", "不好意思，谢谢"),
    ]
    m = make_messages(rows)
    res = ca.audit(m)
    h = res.hits.loc[res.hits["message_id"] == "m001"]
    found = {(c, int(s), int(e)) for c, s, e in zip(h["category"], h["start"], h["end"], strict=True)}
    L = len(long_text)
    assert ("greeting", 0, 2) in found and ("thanks", L - 3, L - 1) in found
    assert not any(c == "apology" for c, _, _ in found)  # 抱歉 lies in the middle, beyond the first 2000
    for term, s, e, text in zip(h["term"], h["start"], h["end"], h["text"], strict=True):
        assert text == long_text and long_text[s:e] == term
    assert res.messages.loc[res.messages["message_id"] == "m001", "text"].iloc[0] == long_text
    assert long_text in res.turns["text"].iloc[1]
    short = res.hits.loc[res.hits["message_id"] == "m002"]  # other messages are untouched
    assert set(short["category"]) >= {"apology", "thanks"}
    # a bigger bound reads the middle too
    wide = ca.audit(m, config=Config().updated({"text": {"max_chars_head": 30_000}}))
    assert "apology" in set(wide.hits.loc[wide.hits["message_id"] == "m001", "category"])


def test_bound_texts_and_unbound_hits_map_offsets_back():
    from csaudit.audit import bound_texts, unbound_hits

    m = make_messages([("c1", "agent", None, "a", "0123456789abcdefghij"), ("c1", "agent", None, "a", "short")])
    b, bounds = bound_texts(m, head=4, tail=3)
    assert b["text"].tolist() == ["0123\nhij", "short"] and m["text"].iloc[0] == "0123456789abcdefghij"
    assert bounds.shift.tolist() == [20 - 4 - 3 - 1]
    hits = schema.conform(pd.DataFrame({"message_id": ["m000", "m000", "m000", "m001"], "start": [1, 5, 3, 0],
                                        "end": [3, 7, 6, 2], "text": b["text"].iloc[[0, 0, 0, 1]].tolist()}), "hits")
    out = unbound_hits(hits, bounds)
    assert out["start"].tolist() == [1, 17, 0] and out["end"].tolist() == [3, 19, 2]  # the one across "\n" dropped
    assert out["text"].tolist() == ["0123456789abcdefghij", "0123456789abcdefghij", "short"]
    assert bound_texts(m, head=40, tail=0)[1] is None


@pytest.mark.parametrize(
    "case",
    ["empty", "all_na_text", "no_agent", "system_only", "no_timestamps", "int_text", "unknown_role", "empty_texts",
     "not_a_frame", "no_conversation", "bad_times", "lone_surrogate", "nul_bytes"],
)
def test_audit_of_odd_input_returns_or_raises_a_clear_error(case):
    import csaudit as ca

    base = [
        ("c1", "customer", "2026-11-10 10:00:00", None, "在吗"),
        ("c1", "agent", "2026-11-10 10:00:20", "云栖家居:阿青", "您好"),
    ]
    m = make_messages(base)
    if case == "empty":
        m = m.iloc[0:0]
    elif case == "all_na_text":
        m = m.assign(text=pd.Series([None, None], dtype="str"))
    elif case == "no_agent":
        m = make_messages([("c1", "customer", "2026-11-10 10:00:00", None, "在吗")])
    elif case == "system_only":
        m = make_messages([("c1", "system", "2026-11-10 10:00:00", None, "系统消息")])
    elif case == "no_timestamps":
        m = m.assign(ts=pd.NaT)
    elif case == "int_text":
        m = m.assign(text=[1, 2])
    elif case == "unknown_role":
        m = m.assign(role=pd.Series(["customer", "admin"], dtype="object"))
    elif case == "empty_texts":
        m = m.assign(text=["", ""])
    elif case == "not_a_frame":
        m = "data/sample_chats"
    elif case == "no_conversation":
        m = m.drop(columns="conversation_id")
    elif case == "bad_times":
        m = m.assign(ts=["soon", "later"])
    elif case == "lone_surrogate":
        m = m.assign(text=pd.Series(["\ud800在吗", "您好"], dtype=object))
    elif case == "nul_bytes":
        m = m.assign(text=["\x00在吗\x00", "您好\x00"])
    try:
        res = ca.audit(m)
    except ValueError as exc:  # a clear error: one line saying what is wrong
        assert str(exc) and "\n" not in str(exc)
        assert case in ("empty", "not_a_frame", "no_conversation", "bad_times", "lone_surrogate"), exc
        if case in ("bad_times", "lone_surrogate"):
            assert "column 'ts'" in str(exc) or "column 'text'" in str(exc)
        return
    assert isinstance(res, ca.Audit) and len(res.messages) == len(m)
