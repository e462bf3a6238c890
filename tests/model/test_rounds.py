"""Turns and 首问首答 rounds: DESIGN worked examples, edge cases, invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csaudit.config import LatencyConfig
from csaudit.model import schema
from csaudit.model.rounds import in_service_hours, message_rounds, rounds, transfer_sources, turns
from tests.chat_builders import TZ, WORKED, A, B, cat, msgs


def test_design_worked_examples():
    r = rounds(msgs(WORKED), LatencyConfig())
    assert r["round"].tolist() == [1, 2]
    assert r["response_s"].tolist() == [475.0, 30.0]
    assert r["capped_s"].tolist() == [475.0, 30.0]
    assert r["answered"].tolist() == [True, True]
    assert r["agent"].tolist() == [A, A]
    assert r["n_messages"].tolist() == [2, 1]
    assert r["start_message_id"].tolist() == ["c1-0", "c1-3"]
    assert r["reply_message_id"].tolist() == ["c1-2", "c1-4"]
    assert r["start"].iloc[0] == pd.Timestamp("2026-11-10 10:10:15", tz=TZ)
    assert r["reply"].iloc[1] == pd.Timestamp("2026-11-10 10:19:00", tz=TZ)
    # 1 of 2 rounds within 3 min; the first is slow (> 180 s)
    assert (r["response_s"] <= 180).sum() == 1
    assert r["slow"].tolist() == [True, False]
    assert schema.failures(r, "rounds").empty


def test_auto_reply_bot_system_never_end_a_round():
    m = msgs(
        [
            ("customer", None, "10:00:00", "在吗"),
            ("auto_reply", A, "10:00:00", "[自动回复]您好"),
            ("bot", "云栖家居:店小蜜", "10:00:05", "您好，我是小蜜"),
            ("system", None, "10:00:06", "当前用户来自 手机淘宝"),
            ("agent", A, "10:01:40", "您好"),
        ]
    )
    r = rounds(m)
    assert len(r) == 1
    assert r["response_s"].iloc[0] == 100.0
    assert r["agent"].iloc[0] == A


def test_only_auto_replies_is_unanswered():
    m = msgs([("customer", None, "10:00:00", "在吗"), ("auto_reply", A, "10:00:00", "[自动回复]在的")])
    r = rounds(m, LatencyConfig(unanswered="cap"))
    assert r["answered"].tolist() == [False]
    assert r["agent"].isna().all()  # no human agent spoke: nobody to credit
    assert pd.isna(r["response_s"].iloc[0]) and pd.isna(r["reply"].iloc[0])
    assert r["capped_s"].tolist() == [600.0]
    assert r["slow"].tolist() == [True]
    r2 = rounds(m, LatencyConfig(unanswered="exclude"))
    assert pd.isna(r2["capped_s"].iloc[0])
    assert r2["slow"].tolist() == [False]


def test_customer_only():
    m = msgs([("customer", None, "10:00:00", "在吗"), ("customer", None, "10:05:00", "有人吗")])
    r = rounds(m)
    assert len(r) == 1
    assert r["n_messages"].tolist() == [2]
    assert pd.isna(r["agent"].iloc[0])
    assert not r["answered"].iloc[0]
    assert schema.failures(r, "rounds").empty


def test_transfer_without_reply_stays_with_first_account():
    m = msgs(
        [
            ("customer", None, "10:00:00", "在吗"),
            ("agent", A, "10:00:20", "在的亲"),
            ("customer", None, "10:01:00", "我要开发票"),
            ("system", None, "10:02:00", f"由 {A} 转交给 {B}"),
        ]
    )
    r = rounds(m)
    assert r["agent"].tolist() == [A, A]
    assert r["answered"].tolist() == [True, False]
    assert r["transfer"].tolist() == [False, True]


def test_transfer_closes_the_open_round_for_the_first_account():
    m = msgs(
        [
            ("customer", None, "10:00:00", "在吗"),
            ("agent", A, "10:00:20", "在的亲"),
            ("customer", None, "10:01:00", "我要开发票"),
            ("system", None, "10:02:00", "由 阿青 转交给 小白"),  # bare names get the shop prefix
            ("agent", B, "10:02:30", "您好，我来处理"),  # answers no round: the customer has not asked B yet
            ("customer", None, "10:03:00", "增值税专票"),
            ("agent", B, "10:03:20", "好的"),
        ]
    )
    r = rounds(m)
    assert r["agent"].tolist() == [A, A, B]
    assert r["answered"].tolist() == [True, False, True]
    assert r["transfer"].tolist() == [False, True, False]
    assert r["response_s"].tolist()[2] == 20.0
    assert pd.isna(r["response_s"].iloc[1]) and r["capped_s"].iloc[1] == 600.0


def test_routing_line_from_a_non_agent_does_not_close_a_round():
    m = msgs(
        [
            ("customer", None, "10:00:00", "在吗"),
            ("system", None, "10:00:30", f"由 服务助手 转交给 {B}"),
            ("agent", B, "10:01:00", "您好"),
        ]
    )
    r = rounds(m)
    assert r["agent"].tolist() == [B] and r["response_s"].tolist() == [60.0]
    assert r["transfer"].tolist() == [False]


def test_transfer_before_anyone_replied_goes_to_transfer_source():
    other = msgs([("customer", None, "09:00:00", "在吗"), ("agent", A, "09:00:10", "在")], conv="c0", customer="买家0")
    m = cat(
        other,
        msgs(
            [
                ("customer", None, "10:00:00", "在吗"),
                ("system", None, "10:00:30", f"由 {A} 转交给 {B}"),
                ("customer", None, "10:05:00", "人呢"),
            ]
        ),
    )
    r = rounds(m)
    r1 = r[r["conversation_id"] == "c1"]
    assert r1["agent"].tolist() == [A, A]  # the open round after the transfer stays with A too
    assert r1["answered"].tolist() == [False, False]
    assert r1["transfer"].tolist() == [True, False]


def test_night_messages_outside_service_hours():
    m = msgs(
        [
            ("customer", None, "02:10:00", "还在吗"),
            ("agent", A, "08:05:00", "早上好亲"),
            ("customer", None, "22:59:59", "在吗"),
            ("agent", A, "23:10:00", "在的"),
            ("customer", None, "23:00:00", "还有一个问题"),
        ]
    )
    r = rounds(m)
    assert r["in_hours"].tolist() == [False, True, False]
    assert r["response_s"].iloc[0] == 5 * 3600 + 55 * 60
    assert r["capped_s"].iloc[0] == 600.0
    assert r["slow"].tolist() == [False, True, False]  # out-of-hours rounds are never slow


def test_service_window_wrapping_midnight():
    m = msgs([("customer", None, "01:00:00", "在吗"), ("agent", A, "01:00:10", "在")])
    assert rounds(m, LatencyConfig(service_start="08:00", service_end="02:00"))["in_hours"].tolist() == [True]
    assert rounds(m, LatencyConfig(service_start="08:00", service_end="23:00"))["in_hours"].tolist() == [False]


def test_conversation_over_midnight():
    m = msgs(
        [
            ("customer", None, "2026-11-10 22:58:00", "这个还有吗"),
            ("agent", A, "2026-11-11 00:01:00", "有的"),
        ]
    )
    r = rounds(m)
    assert r["response_s"].tolist() == [63 * 60.0]
    assert r["capped_s"].tolist() == [600.0]
    assert r["in_hours"].tolist() == [True]  # started 22:58, inside 08:00–23:00
    assert r["slow"].tolist() == [True]


def test_no_timestamps_latency_na_everything_else_computed():
    m = msgs(
        [
            ("customer", None, None, "在吗"),
            ("customer", None, None, "有人吗"),
            ("agent", A, None, "在的"),
            ("customer", None, None, "发什么快递"),
        ]
    )
    r = rounds(m, LatencyConfig(unanswered="cap"))
    assert r["round"].tolist() == [1, 2]
    assert r["answered"].tolist() == [True, False]
    assert r["agent"].tolist() == [A, A]
    assert r["n_messages"].tolist() == [2, 1]
    assert r["response_s"].isna().all() and r["start"].isna().all()
    assert r["capped_s"].isna().all()
    assert r["in_hours"].all()
    assert r["slow"].tolist() == [False, True]
    assert schema.failures(r, "rounds").empty


def test_cap_vs_exclude():
    m = msgs(
        [
            ("customer", None, "10:00:00", "在吗"),
            ("agent", A, "10:20:00", "在"),
            ("customer", None, "10:21:00", "?"),
        ]
    )
    cap = rounds(m, LatencyConfig(unanswered="cap", cap_s=600))
    exc = rounds(m, LatencyConfig(unanswered="exclude", cap_s=600))
    assert cap["response_s"].iloc[0] == 1200.0
    assert cap["capped_s"].tolist() == [600.0, 600.0]
    assert exc["capped_s"].iloc[0] == 600.0 and pd.isna(exc["capped_s"].iloc[1])
    assert cap["slow"].tolist() == [True, True]
    assert exc["slow"].tolist() == [True, False]


def test_proactive_and_repeated_agent_messages_open_no_round():
    m = msgs(
        [
            ("agent", A, "10:00:00", "亲，您的订单已发货"),
            ("customer", None, "10:00:30", "什么时候到"),
            ("agent", A, "10:00:40", "还有别的吗"),
            ("agent", A, "10:00:50", "祝您生活愉快"),
        ]
    )
    r = rounds(m)
    assert len(r) == 1 and r["response_s"].tolist() == [10.0]


def test_several_conversations_and_input_not_mutated():
    m = cat(msgs(WORKED, conv="c1"), msgs([("customer", None, "11:00:00", "在吗")], conv="c2", customer="买家2"))
    before = m.copy()
    r = rounds(m)
    assert r["conversation_id"].tolist() == ["c1", "c1", "c2"]
    assert r["round"].tolist() == [1, 2, 1]
    assert r["customer"].tolist() == ["买家1", "买家1", "买家2"]
    pd.testing.assert_frame_equal(m, before)


def test_interleaved_conversations_are_grouped():
    a = msgs(WORKED, conv="c1")
    b = msgs([("customer", None, "10:11:00", "在吗"), ("agent", B, "10:11:30", "在")], conv="c2")
    m = schema.conform(pd.concat([a.iloc[:2], b, a.iloc[2:]], ignore_index=True), "messages")
    r = rounds(m)
    assert sorted(zip(r["conversation_id"], r["response_s"], strict=True)) == [
        ("c1", 30.0),
        ("c1", 475.0),
        ("c2", 30.0),
    ]


def test_empty_messages():
    r = rounds(schema.empty("messages"))
    assert len(r) == 0 and list(r.columns[:11]) == list(schema.ROUNDS)
    assert len(turns(schema.empty("messages"))) == 0


def test_turns_merge_consecutive_speaker():
    m = msgs(
        [
            ("customer", None, "10:00:00", "在吗"),
            ("customer", None, "10:00:05", "有人吗"),
            ("agent", A, "10:00:20", "在的"),
            ("agent", B, "10:00:25", "我来帮您"),
            ("agent", B, None, "请问"),
            ("customer", None, "10:01:00", "好"),
        ]
    )
    t = turns(m)
    assert t["turn"].tolist() == [1, 2, 3, 4]
    assert t["role"].astype(str).tolist() == ["customer", "agent", "agent", "customer"]
    assert t["agent"].tolist()[1:3] == [A, B]
    assert t["text"].tolist() == ["在吗\n有人吗", "在的", "我来帮您\n请问", "好"]
    assert t["n_messages"].tolist() == [2, 1, 2, 1]
    assert t["start"].iloc[2] == pd.Timestamp("2026-11-10 10:00:25", tz=TZ)
    assert t["end"].iloc[2] == pd.Timestamp("2026-11-10 10:00:25", tz=TZ)
    assert schema.failures(t, "turns").empty


def test_turns_of_text_held_in_several_arrow_chunks():
    """A table read back from parquet may hold its text in several Arrow chunks: same turns."""
    m = msgs([("customer", None, "10:00:00", "在吗"), ("customer", None, "10:00:05", "有人吗"),
              ("agent", A, "10:00:20", "在的")])
    chunked = m.copy()
    chunked["text"] = pd.concat([m["text"].iloc[:1], m["text"].iloc[1:]])
    assert chunked["text"].array._pa_array.num_chunks == 2
    pd.testing.assert_frame_equal(turns(chunked), turns(m), check_exact=True)


def test_message_rounds_maps_customer_messages():
    mr = message_rounds(msgs(WORKED))
    assert mr["round"].tolist() == [1, 1, 2]
    assert mr.index.tolist() == [0, 1, 3]


# -- properties --------------------------------------------------------------------------------
ROLE_CHOICES = ["customer", "customer", "agent", "auto_reply", "bot", "system"]


@st.composite
def random_messages(draw):
    n_conv = draw(st.integers(1, 4))
    frames = []
    for c in range(n_conv):
        n = draw(st.integers(1, 12))
        roles = draw(st.lists(st.sampled_from(ROLE_CHOICES), min_size=n, max_size=n))
        gaps = draw(st.lists(st.integers(0, 4000), min_size=n, max_size=n))
        missing = draw(st.lists(st.booleans(), min_size=n, max_size=n)) if draw(st.booleans()) else [False] * n
        t0 = pd.Timestamp("2026-11-10 06:00", tz=TZ)
        secs = np.cumsum(gaps)
        rows = []
        for role, s, miss in zip(roles, secs, missing, strict=True):
            agent = A if role in ("agent", "auto_reply") else ("云栖家居:店小蜜" if role == "bot" else None)
            ts = None if miss else (t0 + pd.Timedelta(seconds=int(s))).isoformat()
            rows.append((role, agent, ts, "x"))
        frames.append(msgs(rows, conv=f"c{c}", customer=f"买家{c}"))
    return cat(*frames)


@settings(max_examples=60, deadline=None)
@given(random_messages(), st.sampled_from(["cap", "exclude"]))
def test_round_invariants(m, policy):
    cfg = LatencyConfig(unanswered=policy)
    r = rounds(m, cfg)
    assert schema.failures(r, "rounds").empty
    resp = r["response_s"].dropna()
    assert (resp >= 0).all()
    capped = r["capped_s"].dropna()
    assert ((capped >= 0) & (capped <= cfg.cap_s)).all()
    # every customer message belongs to exactly one round
    assert r["n_messages"].sum() == (m["role"] == "customer").sum()
    # rounds never overlap within a conversation: a round ends before the next starts
    for _, g in r.groupby("conversation_id"):
        assert g["round"].tolist() == list(range(1, len(g) + 1))
        assert g["answered"].iloc[:-1].all()  # only the last round can be open
        both = g["reply"].iloc[:-1].notna().to_numpy() & g["start"].iloc[1:].notna().to_numpy()
        assert (g["reply"].iloc[:-1].to_numpy()[both] <= g["start"].iloc[1:].to_numpy()[both]).all()
    # the naive definition agrees
    for cid, g in m.groupby("conversation_id", sort=False):
        expected, open_start = [], False
        for role in g["role"].astype(str):
            if role == "customer" and not open_start:
                open_start = True
            elif role == "agent" and open_start:
                expected.append(True)
                open_start = False
        if open_start:
            expected.append(False)
        assert r.loc[r["conversation_id"] == cid, "answered"].tolist() == expected


@pytest.mark.parametrize("n", [1, 2, 7])
def test_turn_invariants(n):
    rows = [("customer" if i % 3 else "agent", None if i % 3 else A, f"10:00:{i:02d}", f"m{i}") for i in range(n)]
    m = msgs(rows)
    t = turns(m)
    assert t["n_messages"].sum() == n
    assert "\n".join(t["text"]) == "\n".join(m["text"])


# -- the sample's ground truth -------------------------------------------------------------------
def _iso(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s.replace("", None), format="ISO8601", utc=True).dt.tz_convert(TZ)


def truth_messages(truth_dir) -> pd.DataFrame:
    """The sample's true messages (MESSAGES schema); ``conversation_id`` = the truth's conversation key.

    Timed messages belong to the customer's conversation that started last at or before them; a
    message without a time belongs to the next timed message's conversation when that one starts a
    conversation, else to the current one (data/sample_truth/README.md). Used by the metrics tests too.
    """
    m = pd.read_csv(truth_dir / "messages.csv.gz", dtype=str, keep_default_na=False)
    conv = pd.read_csv(truth_dir / "conversations.csv.gz", dtype=str, keep_default_na=False)
    m["ts"] = _iso(m["ts"])
    conv["start"] = _iso(conv["start"])
    m["_pos"] = np.arange(len(m))
    timed = m[m["ts"].notna()].sort_values("ts")
    starts = conv[["customer", "start", "conversation"]].sort_values("start")
    hit = pd.merge_asof(timed[["_pos", "customer", "ts"]], starts, left_on="ts", right_on="start", by="customer")
    hit = hit.set_index("_pos")
    m["_conv"] = m["_pos"].map(hit["conversation"])
    m["_is_start"] = m["_pos"].map(hit["ts"] == hit["start"])
    g = m.groupby("customer", sort=False)
    nxt, prev = g["_conv"].bfill(), g["_conv"].ffill()
    nxt_start = g["_is_start"].bfill().fillna(False).astype(bool)
    m["conversation_id"] = m["_conv"].fillna(nxt.where(nxt.notna() & (nxt_start | prev.isna()), prev))
    assert m["conversation_id"].notna().all()
    m = m.sort_values(["conversation_id", "_pos"], kind="stable")
    out = pd.DataFrame(
        {
            "message_id": m["source"] + ":" + m["line"],
            "conversation_id": m["conversation_id"],
            "shop": "栖木家居",
            "customer": m["customer"],
            "sender": m["sender"],
            "agent": m["agent"].replace("", None),
            "role": m["role"],
            "ts": m["ts"],
            "text": m["text"],
            "source": m["source"],
            "line": m["line"].astype("int64"),
        }
    ).reset_index(drop=True)
    return schema.conform(out, "messages")


def test_rounds_match_sample_truth(truth_dir):
    m = truth_messages(truth_dir)
    r = rounds(m, LatencyConfig())
    t = pd.read_csv(truth_dir / "rounds.csv.gz", dtype=str, keep_default_na=False)
    t["round"] = t["round"].astype("int64")
    j = t.merge(r, left_on=["conversation", "round"], right_on=["conversation_id", "round"], how="outer",
                indicator=True, suffixes=("_truth", ""))
    assert (j["_merge"] == "both").all(), j["_merge"].value_counts().to_dict()
    assert len(r) == len(t) > 9_000
    assert (j["agent_truth"].replace("", None).fillna("-") == j["agent"].fillna("-")).all()
    assert ((j["reply_truth"] != "") == j["answered"]).all()
    assert (_iso(j["start_truth"]) == j["start"]).all()
    truth_s = pd.to_numeric(j["response_s_truth"].replace("", None)).to_numpy(dtype=float)
    np.testing.assert_array_equal(truth_s, j["response_s"].to_numpy(dtype=float))
    assert ((j["in_hours_truth"] == "true") == j["in_hours"]).all()
    assert ((j["transfer_truth"] == "true") == j["transfer"]).all()
    assert j["transfer"].sum() > 0 and (~j["in_hours"]).sum() > 0 and (~j["answered"]).sum() > 0
    # turns cover every message once
    tu = turns(m)
    assert tu["n_messages"].sum() == len(m)
    assert schema.failures(tu, "turns").empty and schema.failures(r, "rounds").empty


def test_transfer_sources_of_sample(truth_dir):
    m = truth_messages(truth_dir)
    src = transfer_sources(m)
    assert len(src) > 0 and src.str.startswith("栖木家居:").all()
    assert not src.str.contains("服务助手").any()  # routing lines are not transfers


def test_rounds_from_read_chats_match_sample_truth(sample_chats, truth_dir):
    """End to end: the sample exports as read by ``read_chats`` (in its row order) give the true rounds."""
    m = sample_chats.messages
    r = rounds(m, LatencyConfig())
    first = m.groupby("conversation_id")["ts"].min().dt.strftime("%Y-%m-%dT%H:%M:%S")
    cust = m.groupby("conversation_id")["customer"].first()
    r["conversation"] = r["conversation_id"].map(cust + "|" + first)
    t = pd.read_csv(truth_dir / "rounds.csv.gz", dtype=str, keep_default_na=False)
    t["round"] = t["round"].astype("int64")
    j = t.merge(r, on=["conversation", "round"], how="outer", indicator=True, suffixes=("_truth", ""))
    assert (j["_merge"] == "both").all(), j["_merge"].value_counts().to_dict()
    assert (j["agent_truth"].replace("", None).fillna("-") == j["agent"].fillna("-")).all()
    truth_s = pd.to_numeric(j["response_s_truth"].replace("", None)).to_numpy(dtype=float)
    np.testing.assert_array_equal(truth_s, j["response_s"].to_numpy(dtype=float))
    assert ((j["transfer_truth"] == "true") == j["transfer"]).all()
    assert ((j["in_hours_truth"] == "true") == j["in_hours"]).all()


def test_service_hours_edges_and_naive_times():
    cfg = LatencyConfig(service_start="08:00", service_end="24:00", timezone=TZ)
    start = pd.Series(pd.to_datetime(["2026-11-10 07:59:59", "2026-11-10 08:00:00", "2026-11-10 23:59:59", None]))
    assert in_service_hours(start, cfg).tolist() == [False, True, True, True]  # naive = local; NaT counts as in hours
    # UTC input is judged in the shop's timezone: 00:30 UTC = 08:30 in Shanghai
    utc = pd.Series(pd.to_datetime(["2026-11-10 00:30:00"]).tz_localize("UTC"))
    assert in_service_hours(utc, LatencyConfig()).tolist() == [True]
    m = msgs(WORKED).assign(ts=lambda d: d["ts"].dt.tz_localize(None))
    assert rounds(m)["response_s"].tolist() == [475.0, 30.0]


# -- acknowledgements ----------------------------------------------------------------------------
def test_acknowledgement_texts():
    from csaudit.config import ACKNOWLEDGEMENTS
    from csaudit.model.rounds import acknowledgement_mask

    texts = {
        "好的": True, "好的，谢谢！": True, "嗯嗯好的": True, "ＯＫ👌": True, "Ok~": True, "謝謝": True,
        "好的[微笑]": True, " 没有了 谢谢 ": True, "我再看看": True, "好的\n谢谢": True, "没有了呢": True, "好的哈～": True, "没有，谢谢": True,
        "？？": False, "👍": False, "": False, "好的我拍了": False, "好的，什么时候发货": False,
        "谢谢你们的差评": False, "okk": False, "不好": False, "呢": False, "好的尽快": False,
    }
    s = pd.Series([*texts, None], dtype="str")
    assert acknowledgement_mask(s, ACKNOWLEDGEMENTS).tolist() == [*texts.values(), False]
    assert not acknowledgement_mask(s, []).any()
    assert acknowledgement_mask(pd.Series(["收到啦"]), ["收到啦"]).tolist() == [True]  # the shop's own phrases


def test_an_acknowledgement_opens_no_round():
    m = msgs(
        [
            ("customer", None, "10:00:00", "这个有货吗"),
            ("agent", A, "10:00:20", "有的亲"),
            ("customer", None, "10:01:00", "好的，谢谢"),  # would open a round: opens none
            ("customer", None, "10:03:00", "那发什么快递"),  # opens it, the clock starts here
            ("agent", A, "10:03:30", "默认中通"),
            ("customer", None, "10:04:00", "嗯嗯"),  # the conversation's last message: no open round
        ]
    )
    r = rounds(m)
    assert r["round"].tolist() == [1, 2] and r["answered"].all()
    assert r["response_s"].tolist() == [20.0, 30.0] and r["n_messages"].tolist() == [1, 1]
    assert r["start_message_id"].tolist() == ["c1-0", "c1-3"]
    assert not r["slow"].any()
    assert message_rounds(m).index.tolist() == [0, 3]  # the acknowledgements belong to no round
    # with an empty list every customer message opens or joins a round, as before
    old = rounds(m, LatencyConfig(acknowledgements=[]))
    assert old["n_messages"].tolist() == [1, 2, 1] and old["answered"].tolist() == [True, True, False]
    assert old["response_s"].iloc[1] == 150.0


def test_an_acknowledgement_inside_an_open_round_changes_nothing_but_its_count():
    m = msgs(
        [
            ("customer", None, "10:00:00", "能便宜点吗"),
            ("customer", None, "10:00:30", "好的"),
            ("agent", A, "10:05:00", "已经是最低价了"),
        ]
    )
    r = rounds(m)
    assert r["n_messages"].tolist() == [2] and r["response_s"].tolist() == [300.0] and r["slow"].tolist() == [True]
    assert r.equals(rounds(m, LatencyConfig(acknowledgements=[])))


def test_acknowledgements_only_give_no_round_and_nobody_unreplied():
    from csaudit.metrics.latency import agent_latency, unreplied

    m = cat(
        msgs([("agent", A, "10:00:00", "您的快递已签收"), ("customer", None, "10:00:30", "收到，谢谢")]),
        msgs([("customer", None, "11:00:00", "在吗"), ("agent", A, "11:00:10", "在的"),
              ("customer", None, "11:01:00", "好的")], conv="c2", customer="买家2"),
    )
    r = rounds(m)
    assert r["conversation_id"].tolist() == ["c2"]
    assert unreplied(r, m, LatencyConfig()).empty
    a = agent_latency(m, r).set_index("agent")
    assert a.loc[A, "reply_rate"] == 1.0 and a.loc[A, "slow_rounds"] == 0
