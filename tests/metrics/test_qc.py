"""QC rules (质检): one positive and one negative hand-built case per rule."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from csaudit.config import Config, QCConfig
from csaudit.metrics.lexicon import Lexicon, find_hits
from csaudit.metrics.qc import CUSTOMER_RULES, RULES, qc_hits, rule_specs
from csaudit.model import schema

from .test_lexicon import T0, make_messages

LEX = Lexicon.load()


def rounds_frame(rows: list[tuple]) -> pd.DataFrame:
    """rows: (conversation_id, round, start_s, reply_s or None) → a ROUNDS frame."""
    start = [T0 + pd.Timedelta(seconds=r[2]) for r in rows]
    reply = [T0 + pd.Timedelta(seconds=r[3]) if r[3] is not None else pd.NaT for r in rows]
    df = pd.DataFrame(
        {
            "conversation_id": [r[0] for r in rows],
            "customer": "买家",
            "agent": "云栖家居:阿青",
            "round": [r[1] for r in rows],
            "start": pd.Series(start, dtype="datetime64[ns, Asia/Shanghai]"),
            "reply": pd.Series(reply, dtype="datetime64[ns, Asia/Shanghai]"),
        }
    )
    df["response_s"] = (df["reply"] - df["start"]).dt.total_seconds()
    df["capped_s"] = df["response_s"].clip(upper=600).fillna(600)
    df["answered"] = df["reply"].notna()
    df["in_hours"] = True
    df["slow"] = df["response_s"] > 180
    return schema.conform(df, "rounds")


NO_ROUNDS = schema.empty("rounds")


def run(rows: list[tuple], rounds: pd.DataFrame = NO_ROUNDS, config: Config | None = None) -> pd.DataFrame:
    m = make_messages(rows)
    return qc_hits(m, rounds, find_hits(m, LEX), config or Config())


def rules_of(q: pd.DataFrame, rule: str) -> list[str]:
    return q.loc[q["rule"] == f"qc:{rule}", "message_id"].tolist()


def test_rule_specs_cover_every_rule() -> None:
    specs = rule_specs()
    for rule in (*RULES, *CUSTOMER_RULES):
        spec = specs[rule.removeprefix("qc:")]
        assert spec["severity"] in ("info", "minor", "major", "critical") and len(spec["suggestion"]) > 10


def test_no_greeting_first_reply() -> None:
    rows = [
        ("c1", "customer", "在吗", 0),
        ("c1", "auto_reply", "您好，欢迎光临", 1),  # an auto-reply greeting does not count
        ("c1", "agent", "在的", 20),
        ("c1", "agent", "有什么可以帮您", 25),  # same turn: the greeting counts
        ("c2", "customer", "在吗", 0),
        ("c2", "agent", "稍后回复", 20),
        ("c2", "customer", "这个有货吗", 30),
        ("c2", "agent", "您好，有货的", 40),  # second turn: too late
        ("c3", "customer", "在吗", 0),
        ("c3", "auto_reply", "亲，您好", 1),
    ]
    q = run(rows)
    assert rules_of(q, "no_greeting_first_reply") == ["m5"]  # c1 fine, c2 flagged, c3 has no agent
    row = q.loc[q["rule"] == "qc:no_greeting_first_reply"].iloc[0]
    assert row["text"] == "稍后回复" and row["conversation_id"] == "c2" and row["agent"] == "云栖家居:阿青"
    assert row["category"] == "no_greeting" and row["side"] == "agent" and pd.isna(row["term"])
    assert (
        pd.isna(row["start"]) and row["suggestion"] == rule_specs()["no_greeting_first_reply"]["suggestion"]
    )
    assert schema.failures(q, "hits").empty


def test_no_apology_after_wait() -> None:
    rows = [
        ("c1", "customer", "在吗", 0),
        ("c1", "agent", "您好", 200),  # slow reply (200 s) ...
        ("c1", "agent", "这款有货", 210),
        ("c1", "agent", "不好意思刚才忙", 220),  # ... apology within the next 5 agent messages: fine
        ("c2", "customer", "在吗", 0),
        ("c2", "agent", "您好", 300),  # slow, no apology in the next 2 agent messages
        ("c2", "agent", "有货", 310),
        ("c2", "agent", "抱歉", 320),  # the third: too late with apology_within_msgs = 2
        ("c3", "customer", "在吗", 0),
        ("c3", "agent", "您好", 100),  # fast: nothing expected
    ]
    rounds = rounds_frame([("c1", 1, 0, 200), ("c2", 1, 0, 300), ("c3", 1, 0, 100)])
    cfg = Config(qc=QCConfig(apology_within_msgs=2))
    q = run(rows, rounds, cfg)
    assert rules_of(q, "no_apology_after_wait") == ["m1", "m5"]
    q = run(rows, rounds)  # default 5 messages: only c2... whose apology is the 3rd message → fine too
    assert rules_of(q, "no_apology_after_wait") == []
    q = run(rows, rounds, Config(qc=QCConfig(long_wait_s=250.0, apology_within_msgs=2)))
    assert rules_of(q, "no_apology_after_wait") == ["m5"]


def test_unanswered_round_needs_no_apology() -> None:
    rows = [("c1", "customer", "在吗", 0), ("c1", "customer", "人呢", 500)]
    rounds = rounds_frame([("c1", 1, 0, None)])
    assert rules_of(run(rows, rounds), "no_apology_after_wait") == []


def test_hold_no_followup() -> None:
    rows = [
        ("c1", "customer", "帮我查下物流", 0),
        ("c1", "agent", "好的亲，稍等，我查一下", 10),
        ("c1", "agent", "已经到杭州了", 10 + 14 * 60),  # back within 15 min: fine
        ("c2", "customer", "帮我查下物流", 0),
        ("c2", "agent", "亲，我帮您查", 10),
        ("c2", "customer", "人呢", 600),
        ("c2", "agent", "到杭州了", 10 + 16 * 60),  # 16 min later: flagged
        ("c3", "customer", "帮我查下物流", 0),
        ("c3", "agent", "请稍等", 10),  # never came back: flagged
    ]
    q = run(rows)
    assert rules_of(q, "hold_no_followup") == ["m4", "m8"]
    hold = q.loc[q["rule"] == "qc:hold_no_followup"].set_index("message_id")
    assert (hold.loc["m4", "term"], hold.loc["m4", "start"], hold.loc["m4", "end"]) == ("我帮您查", 2, 6)
    assert (hold.loc["m8", "term"], hold.loc["m8", "start"], hold.loc["m8", "end"]) == ("请稍等", 0, 3)
    assert hold.loc["m4", "severity"] == "major"
    q = run(rows, config=Config(qc=QCConfig(hold_followup_min=20.0)))
    assert rules_of(q, "hold_no_followup") == ["m8"]


def test_no_closing() -> None:
    rows = [
        ("c1", "customer", "好的", 0),
        ("c1", "agent", "感谢光临，欢迎下次再来", 10),
        ("c1", "customer", "嗯嗯", 20),
        ("c2", "customer", "好的", 0),
        ("c2", "agent", "满意的话给个服务评价哦", 10),  # rating invitation counts
        ("c3", "customer", "好的", 0),
        ("c3", "agent", "好的亲", 10),  # no closing: flagged, evidence = last agent message
        ("c4", "customer", "在吗", 0),  # no agent reply: no rule
    ]
    q = run(rows)
    assert rules_of(q, "no_closing") == ["m6"]
    rows_far = [("c1", "agent", "感谢光临", 0)] + [
        ("c1", "customer", f"还有问题{i}", i + 1) for i in range(3)
    ]
    rows_far += [("c1", "agent", "您说", 10)]
    assert rules_of(run(rows_far, config=Config(qc=QCConfig(closing_last_n=3))), "no_closing") == ["m4"]
    assert rules_of(run(rows_far, config=Config(qc=QCConfig(closing_last_n=5))), "no_closing") == []


def test_customer_signals_are_lexicon_hits_with_evidence() -> None:
    rows = [
        ("c1", "customer", "我刚刚说过了，尺码是M", 0),
        ("c1", "agent", "您好，收到", 10),
        ("c1", "customer", "再不发货我就投诉", 20),
        ("c2", "customer", "好的谢谢", 0),
        ("c2", "agent", "您好", 10),
    ]
    m = make_messages(rows)
    h = find_hits(m, LEX)
    for qc_rule, lex_rule in CUSTOMER_RULES.items():
        got = h.loc[h["rule"] == lex_rule]
        assert len(got) == 1, qc_rule
        r = got.iloc[0]
        assert r["text"][r["start"] : r["end"]] == r["term"] and r["agent"] == "云栖家居:阿青"
    assert h.loc[h["rule"] == "lexicon:repeated", "message_id"].tolist() == ["m0"]
    assert h.loc[h["rule"] == "lexicon:escalation", "term"].tolist() == ["投诉"]
    q = qc_hits(m, NO_ROUNDS, h, Config())
    assert not q["rule"].isin(list(CUSTOMER_RULES)).any()  # counted once, as lexicon hits


def test_disabled_rules_and_no_timestamps() -> None:
    rows = [("c1", "customer", "在吗", 0), ("c1", "agent", "稍等", 10)]
    q = run(rows)
    assert set(q["rule"]) == {"qc:no_greeting_first_reply", "qc:hold_no_followup", "qc:no_closing"}
    cfg = Config(qc=dataclasses.replace(QCConfig(), disabled_rules=["qc:no_closing", "hold_no_followup"]))
    assert set(run(rows, config=cfg)["rule"]) == {"qc:no_greeting_first_reply"}
    m = make_messages(rows).assign(ts=pd.NaT)
    m = schema.conform(m, "messages")
    q = qc_hits(m, NO_ROUNDS, find_hits(m, LEX), Config())
    assert set(q["rule"]) == {"qc:no_greeting_first_reply", "qc:no_closing"}  # hold needs times


def test_empty_inputs() -> None:
    m = make_messages([])
    q = qc_hits(m, NO_ROUNDS, find_hits(m, LEX), Config())
    assert q.empty and list(q.columns) == list(schema.HITS)


@pytest.mark.parametrize("n", [1, 3])
def test_qc_does_not_mutate_inputs(n: int) -> None:
    rows = [("c1", "customer", "在吗", 0), ("c1", "agent", "稍等", 200)] * n
    m = make_messages(rows)
    h = find_hits(m, LEX)
    r = rounds_frame([("c1", 1, 0, 200)])
    before = (m.copy(), h.copy(), r.copy())
    qc_hits(m, r, h, Config())
    pd.testing.assert_frame_equal(m, before[0])
    pd.testing.assert_frame_equal(h, before[1])
    pd.testing.assert_frame_equal(r, before[2])


def _varied_rows(n_conv: int = 12) -> list[tuple]:
    """Conversations mixing greetings, closings, apologies, holds and silent stretches."""
    texts = ["您好亲", "稍等，我查一下", "不好意思久等了", "感谢光临", "好的", "亲，满意的话给个评价哦", "嗯"]
    rows = []
    for c in range(n_conv):
        t = 0
        for k in range(3 + c % 4):
            rows.append((f"c{c}", "customer", f"在吗{k % 2}", t))
            t += 30 + 200 * ((c + k) % 3)
            rows.append((f"c{c}", "agent", texts[(c + k) % len(texts)], t))
            if (c + k) % 2:
                rows.append((f"c{c}", "system", "系统消息", t + 1))
            t += 400 * (k % 2)
    return rows


def _rounds_of(rows: list[tuple]) -> pd.DataFrame:
    from csaudit.model.rounds import rounds

    return rounds(make_messages(rows), Config().latency)


@pytest.mark.parametrize("ids", ["as_made", "fixed_width", "duplicated"])
def test_row_lookups_equal_message_id_lookups(ids: str) -> None:
    """politeness/qc flag messages by row when the hits come straight from find_hits (and ids are
    unique), by message id otherwise: both give the same figures and findings."""
    from csaudit.metrics.lexicon import politeness

    rows = _varied_rows()
    m = make_messages(rows)
    if ids == "fixed_width":
        m["message_id"] = pd.array([f"{i:08x}" for i in range(len(m))], dtype="str")
    elif ids == "duplicated":  # a customer message shares the id of an agent message
        m["message_id"] = pd.array([f"{i // 2:08x}" for i in range(len(m))], dtype="str")
    r = _rounds_of(rows)
    cfg = Config()
    h = find_hits(m, LEX)
    by_row = (qc_hits(m, r, h, cfg), politeness(m, h, LEX))
    # new id arrays (not find_hits' own): looked up by message id
    h_copy = h.assign(message_id=pd.array(h["message_id"].tolist(), dtype="str"))
    by_id = (qc_hits(m, r, h_copy, cfg), politeness(m, h_copy, LEX))
    pd.testing.assert_frame_equal(by_row[0], by_id[0], check_exact=True)
    pd.testing.assert_frame_equal(by_row[1], by_id[1], check_exact=True)
    assert set(by_row[0]["rule"]) >= {"qc:no_greeting_first_reply", "qc:no_closing", "qc:hold_no_followup"}


def test_distinct_fixed_width() -> None:
    import pyarrow as pa

    from csaudit.metrics.lexicon import _distinct_fixed_width

    assert _distinct_fixed_width(pa.array(["a1b2c3d4e5f6a7b8", "a1b2c3d4e5f6a7b9", "ffffffffffffffff"]))
    assert not _distinct_fixed_width(pa.array(["a1b2c3d4e5f6a7b8", "x", "a1b2c3d4e5f6a7b8"]))
    assert not _distinct_fixed_width(pa.array(["abc", "abd", "abc"], type=pa.large_string()))
    assert _distinct_fixed_width(pa.array(["abc", "abd", "abe"], type=pa.large_string()).slice(1))
    assert _distinct_fixed_width(pa.array(["0123456789abcdefXYZ", "0123456789abcdefXYz"]))


def test_first_reply_and_closing_run_path_equals_groupby_path() -> None:
    """Conversation codes that never decrease take the per-run path; the same speech with codes
    renumbered backwards (still one run per conversation) takes the groupby path: same evidence."""
    from csaudit.metrics.lexicon import agent_turns, closing_check, first_reply

    m = make_messages(_varied_rows())
    h = find_hits(m, LEX)
    speech = agent_turns(m)
    backwards = speech.assign(conv=speech["conv"].max() - speech["conv"])
    for f in (
        lambda s: first_reply(s, h),
        lambda s: closing_check(s, h, 3),
        lambda s: closing_check(s, h, 10),
    ):
        pd.testing.assert_frame_equal(f(speech), f(backwards), check_exact=True)
        assert len(f(speech)) == m["conversation_id"].nunique()


@pytest.mark.parametrize(
    ("n_conv", "times"), [(1, "ok"), (5, "missing"), (12, "ok"), (12, "missing"), (12, "back")]
)
def test_no_apology_search_equals_merges(n_conv: int, times: str) -> None:
    """The integer search of no_apology_after_wait gives the merge_asof result (taken when the
    conversation codes are renumbered backwards), also with agent messages without a time or with
    times going back inside a conversation."""
    from csaudit.metrics.lexicon import agent_turns
    from csaudit.metrics.qc import no_apology_after_wait

    rows = _varied_rows(n_conv) + [("cx", "customer", "在吗", 0), ("cx", "agent", "稍等", 900)]
    m = make_messages(rows)
    agent_rows = m.index[m["role"] == "agent"]
    if times == "missing":  # every third agent message loses its time
        m.loc[agent_rows[::3], "ts"] = pd.NaT
    elif times == "back":  # every fourth agent message is dated before the previous ones
        m.loc[agent_rows[1::4], "ts"] = m.loc[agent_rows[1::4], "ts"] - pd.Timedelta(minutes=30)
    h = find_hits(m, LEX)
    speech = agent_turns(m)
    backwards = speech.assign(conv=speech["conv"].max() - speech["conv"])
    r = _rounds_of(rows)
    for within in (1, 2, 3):
        cfg = Config(qc=dataclasses.replace(QCConfig(), long_wait_s=100, apology_within_msgs=within))
        got = no_apology_after_wait(speech, r, h, cfg)
        want = no_apology_after_wait(backwards, r, h, cfg)
        pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert len(got) and len(got) < len(r)


def test_order_equals_stable_sort_values() -> None:
    from csaudit.metrics.qc import _order

    ts = pd.Series(
        [T0, pd.NaT, T0, T0 + pd.Timedelta(1, "s"), pd.NaT, T0, T0], dtype="datetime64[ns, Asia/Shanghai]"
    )
    df = pd.DataFrame(
        {
            "conversation_id": pd.array(["c2", "c1", "c1", None, "c10", "c1", "c2"], dtype="str"),
            "ts": ts,
            "rule": pd.array(["qc:b", "qc:a", "qc:a", "qc:a", None, "qc:a", "qc:a"], dtype="str"),
            "n": range(7),
        },
        index=[5, 3, 9, 0, 1, 2, 4],
    )
    want = df.sort_values(["conversation_id", "ts", "rule"], kind="stable", na_position="first")
    pd.testing.assert_frame_equal(df.take(_order(df)), want, check_exact=True)


def test_failed_evidence_equals_filtered_checks() -> None:
    """no_greeting_first_reply / no_closing return first_reply / closing_check rows that fail,
    with the same index."""
    from csaudit.metrics.lexicon import agent_turns, closing_check, first_reply
    from csaudit.metrics.qc import no_closing, no_greeting_first_reply

    m = make_messages(_varied_rows())
    h = find_hits(m, LEX)
    speech = agent_turns(m)
    cfg = Config()
    fr = first_reply(speech, h, ["greeting"])
    cl = closing_check(speech, h, cfg.qc.closing_last_n, ["closing", "rating_invite"])
    pd.testing.assert_frame_equal(
        no_greeting_first_reply(speech, h, cfg), fr.loc[~fr["ok"]], check_exact=True
    )
    pd.testing.assert_frame_equal(no_closing(speech, h, cfg), cl.loc[~cl["ok"]], check_exact=True)
    assert (~fr["ok"]).sum() and (~cl["ok"]).sum() and fr["ok"].sum()


def test_hit_rows_follow_the_last_hits_and_are_freed_with_them() -> None:
    import gc

    from csaudit.metrics import lexicon

    m = make_messages(_varied_rows())
    h = find_hits(m, LEX)
    assert lexicon._hit_rows(m, h) is not None
    h2 = find_hits(m, LEX)
    assert lexicon._hit_rows(m, h) is None and lexicon._hit_rows(m, h2) is not None
    assert lexicon._hit_rows(m.assign(message_id=m["message_id"].tolist()), h2) is None  # other id array
    del h, h2
    gc.collect()
    assert lexicon._ROWS.get("last") is None


@pytest.mark.parametrize("times", ["ok", "missing", "back"])
def test_no_followup_runs_equal_groupby_shift(times: str) -> None:
    from csaudit.metrics.lexicon import agent_turns
    from csaudit.metrics.qc import _no_followup

    m = make_messages(_varied_rows())
    agent_rows = m.index[m["role"] == "agent"]
    if times == "missing":
        m.loc[agent_rows[::3], "ts"] = pd.NaT
    elif times == "back":
        m.loc[agent_rows[1::4], "ts"] = m.loc[agent_rows[1::4], "ts"] - pd.Timedelta(minutes=30)
    speech = agent_turns(m)
    backwards = speech.assign(conv=speech["conv"].max() - speech["conv"])
    is_agent = speech["is_agent"].to_numpy()
    for limit in (0.0, 200.0, 400.0, 1e9):
        got = _no_followup(speech, is_agent, limit)
        assert got.tolist() == _no_followup(backwards, is_agent, limit).tolist()
    assert 0 < got.sum() < is_agent.sum()


# -- rules declared as data -------------------------------------------------------------------------


def test_builtin_rules_are_declared_by_scope() -> None:
    from csaudit.metrics.qc import declared_rules

    declared = declared_rules()
    assert {f"qc:{n}" for n in declared} == set(RULES)
    assert declared["no_closing"]["scope"] == "last_messages"
    assert declared["no_closing"]["last_n_from"] == "qc.closing_last_n"


def test_a_declared_rule_runs_through_its_scope_and_its_parameters_count() -> None:
    specs = {
        "no_thanks_first_reply": {
            "category": "no_thanks", "severity": "minor", "side": "agent", "suggestion": "先道谢再回答问题",
            "scope": "first_agent_turn", "without": ["thanks"],
        },
        "short_closing": {
            "category": "no_closing", "severity": "minor", "side": "agent", "suggestion": "结束前礼貌道别",
            "scope": "last_messages", "last_n": 1, "without_from": "score.closing_categories",
        },
    }
    rows = [
        ("c1", "customer", "在吗", 0),
        ("c1", "agent", "谢谢您的咨询", 10),
        ("c1", "customer", "好", 20),
        ("c1", "agent", "祝您生活愉快", 30),
        ("c1", "customer", "嗯", 40),  # the closing is 2 messages from the end: last_n = 1 misses it
        ("c2", "customer", "在吗", 0),
        ("c2", "agent", "在的", 10),
    ]
    m = make_messages(rows)
    q = qc_hits(m, NO_ROUNDS, find_hits(m, LEX), Config(), specs=specs)
    assert rules_of(q, "no_thanks_first_reply") == ["m6"]
    assert rules_of(q, "short_closing") == ["m3", "m6"]
    assert set(q.loc[q["rule"] == "qc:no_thanks_first_reply", "suggestion"]) == {"先道谢再回答问题"}


def test_declared_rule_errors_name_the_rule() -> None:
    m = make_messages([("c1", "customer", "在吗", 0), ("c1", "agent", "在的", 10)])
    h = find_hits(m, LEX)
    bad_scope = {"x": {"category": "x", "severity": "minor", "side": "agent", "suggestion": "s", "scope": "week"}}
    with pytest.raises(ValueError, match="'x'.*scope"):
        qc_hits(m, NO_ROUNDS, h, Config(), specs=bad_scope)
    bad_ref = {"y": {"category": "y", "severity": "minor", "side": "agent", "suggestion": "s",
                     "scope": "first_agent_turn", "without_from": "score.nothing_here"}}
    with pytest.raises(ValueError, match="'y'.*names no setting"):
        qc_hits(m, NO_ROUNDS, h, Config(), specs=bad_ref)
