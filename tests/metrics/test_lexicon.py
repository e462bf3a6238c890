"""Lexicon loading, phrase matching (find_hits) and politeness figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from csaudit.config import Config, LexiconConfig
from csaudit.metrics.lexicon import Lexicon, find_hits, normalize_many, politeness
from csaudit.model import schema
from csaudit.text import normalize_one

ROLE = pd.CategoricalDtype(list(schema.ROLES))
T0 = pd.Timestamp("2026-11-09 10:00", tz="Asia/Shanghai")


def make_messages(rows: list[tuple], agent: str = "云栖家居:阿青") -> pd.DataFrame:
    """rows: (conversation_id, role, text[, seconds]) → a MESSAGES frame."""
    conv = [r[0] for r in rows]
    role = [r[1] for r in rows]
    secs = [r[3] if len(r) > 3 else 10 * i for i, r in enumerate(rows)]
    df = pd.DataFrame(
        {
            "message_id": [f"m{i}" for i in range(len(rows))],
            "conversation_id": conv,
            "shop": "云栖家居",
            "customer": ["买家" + c for c in conv],
            "sender": "x",
            "agent": [agent if r in ("agent", "auto_reply", "bot") else None for r in role],
            "role": pd.Categorical(role, dtype=ROLE),
            "ts": (T0 + pd.to_timedelta(secs, unit="s")).as_unit("ns"),
            "text": [r[2] for r in rows],
            "source": "test",
            "line": np.arange(1, len(rows) + 1),
        }
    )
    return schema.conform(df, "messages")


def agent_msgs(*texts: str) -> pd.DataFrame:
    return make_messages([("c1", "agent", t) for t in texts])


@pytest.fixture(scope="module")
def lex() -> Lexicon:
    return Lexicon.load()


def hits_of(texts: list[str] | tuple[str, ...], lex: Lexicon) -> list[tuple[str, str, int, int]]:
    h = find_hits(agent_msgs(*texts), lex)
    return list(zip(h["category"], h["term"], h["start"].astype(int), h["end"].astype(int), strict=True))


# -- loading ----------------------------------------------------------------------------------------


def test_builtin_lexicon_has_every_category(lex: Lexicon) -> None:
    t = lex.table().set_index("category")
    assert set(lex.group("politeness")) == {
        "greeting",
        "please",
        "thanks",
        "apology",
        "honorific",
        "closing",
        "rating_invite",
    }
    assert set(lex.group("negative")) == {
        "refusal",
        "deflection",
        "contradiction",
        "curt",
        "slang",
        "impatience",
        "off_platform",
        "absolute_claim",
        "inducement",
        "risky_promise",
        "abuse",
        "bargain_refusal",
    }
    assert set(lex.group("customer")) == {"repeated", "escalation"}
    assert set(t.loc[t["severity"] == "critical"].index) == {"off_platform", "inducement", "abuse"}
    assert (t["suggestion"].str.len() > 10).all()
    assert t.loc["curt", "mode"] == "whole" and t.loc["contradiction", "mode"] == "after_positive"
    assert set(t.loc[["repeated", "escalation"], "side"]) == {"customer"}


def test_shop_file_adds_removes_overrides_and_disables(tmp_path: Path) -> None:
    (tmp_path / "shop.toml").write_text(
        """
[[category]]
category = "refusal"
terms = ["办不了"]
remove = ["不行"]
severity = "major"
suggestion = "本店话术：先致歉再给方案。"

[[category]]
category = "competitor"
side = "agent"
severity = "minor"
terms = ["别家更便宜"]
suggestion = "不要提及竞品。"
""",
        encoding="utf-8",
    )
    (tmp_path / "csaudit.toml").write_text(
        '[lexicon]\nfiles = ["shop.toml"]\ndisabled_categories = ["honorific"]\n', encoding="utf-8"
    )
    cfg = Config.load(tmp_path / "csaudit.toml")
    lex = Lexicon.load(cfg)
    assert "honorific" not in lex.categories
    refusal = lex.categories["refusal"]
    assert "办不了" in refusal.terms and "不行" not in refusal.terms and "我不能" in refusal.terms
    assert refusal.severity == "major" and refusal.suggestion == "本店话术：先致歉再给方案。"
    assert lex.categories["competitor"].group == "negative"

    h = find_hits(agent_msgs("这个办不了", "不行的", "别家更便宜吗", "您稍等"), lex)
    got = list(zip(h["message_id"], h["category"], h["term"], h["severity"], strict=True))
    assert got == [
        ("m0", "refusal", "办不了", "major"),
        ("m2", "competitor", "别家更便宜", "minor"),
    ]  # 不行 removed; 您 not counted (honorific disabled)
    assert h.loc[h["category"] == "refusal", "suggestion"].iloc[0] == "本店话术：先致歉再给方案。"


def test_bad_shop_file_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "bad.toml"
    p.write_text('[[category]]\ncategory = "x"\nterms = ["a"]\n', encoding="utf-8")
    with pytest.raises(ValueError, match="needs a 'side'"):
        Lexicon.load(Config(lexicon=LexiconConfig(files=[str(p)])))
    p.write_text('[[category]]\ncategory = "refusal"\nseverity = "huge"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="severity"):
        Lexicon.load(Config(lexicon=LexiconConfig(files=[str(p)])))
    with pytest.raises(FileNotFoundError):
        Lexicon.load(Config(lexicon=LexiconConfig(files=[str(tmp_path / "missing.toml")])))


# -- matching ---------------------------------------------------------------------------------------


def test_traditional_and_fullwidth_variants_hit_at_original_offsets(lex: Lexicon) -> None:
    got = hits_of(["亲，這個沒辦法改地址", "暈，又是你", "ＶＸ多少，加我", "可以加個ｖｘ聊"], lex)
    assert ("refusal", "沒辦法", 4, 7) in got
    assert ("slang", "暈", 0, 1) in got
    assert ("off_platform", "ＶＸ", 0, 2) in got
    assert ("off_platform", "加個ｖｘ", 2, 6) in got


def test_hit_row_has_the_evidence(lex: Lexicon) -> None:
    h = find_hits(agent_msgs("亲，這個沒辦法改地址"), lex)
    row = h.loc[h["category"] == "refusal"].iloc[0]
    assert row["rule"] == "lexicon:refusal" and row["severity"] == "minor" and row["side"] == "agent"
    assert row["text"] == "亲，這個沒辦法改地址" and row["text"][row["start"] : row["end"]] == "沒辦法"
    assert row["agent"] == "云栖家居:阿青" and row["message_id"] == "m0" and row["conversation_id"] == "c1"
    assert row["ts"] == T0 and "替代" in row["suggestion"]
    assert schema.failures(h, "hits").empty


def test_whitelisted_phrases_do_not_hit(lex: Lexicon) -> None:
    got = hits_of(
        ["不好意思，让您久等了", "不客气哦", "好不好看都可以退", "头晕的话先休息", "这款不过敏"], lex
    )
    negative = set(lex.group("negative"))
    assert [g for g in got if g[0] in negative] == []
    assert ("apology", "不好意思", 0, 4) in got
    # without the whitelist phrase the term does hit
    assert ("refusal", "不能", 2, 4) in hits_of(["这个不能改"], lex)
    assert [g for g in hits_of(["开机后不能正常充电"], lex) if g[0] == "refusal"] == []


def test_longest_match_wins_and_shorter_terms_do_not_double_count(lex: Lexicon) -> None:
    assert hits_of(["好评返现"], lex) == [("inducement", "好评返现", 0, 4)]
    assert hits_of(["感谢光临"], lex) == [("closing", "感谢光临", 0, 4)]
    assert hits_of(["请稍等"], lex) == [("please", "请稍等", 0, 3)]
    assert hits_of(["加我微信"], lex) == [("off_platform", "加我微信", 0, 4)]
    assert hits_of(["很高兴为您服务"], lex) == [("greeting", "很高兴为您服务", 0, 7)]


def test_curt_reply_is_a_lone_interjection(lex: Lexicon) -> None:
    got = hits_of(["嗯", " 哦哦～", "恩。", "嗯嗯好的", "嗯，我看看", "好的"], lex)
    curt = [g for g in got if g[0] == "curt"]
    assert curt == [("curt", "嗯", 0, 1), ("curt", "哦哦", 1, 3), ("curt", "恩", 0, 1)]


def test_contradiction_needs_a_positive_before_it(lex: Lexicon) -> None:
    got = hits_of(["好的，但是不能今天发", "但是不能今天发", "好的，但是颜色有色差"], lex)
    assert [g for g in got if g[0] == "contradiction"] == [("contradiction", "但是不能", 3, 7)]


def test_ascii_terms_only_hit_as_whole_tokens(lex: Lexicon) -> None:
    assert hits_of(["usb接口的", "qqq"], lex) == []
    assert ("off_platform", "加qq", 0, 3) in hits_of(["加qq吧"], lex)
    assert ("off_platform", "qq", 4, 6) in hits_of(["加我好友qq"], lex)
    m = make_messages([("c1", "customer", "订单号8812315003"), ("c1", "customer", "我要打12315")])
    h = find_hits(m, lex)
    assert list(zip(h["message_id"], h["term"], strict=True)) == [("m1", "12315")]


def test_only_human_agent_rows_hit_agent_rules(lex: Lexicon) -> None:
    m = make_messages(
        [
            ("c1", "customer", "加我微信吧，不然投诉"),
            ("c1", "auto_reply", "[自动回复]加微信领券"),
            ("c1", "bot", "微信客服在线"),
            ("c1", "system", "加我 微信 嗯"),
            ("c1", "agent", "亲，加我微信吧"),
            ("c1", "agent", "亲，平台规定不能加微信哦"),  # saying no to it is compliant
        ]
    )
    h = find_hits(m, lex)
    assert set(h.loc[h["side"] == "agent", "message_id"]) == {"m4", "m5"}
    assert h.loc[h["category"] == "off_platform", "message_id"].tolist() == ["m4"]  # m5: greeting only
    cust = h.loc[h["side"] == "customer"]
    assert list(zip(cust["message_id"], cust["category"], cust["term"], strict=True)) == [
        ("m0", "escalation", "投诉")
    ]
    assert cust["agent"].iloc[0] == "云栖家居:阿青"  # the conversation's agent


def test_distinct_texts_join_back_to_every_message(lex: Lexicon) -> None:
    texts = ["您好", "好的", "您好", "晕", "您好"] * 200
    h = find_hits(agent_msgs(*texts), lex)
    assert len(h) == 600 + 200  # 您好 ×600 (greeting), 晕 ×200
    pos = h["message_id"].str.slice(1).astype(int)
    assert pos.is_monotonic_increasing  # ordered like the messages
    assert set(pos % 5) == {0, 2, 3, 4}
    assert (h.loc[pos % 5 == 3, "term"] == "晕").all() and (pos % 5 == 3).sum() == 200


def test_empty_and_missing_text(lex: Lexicon) -> None:
    assert find_hits(agent_msgs(), lex).empty
    assert list(find_hits(agent_msgs(), lex).columns) == list(schema.HITS)
    assert find_hits(agent_msgs("", "   "), lex).empty


# -- property-based ---------------------------------------------------------------------------------

_LEX = Lexicon.load()
_ALPHABET = list(
    "我不會会能行嗯哦晕暈擦呵微信加好评返现但是的，。！ 您你亲请稍等谢感光临欢迎ＶＸvxqQ12315%％"
) + ["\n"]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(alphabet=_ALPHABET, max_size=30), min_size=1, max_size=8))
def test_every_hit_slices_its_term(texts: list[str]) -> None:
    lex = _LEX
    h = find_hits(agent_msgs(*texts), lex)
    norm_terms = {c: {normalize_one(t) for t in cat.terms} for c, cat in lex.categories.items()}
    for row in h.itertuples():
        piece = row.text[row.start : row.end]
        assert piece == row.term
        assert (
            normalize_one(piece) in norm_terms[row.category] or lex.categories[row.category].mode == "whole"
        )
    # no two hits of one message overlap
    for _, g in h.groupby("message_id"):
        s, e = g["start"].to_numpy(), g["end"].to_numpy()
        order = np.argsort(s)
        assert (s[order][1:] >= e[order][:-1]).all()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(max_size=20), max_size=10))
def test_normalize_many_equals_normalize_one(texts: list[str]) -> None:
    assert normalize_many(texts) == [normalize_one(t) for t in texts]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(max_size=12), max_size=8), st.data())
def test_arrow_joined_texts_and_slices(texts: list[str], data: st.DataObject) -> None:
    """The Arrow-built join equals the Python join; UTF-8 slices equal Python slices (any plane)."""
    import pyarrow as pa

    from csaudit.metrics.lexicon import _Joined, _joined_texts, _utf8_slices

    j = _Joined.build(texts)
    a = _Joined.from_arrow(pa.array(texts, type=pa.string()))
    assert a.s == j.s and a.starts.tolist() == j.starts.tolist() and a.lengths.tolist() == j.lengths.tolist()
    # what find_hits passes: the distinct texts of pd.factorize (an Index of Arrow strings)
    uniques = pd.factorize(pd.Series(texts * 2, dtype="str"))[1]
    order = np.arange(len(uniques))[::-1]
    assert _joined_texts(uniques, order).s == "\n".join(uniques[order])
    bounds = data.draw(st.lists(st.tuples(st.integers(0, len(j.s)), st.integers(0, len(j.s))), max_size=6))
    start = np.array([min(b) for b in bounds], dtype=np.int64)
    end = np.array([max(b) for b in bounds], dtype=np.int64)
    got = _utf8_slices(j.codepoints(), start, end).to_pylist()
    assert got == [j.s[x:y] for x, y in zip(start.tolist(), end.tolist(), strict=True)]


_FILLER = list("这个那款货发快递今天明天吗呢吧，。 12xyz")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(alphabet=_ALPHABET + _FILLER * 6, max_size=40), min_size=1, max_size=12))
def test_occurrences_equal_a_plain_automaton(texts: list[str]) -> None:
    """Key occurrences found on the reduced text plus the one-character look-up are exactly the
    occurrences a plain Aho-Corasick automaton of all keys finds in the whole text."""
    import ahocorasick

    from csaudit.metrics.lexicon import _Joined, _key_char_runs, _occurrences

    j = _Joined.build(normalize_many(texts))
    for side in ("agent", "customer"):
        sm = _LEX._sides[side]
        plain = ahocorasick.Automaton()
        for k in _keys_of(sm):
            plain.add_word(k[0], k[1])
        plain.make_automaton()
        want = sorted((end + 1, kid) for end, kid in plain.iter(j.s)) if len(j.s) else []
        for lo, hi in ((0, len(j.s)), (len(j.s) // 3, len(j.s))):
            end, kid = _occurrences(sm, j, lo, hi)
            got = sorted(zip(end.tolist(), kid.tolist(), strict=True))
            assert got == [(e, k) for e, k in want if e - sm.key_len[k] >= lo and e <= hi]
        text, back = _key_char_runs(sm, j, 0, len(j.s))
        if back is not None:  # the reduced text keeps every character of every occurrence
            assert all(j.s[b] == t for b, t in zip(back.tolist(), text, strict=True) if t != "\n")


def _keys_of(sm) -> list[tuple[str, int]]:
    keys = [(k, v) for k, v in sm.automaton.items()] if sm.automaton is not None else []
    return keys + [
        (chr(c), int(k)) for c, k in zip(sm.single_cp.tolist(), sm.single_kid.tolist(), strict=True)
    ]


# -- politeness figures -----------------------------------------------------------------------------


def test_politeness_figures() -> None:
    rows = [
        ("c1", "customer", "在吗"),
        ("c1", "auto_reply", "您好，欢迎光临"),  # not the agent's greeting
        ("c1", "agent", "有什么问题"),
        ("c1", "agent", "您好亲"),  # same first turn: counts as greeting in the first reply
        ("c1", "customer", "发货了吗"),
        ("c1", "agent", "发了，感谢光临"),
        ("c2", "customer", "在吗"),
        ("c2", "agent", "在"),
        ("c2", "customer", "加个微信"),
        ("c2", "agent", "可以加我微信"),
    ]
    m = make_messages(rows)
    lex = Lexicon.load()
    p = politeness(m, find_hits(m, lex), lex).set_index("agent").loc["云栖家居:阿青"]
    assert p["n_agent_messages"] == 5
    assert p["greeting_per100"] == pytest.approx(100 * 1 / 5)  # 您好 (亲 alone is a form of address)
    assert p["closing_per100"] == pytest.approx(20.0)
    assert p["first_reply_greeting_rate"] == pytest.approx(0.5)
    assert p["closing_rate"] == pytest.approx(0.5)
    assert p["negative_hits"] == 1 and p["critical_hits"] == 1 and p["off_platform_hits"] == 1
    assert p["negative_per100"] == pytest.approx(20.0)


# -- the sample's ground truth ----------------------------------------------------------------------


def _truth_messages(truth_dir: Path) -> pd.DataFrame:
    m = pd.read_csv(
        truth_dir / "messages.csv.gz",
        dtype={"text": "str", "agent": "str"},
        keep_default_na=False,
        na_values={"agent": [""], "ts": [""]},
    )
    m["message_id"] = m["source"] + ":" + m["line"].astype(str)
    m["conversation_id"] = m["customer"]
    m["role"] = pd.Categorical(m["role"], dtype=ROLE)
    m["ts"] = pd.to_datetime(m["ts"], format="ISO8601", utc=True).dt.tz_convert("Asia/Shanghai")
    return schema.conform(m, "messages")


def test_sample_planted_hits_are_found(truth_dir: Path) -> None:
    m = _truth_messages(truth_dir)
    lex = Lexicon.load()
    h = find_hits(m, lex).merge(m[["message_id", "source", "line"]], on="message_id")
    truth = pd.read_csv(truth_dir / "planted_hits.csv.gz")
    truth["cat"] = truth["category"].replace(
        {"rating": "rating_invite", "absolute": "absolute_claim", "promise": "risky_promise"}
    )
    both = truth.merge(h, on=["source", "line"], suffixes=("", "_h"))
    # a planted term is covered by a hit of the same category (our lexicon may match a longer phrase)
    covered = both.loc[
        (both["cat"] == both["category_h"])
        & (both["start_h"] <= both["start"])
        & (both["end"] <= both["end_h"])
    ]
    # planted "yes, but" lines add a condition or a note after the but (可以退的，但是运费…): read on real
    # chats that is ordinary explanation, so contradiction now needs the but-clause to take the yes back
    planted = truth.loc[~truth["category"].isin(["whitelist", "contradiction"])]
    found = planted.merge(
        covered[["source", "line", "start", "end"]].drop_duplicates(), on=["source", "line", "start", "end"]
    )
    assert len(found) == len(planted)
    # whitelisted look-alikes (不好意思, 不客气) never overlap a negative hit
    neg = both.loc[(both["category"] == "whitelist") & both["category_h"].isin(lex.group("negative"))]
    assert not ((neg["start_h"] < neg["end"]) & (neg["start"] < neg["end_h"])).any()
    # personas
    expected = json.loads((truth_dir / "personas.json").read_text(encoding="utf-8"))["expected"]
    p = politeness(m, find_hits(m, lex), lex).set_index("agent")
    assert p["slang_hits"].idxmax() == expected["most_slang_agent"]
    assert p["critical_hits"].idxmax() == expected["wechat_agent"]
    assert (p["refusal_hits"] + p["deflection_hits"]).idxmax() == expected["most_refusals_agent"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["agent", "customer", "auto_reply", "system"]),
            st.text(alphabet=_ALPHABET, max_size=25),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_batched_matching_equals_one_message_at_a_time(rows: list[tuple[str, str]]) -> None:
    m = make_messages([("c1", role, text) for role, text in rows])
    batch = find_hits(m, _LEX)
    cols = ["message_id", "category", "term", "start", "end", "side"]
    single = [find_hits(m.iloc[[i]], _LEX) for i in range(len(m))]
    one = (
        pd.concat([s for s in single if len(s)], ignore_index=True)
        if any(len(s) for s in single)
        else batch.iloc[:0]
    )
    pd.testing.assert_frame_equal(batch[cols].reset_index(drop=True), one[cols].reset_index(drop=True))
    roles = dict(zip(m["message_id"], m["role"].astype(str), strict=True))
    assert all(roles[mid] == side for mid, side in zip(batch["message_id"], batch["side"], strict=True))


def test_hits_do_not_depend_on_the_chunk_of_distinct_texts(lex: Lexicon, sample_chats, monkeypatch) -> None:
    """find_hits normalises and scans the distinct texts HIT_CHUNK_TEXTS at a time (memory): any
    chunk size gives the same table, rows in the same order."""
    from csaudit.metrics import lexicon as lexicon_mod

    msgs, few = sample_chats.messages, sample_chats.messages.iloc[:400]
    want, want_few = find_hits(msgs, lex), find_hits(few, lex)
    monkeypatch.setattr(lexicon_mod, "HIT_CHUNK_TEXTS", 997)
    pd.testing.assert_frame_equal(find_hits(msgs, lex), want, check_exact=True)
    monkeypatch.setattr(lexicon_mod, "HIT_CHUNK_TEXTS", 1)
    pd.testing.assert_frame_equal(find_hits(few, lex), want_few, check_exact=True)
