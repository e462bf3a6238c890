"""jieba word figures: pronouns per agent, complaint keywords per agent."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csaudit.metrics import words
from csaudit.metrics.words import (
    JIEBA_STOP_WORDS,
    PRONOUN_COLUMNS,
    _idf,
    complaint_keywords,
    idf_table,
    pronoun_figures,
)

from .test_lexicon import make_messages


def reference_tokenizer(lexicon=None):
    """A jieba tokenizer built the plain way: jieba's default dictionary loaded by ``initialize``,
    then ``add_word`` of every term a segmenter adds (the reference the segmenters must equal)."""
    import jieba

    tk = jieba.Tokenizer()
    tk.initialize()
    for t in words.lexicon_terms(lexicon):
        tk.add_word(t)
    return tk


def test_pronoun_figures_counts_words_not_characters() -> None:
    rows = [
        ("c1", "agent", "您好，这款迷你裙有货"),  # 您 (in 您好); 迷你 is not 你
        ("c1", "agent", "咱们这边帮您查一下"),  # 咱们, 您
        ("c1", "agent", "我们仓库发货，我不能改价"),  # 我们 is not 我; 我 in 我不能 counts
        ("c1", "agent", "妳好，你们要几件"),  # Traditional 妳 → 你; 你们
        ("c1", "agent", "自我介绍一下"),  # 自我: no pronoun
        ("c1", "auto_reply", "您您您"),  # not agent speech
        ("c1", "customer", "你你你我我我"),  # not agent speech
    ]
    p = pronoun_figures(make_messages(rows))
    assert list(p.columns) == PRONOUN_COLUMNS
    r = p.set_index("agent").loc["云栖家居:阿青"]
    assert (r["nin_count"], r["ni_count"], r["wo_count"], r["we_count"]) == (2, 2, 1, 1)
    assert r["honorific_ratio"] == pytest.approx(2 / 4)
    assert r["wo_ratio"] == pytest.approx(1 / (1 + 2 + 1))


def test_pronoun_figures_per_agent_and_repeated_texts() -> None:
    a = make_messages([("c1", "agent", "您好")] * 50 + [("c1", "agent", "好的")] * 10, agent="店:甲")
    b = make_messages([("c2", "agent", "你看下")] * 3, agent="店:乙")
    m = pd.concat([a, b], ignore_index=True)
    p = pronoun_figures(m).set_index("agent")
    assert p.loc["店:甲", "nin_count"] == 50 and p.loc["店:甲", "honorific_ratio"] == 1.0
    assert p.loc["店:乙", "ni_count"] == 3 and p.loc["店:乙", "honorific_ratio"] == 0.0
    assert np.isnan(p.loc["店:乙", "wo_ratio"])  # no 我/您/咱们 at all


def test_pronoun_figures_without_agents() -> None:
    p = pronoun_figures(make_messages([("c1", "customer", "你好")]))
    assert p.empty and list(p.columns) == PRONOUN_COLUMNS


def test_complaint_keywords_equal_jieba_tfidf() -> None:
    import jieba.analyse

    cust = ["物流太慢了，快递一直不更新", "快递什么时候到", "物流信息不动", "质量很差，掉色严重"]
    rows = [("c1", "agent", "您好")] + [("c1", "customer", t) for t in cust[:3]]
    rows += [("c2", "agent", "您好")] + [("c2", "customer", cust[3])]
    a = make_messages(rows[:4], agent="店:甲")
    b = make_messages(rows[4:], agent="店:乙").assign(message_id=lambda d: "b" + d["message_id"])
    m = pd.concat([a, b], ignore_index=True)
    kw = complaint_keywords(m, top=5, stop_words=frozenset())
    assert list(kw.columns) == ["agent", "keyword", "weight"]
    mine = kw.loc[kw["agent"] == "店:甲"]
    tfidf = jieba.analyse.TFIDF()
    tfidf.tokenizer = reference_tokenizer()  # jieba.analyse with the audit's dictionary
    ref = tfidf.extract_tags("\n".join(cust[:3]), topK=5, withWeight=True)
    assert dict(zip(mine["keyword"], mine["weight"], strict=True)) == pytest.approx(dict(ref))
    assert {"物流", "快递"} <= set(mine["keyword"])
    other = kw.loc[kw["agent"] == "店:乙", "keyword"].tolist()
    assert "掉色" in other and "物流" not in other
    assert (kw.groupby("agent")["weight"].apply(lambda w: w.is_monotonic_decreasing)).all()
    median = _idf()[2]  # read without importing jieba.analyse, yet identical
    assert idf_table() == jieba.analyse.default_tfidf.idf_freq and median == jieba.analyse.default_tfidf.median_idf
    assert JIEBA_STOP_WORDS == jieba.analyse.default_tfidf.stop_words


def test_complaint_keywords_skip_filler_and_numbers() -> None:
    rows = [("c1", "agent", "您好")] + [("c1", "customer", "这个怎么还没发货 订单123456789 在吗")] * 3
    kw = complaint_keywords(make_messages(rows), top=10)
    assert "发货" in set(kw["keyword"])
    assert not set(kw["keyword"]) & {"这个", "怎么", "123456789", "在吗"}


def test_complaint_keywords_empty() -> None:
    kw = complaint_keywords(make_messages([("c1", "agent", "您好")]))
    assert kw.empty and list(kw.columns) == ["agent", "keyword", "weight"]


def test_ambiguous_sequences_are_decided_by_jieba() -> None:
    rows = [
        ("c1", "agent", "给我国际快递的单号"),  # 我 + 国际: 我 counts
        ("c1", "agent", "我国的标准"),  # 我国 "our country": no 我
        ("c1", "agent", "迷你款我们家有"),  # no 你, no 我
    ]
    r = pronoun_figures(make_messages(rows)).iloc[0]
    assert (r["nin_count"], r["ni_count"], r["wo_count"], r["we_count"]) == (0, 0, 1, 0)
    assert r["wo_ratio"] == 1.0 and np.isnan(r["honorific_ratio"])


def test_complaint_keywords_max_texts_keeps_the_most_frequent() -> None:
    rows = [("c1", "agent", "您好")] + [("c1", "customer", "物流太慢")] * 5 + [("c1", "customer", "掉色严重")]
    kw = complaint_keywords(make_messages(rows), top=5, max_texts=1)
    assert "掉色" not in set(kw["keyword"]) and "物流" in set(kw["keyword"])


def test_segment_many_equals_jieba_lcut_text_by_text() -> None:
    from csaudit.metrics.words import segment_many

    ref = reference_tokenizer()
    texts = [
        "我的订单号是123456789012，帮我看看",
        "床垫158元能再少点吗\n我买两件",
        "亲 在吗？？ iPhone15 pro 256G 有货吗",
        "",
        "   ",
        "给我国际快递单号 SF1234-5678.9%",
        "枕头发杭州要几天",
        "枕头发杭州要几天，还有床垫发杭州要几天",
        "😀😀 好的",
        "C++ 和 c#、a.b_c 50% off",
    ]
    assert segment_many(texts) == [ref.lcut(t) for t in texts]


def test_segment_many_equals_jieba_lcut_on_sample_chats(sample_chats) -> None:
    from csaudit.metrics.lexicon import normalize_many
    from csaudit.metrics.words import segment_many

    ref = reference_tokenizer()
    texts = normalize_many(sample_chats.messages["text"].dropna().unique().tolist())
    assert len(texts) > 100
    assert segment_many(texts) == [ref.lcut(t) for t in texts]


def _reference_keywords(
    messages: pd.DataFrame, top: int, stop: frozenset[str], max_texts: int
) -> pd.DataFrame:
    """The straightforward per-agent loop (jieba.lcut, Counter, sorted) that complaint_keywords
    reproduces with numpy."""
    from collections import Counter

    from csaudit.metrics.lexicon import _to_list, conversation_agent, normalize_many

    jieba = reference_tokenizer()
    idf, median_idf = idf_table(), _idf()[2]
    cust = messages.loc[messages["role"] == "customer", ["conversation_id", "text"]]
    cust = cust.assign(agent=cust["conversation_id"].map(conversation_agent(messages)))
    cust = cust.dropna(subset=["agent", "text"])
    codes, uniques = pd.factorize(cust["text"])
    chosen = np.arange(len(uniques))
    if len(uniques) > max_texts:
        freq = np.bincount(codes, minlength=len(uniques))
        chosen = np.sort(np.argsort(-freq, kind="stable")[:max_texts])
    kept: list[list[str]] = [[] for _ in range(len(uniques))]
    for i, t in zip(chosen.tolist(), normalize_many(_to_list(uniques.take(chosen))), strict=True):
        kept[i] = [
            w
            for w in jieba.lcut(t)
            if len(w.strip()) >= 2
            and w.lower() not in JIEBA_STOP_WORDS
            and w not in stop
            and not w.strip().replace(".", "").isdigit()
        ]
    pairs = pd.DataFrame({"agent": cust["agent"].to_numpy(), "code": codes}).value_counts().reset_index()
    rows = []
    for agent, grp in pairs.groupby("agent", sort=True):
        counter: Counter[str] = Counter()
        for code, n in zip(grp["code"].tolist(), grp["count"].tolist(), strict=True):
            for w in kept[code]:
                counter[w] += n
        total = sum(counter.values())
        if total:
            weights = {w: c * idf.get(w, median_idf) / total for w, c in counter.items()}
            best = sorted(weights.items(), key=lambda kv: kv[1], reverse=True)[:top]
            rows.extend((agent, w, float(x)) for w, x in best)
    out = pd.DataFrame(rows, columns=["agent", "keyword", "weight"])
    return out.astype({"agent": "str", "keyword": "str", "weight": "float64"})


@pytest.mark.parametrize("top", [10, 3, 0, -2])
def test_complaint_keywords_equal_reference_loop_on_sample_chats(sample_chats, top: int) -> None:
    from csaudit.metrics.words import CHAT_STOP_WORDS

    m = sample_chats.messages
    got = complaint_keywords(m, top=top, max_texts=400)
    ref = _reference_keywords(m, top, CHAT_STOP_WORDS, 400)
    assert len(ref) > 0 or top == 0
    pd.testing.assert_frame_equal(got, ref if len(ref) else got.iloc[:0], check_exact=True)


def test_word_figures_in_small_chunks_are_identical(sample_chats, monkeypatch) -> None:
    """Texts normalised and segmented a few at a time: same pronoun figures and keywords (word codes
    numbered by first occurrence across chunks, as one factorisation of all tokens)."""
    from csaudit.metrics.words import CHAT_STOP_WORDS

    m = sample_chats.messages
    whole = words.word_figures(m, top=10)
    monkeypatch.setattr(words, "CHUNK_TEXTS", 37)
    chunked = words.word_figures(m, top=10)
    pd.testing.assert_frame_equal(chunked[0], whole[0], check_exact=True)
    pd.testing.assert_frame_equal(chunked[1], whole[1], check_exact=True)
    pd.testing.assert_frame_equal(chunked[0], _reference_pronouns(m), check_exact=True)
    got = complaint_keywords(m, top=5, max_texts=300)
    pd.testing.assert_frame_equal(got, _reference_keywords(m, 5, CHAT_STOP_WORDS, 300), check_exact=True)


def test_idf_lookup_edge_cases(tmp_path) -> None:
    """A word repeated in the IDF file keeps its last value (as jieba's dict); words with lone
    surrogates or absent from the table get the median."""
    path = tmp_path / "idf.txt"
    path.write_text("快递 10.5\n物流 3.25\n快递 7.125\n好 1.0\n", encoding="utf-8")
    w, values, median = words._read_idf(path)
    table = dict(zip(w.to_pylist(), values.tolist(), strict=True))
    assert table == {"快递": 7.125, "物流": 3.25, "好": 1.0} and median == 7.125
    table = (w, values, median)
    got = words._idf_of(["物流", "快递", "无此词", "快\ud800递", "好"], table)
    assert got.tolist() == [3.25, 7.125, median, median, 1.0]
    assert words._idf_of([], table).shape == (0,)


def test_release_free_memory() -> None:
    from csaudit.memory import release_free_memory

    assert release_free_memory() in (True, False)


def test_complaint_keywords_ties_keep_first_occurrence_order() -> None:
    # many words with equal counts and the median IDF: order decided by first occurrence
    texts = ["甲乙丙丁戊 子丑寅卯", "卯寅丑子 乙甲", "龘靐齉 麤灥", "麤灥 龘靐齉", "子丑寅卯"]
    rows: list[tuple] = []
    for c in range(6):
        rows.append((f"c{c}", "agent", "您好"))
        rows += [(f"c{c}", "customer", texts[(c + k) % len(texts)]) for k in range(c % 3 + 1)]
    a = make_messages(rows[: len(rows) // 2], agent="店:乙")
    b = make_messages(rows[len(rows) // 2 :], agent="店:甲").assign(
        message_id=lambda d: "b" + d["message_id"]
    )
    m = pd.concat([a, b], ignore_index=True)
    for top in (1, 2, 5, 50):
        got = complaint_keywords(m, top=top, stop_words=frozenset())
        pd.testing.assert_frame_equal(got, _reference_keywords(m, top, frozenset(), 50_000), check_exact=True)


def _reference_pronouns(messages: pd.DataFrame) -> pd.DataFrame:
    """The former pandas implementation (str.count per distinct text, groupby) of pronoun_figures."""
    from csaudit.metrics.lexicon import normalize_many
    from csaudit.metrics.words import EXCLUSIVE_WE, NOT_PRONOUN, _pronoun_counts, segment_many

    ag = messages.loc[(messages["role"] == "agent") & messages["agent"].notna(), ["agent", "text"]]
    codes, uniques = pd.factorize(ag["text"], use_na_sentinel=True)
    norm = pd.Series(normalize_many([str(u) for u in uniques]), dtype="str")
    counts = np.zeros((len(norm), 4), dtype=np.int64)
    counts[:, 0] = norm.str.count("您").to_numpy()
    counts[:, 1] = norm.str.count("[你妳]").to_numpy()
    counts[:, 3] = norm.str.count("咱").to_numpy()
    wo = norm.str.count("我")
    for w in EXCLUSIVE_WE - {"我们家"}:
        wo = wo - norm.str.count(w)
    counts[:, 2] = wo.to_numpy()
    amb = np.flatnonzero(norm.str.contains("|".join(NOT_PRONOUN), regex=True).to_numpy(dtype=bool)).tolist()
    for i, toks in zip(amb, segment_many([norm.iat[i] for i in amb]), strict=True):
        counts[i] = _pronoun_counts(toks)
    per_row = np.where((codes >= 0)[:, None], counts[np.maximum(codes, 0)], 0)
    df = pd.DataFrame(per_row, columns=["nin_count", "ni_count", "wo_count", "we_count"])
    df["agent"] = ag["agent"].to_numpy()
    out = df.groupby("agent", sort=True).sum()
    nin, ni, wo_, we = (out[c].astype("float64") for c in ("nin_count", "ni_count", "wo_count", "we_count"))
    out["honorific_ratio"] = (nin / (nin + ni)).where(nin + ni > 0)
    out["wo_ratio"] = (wo_ / (wo_ + nin + we)).where(wo_ + nin + we > 0)
    return out.reset_index()[PRONOUN_COLUMNS]


def test_pronoun_figures_equal_reference_on_sample_and_edge_texts(sample_chats) -> None:
    m = sample_chats.messages
    pd.testing.assert_frame_equal(pronoun_figures(m), _reference_pronouns(m), check_exact=True)
    texts = [
        "我们我们我",
        "我",
        "们我",
        "我司我方我店我们家我",
        "",
        "迷你我国",
        "您您你妳咱我",
        "我\n们",
        "自我我们",
    ]
    rows = [("c1", "agent", t) for t in texts] + [("c2", "agent", None), ("c2", "agent", "我们")]
    e = make_messages(rows)
    pd.testing.assert_frame_equal(pronoun_figures(e), _reference_pronouns(e), check_exact=True)


@pytest.mark.parametrize("block", [1, 2, 3, 7, 100])
def test_factorize_rows_in_blocks_equals_pd_factorize(block: int, monkeypatch) -> None:
    """Rows factorised block by block give pandas' codes (first appearance, −1 for missing) and
    distinct values."""
    monkeypatch.setattr(words, "FACTORIZE_ROWS", block)
    col = pd.Series(["乙", "甲", None, "乙", "丙", "甲", "丁", None, "丙", "戊", "乙"], dtype="str")
    rows = np.array([10, 0, 2, 1, 3, 4, 6, 5, 7, 9, 8, 1])
    codes, uniques = words._factorize_rows(col, rows)
    ref_codes, ref_uniques = pd.factorize(col.take(rows), use_na_sentinel=True)
    assert np.array_equal(codes, ref_codes)
    pd.testing.assert_index_equal(uniques, pd.Index(ref_uniques))


def test_two_audits_with_different_shop_lexicons_in_one_process(tmp_path) -> None:
    """A shop's term reaches only its own audit's segmentation; jieba's global state never changes."""
    import jieba

    import csaudit as ca
    from csaudit.config import Config, LexiconConfig
    from csaudit.metrics.lexicon import Lexicon

    text = "退货款还没到账"
    jieba.initialize()
    global_before = (len(jieba.dt.FREQ), jieba.dt.total, jieba.lcut(text))
    default_tokens = reference_tokenizer().lcut(text)
    assert "货款还" not in default_tokens

    shop = tmp_path / "shop.toml"
    shop.write_text('[[category]]\ncategory = "payment"\nside = "customer"\nseverity = "info"\n'
                    'terms = ["货款还"]\nsuggestion = "核对退款进度。"\n', encoding="utf-8")
    shop_cfg = Config(lexicon=LexiconConfig(files=[str(shop)]))
    rows = [("c1", "agent", "您好"), ("c1", "customer", text), ("c1", "customer", text + "吗")]
    m = make_messages(rows)

    shop_audit = ca.audit(m, config=shop_cfg)
    assert "货款还" in set(shop_audit.keywords["keyword"])
    assert words.segment_many([text], Lexicon.load(shop_cfg)) == [["退", "货款还", "没到", "账"]]

    default_audit = ca.audit(m)  # later, same process, the default lexicon
    assert "货款还" not in set(default_audit.keywords["keyword"])
    assert words.segment_many([text]) == [default_tokens]
    assert (len(jieba.dt.FREQ), jieba.dt.total, jieba.lcut(text)) == global_before
    assert "货款还" not in jieba.dt.FREQ
    # and the shop's audit again: its own segmenter, the same result as the first time
    assert ca.audit(m, config=shop_cfg).keywords.equals(shop_audit.keywords)
