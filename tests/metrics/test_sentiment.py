"""csaudit.metrics.sentiment: parity with snownlp on diverse text, per-conversation figures."""

from __future__ import annotations

import math
import random
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csaudit.config import SentimentConfig
from csaudit.metrics import sentiment, snowmodel, snowseg
from csaudit.text import to_simplified_one

snownlp = pytest.importorskip("snownlp")
from snownlp import SnowNLP  # noqa: E402
from snownlp import seg as snow_seg  # noqa: E402
from snownlp import sentiment as snow_sentiment  # noqa: E402

# ---------------------------------------------------------------- a deterministic, diverse corpus

SENTENCES = [
    "在吗", "你好，请问这个还有货吗？", "亲，什么时候发货呀", "我昨天下的单怎么还没发",
    "快递到哪了，三天了物流都没更新", "这个衣服质量太差了，我要退货", "颜色和图片差别很大，很失望",
    "东西收到了，很喜欢，下次还来", "客服态度很好，点赞", "能便宜一点吗，我买两件", "包邮吗？",
    "尺码偏小，能换大一号吗", "我身高一米七体重一百二穿什么码", "说了好几遍了，你们到底管不管",
    "再不处理我就投诉了", "差评！垃圾商家", "退款什么时候到账", "谢谢亲，辛苦了", "好的", "嗯嗯",
    "收到的杯子碎了一个，怎么处理", "发票可以开公司抬头吗", "赠品没有收到哦", "味道有点大，正常吗",
    "我不想要了，帮我取消订单", "地址写错了，能改成杭州市西湖区吗", "已经付款了，麻烦尽快发货",
    "为什么别人买比我便宜", "你们是不是骗人的", "还可以吧，一般般", "非常满意，物流也很快",
    "用了两天就坏了，什么质量", "能不能走顺丰", "等了半个月了还没到，太慢了", "客服一直不回复",
    "北京大学生前来应聘", "结婚的和尚未结婚的", "他说的确实在理", "乒乓球拍卖完了",
]  # fmt: skip
TRADITIONAL = [
    "這個還有貨嗎？", "請問什麼時候發貨", "質量太差了，我要退貨", "謝謝，服務很好", "為什麼還沒到",
    "我不會再買了", "頭髮乾燥怎麼辦", "這款衣服顏色很漂亮",
]  # fmt: skip
EMOJI = ["😀", "😭😭", "👍🏻", "🙏", "❤️", "[微笑]", "[流泪]", "🇨🇳", "👨‍👩‍👧"]
PUNCT = ["！", "？？", "。。。", "，", "、", "~", "...", "!!!", "【】", "《》", "——", "“", "”", "（）", "：", "；"]  # fmt: skip
ASCII = ["ok", "OK", "hello world", "XL", "iPhone 15 Pro", "http://t.cn/abc", "a_b-c", "Size: M/L"]
DIGITS = ["1", "12345", "2026-11-09", "13800138000", "¥199.00", "100%", "３８码", "①②"]
SPACES = ["", " ", "  ", "\n", "\t", "\u3000", "\r\n", " \n \t ", "\xa0", "\x1c", "\u2028"]
RARE = ["㐀㐁", "鿦鿧", "𠀀𠀁", "\U0002a700", "丂丄丅", "龘龘", "亖", "靐齉"]  # outside/inside U+4E00–U+9FA5


def _common_chars() -> str:
    return "".join(dict.fromkeys("".join(SENTENCES)))


def corpus(n: int = 2400, seed: int = 20261122) -> list[str]:
    """Deterministic mix: realistic sentences, random CJK (incl. rare), emoji, ASCII, digits,
    punctuation, whitespace and newlines, Traditional text, empty and very long texts."""
    rnd = random.Random(seed)
    common = _common_chars()
    pieces = SENTENCES + TRADITIONAL + EMOJI + PUNCT + ASCII + DIGITS + SPACES + RARE
    out: list[str] = list(pieces)
    out += [
        "\x01分隔符\x01", "a\x00b", "中\x01文", "中文" + "\n" * 3 + "换行", "全角ＡＢＣ１２３",
        "😊好的😊", "好😊的", "abc中文def", "中文abc中文", "  前后空格  ", "\t制表\t符\t",
    ]  # fmt: skip
    kinds = ("sentence", "combo", "random_cjk", "rare_cjk", "mixed", "trad")
    while len(out) < n - 6:
        kind = rnd.choice(kinds)
        if kind == "sentence":
            s = rnd.choice(SENTENCES)
            if rnd.random() < 0.5:
                s += rnd.choice(EMOJI + PUNCT)
        elif kind == "combo":
            s = rnd.choice(("，", "\n", " ", "", "。")).join(
                rnd.choice(SENTENCES) for _ in range(rnd.randint(2, 4))
            )
        elif kind == "random_cjk":
            s = "".join(rnd.choice(common) for _ in range(rnd.randint(1, 40)))
        elif kind == "rare_cjk":  # any code point of the range, most unknown to the model
            s = "".join(chr(rnd.randint(0x4E00, 0x9FA5)) for _ in range(rnd.randint(1, 25)))
            if rnd.random() < 0.5:
                s = rnd.choice(common) + s + rnd.choice(common)
        elif kind == "mixed":
            s = "".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 8)))
        else:
            s = rnd.choice(TRADITIONAL) + rnd.choice(("", "！", "😀"))
        out.append(s)
    # very long messages (several thousand characters)
    out.append("，".join(rnd.choice(SENTENCES) for _ in range(400)))
    out.append("".join(rnd.choice(common) for _ in range(3000)))
    out.append("质量太差" * 500)
    out.append("\n".join(rnd.choice(SENTENCES + TRADITIONAL + EMOJI) for _ in range(300)))
    out.append("".join(chr(rnd.randint(0x4E00, 0x9FA5)) for _ in range(1500)))
    out.append("好" * 1200)
    return out


def reference(text: str) -> float:
    """snownlp on the simplified text. ``SnowNLP(t).sentiments`` is ``sentiment.classify(t)``; it
    raises for ``""`` (its BM25 divides by zero), where ``classify("")`` gives the no-word score."""
    return snow_sentiment.classify(to_simplified_one(text))


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return corpus()


@pytest.fixture(scope="module")
def expected(texts: list[str]) -> np.ndarray:
    return np.array([reference(t) for t in texts])


# ---------------------------------------------------------------- parity


def test_corpus_is_diverse(texts: list[str]) -> None:
    assert len(texts) >= 2000
    assert len(set(texts)) >= 1500
    assert "" in texts and "😀" in texts and "12345" in texts and "hello world" in texts
    assert max(map(len, texts)) >= 3000
    assert any(to_simplified_one(t) != t for t in texts)  # Traditional text present


def test_score_equals_snownlp(texts: list[str], expected: np.ndarray) -> None:
    got = sentiment.score(texts)
    assert got.dtype == np.float64 and got.shape == (len(texts),)
    diff = np.abs(got - expected)
    worst = int(np.argmax(diff))
    assert diff.max() <= 1e-9, (texts[worst][:80], got[worst], expected[worst])
    assert np.array_equal(got, expected)  # in practice bit-identical
    assert ((got >= 0) & (got <= 1)).all()


def test_reference_is_snownlp_sentiments(texts: list[str], expected: np.ndarray) -> None:
    """The reference used above is exactly SnowNLP(t).sentiments for every non-empty text."""
    for i in range(0, len(texts), 7):
        t = to_simplified_one(texts[i])
        if t:
            assert SnowNLP(t).sentiments == expected[i]


def test_known_values() -> None:
    got = sentiment.score(["这个衣服质量太差了，我要退货", "非常满意，物流也很快", "這個還有貨嗎？"])
    assert got[0] < 0.1 < 0.9 < got[1]
    assert got[2] == snow_sentiment.classify("这个还有货吗？")


def test_traditional_is_converted_first() -> None:
    trad, simp = "質量太差了，我要退貨", "质量太差了，我要退货"
    assert to_simplified_one(trad) == simp
    a, b = sentiment.score([trad, simp])
    assert a == b == SnowNLP(simp).sentiments


def test_inputs_and_missing_values() -> None:
    assert sentiment.score([]).shape == (0,)
    assert sentiment.score([]).dtype == np.float64
    assert sentiment.score(pd.Series([], dtype="str")).shape == (0,)
    s = pd.Series(["好的", None, "好的", "差评"], dtype="str")
    got = sentiment.score(s)
    assert np.isnan(got[1])
    assert got[0] == got[2] == SnowNLP("好的").sentiments
    assert got[3] == SnowNLP("差评").sentiments
    arr = np.array(["好的", "差评"], dtype=object)
    assert np.array_equal(sentiment.score(arr), got[[0, 3]])
    assert np.array_equal(sentiment.score(iter(["好的", "差评"])), got[[0, 3]])
    # a lone surrogate (possible from JSON escapes) cannot be converted: scored as is
    lone = "好的\ud800差评"
    assert sentiment.score([lone, "好的"])[0] == snow_sentiment.classify(lone)
    only_missing = sentiment.score([None, float("nan")])
    assert np.isnan(only_missing).all()


def test_segmenter_equals_snownlp() -> None:
    """The vectorised Viterbi gives snownlp's words, including unknown characters and ties."""
    rnd = random.Random(5)
    common = [c for c in _common_chars() if "\u4e00" <= c <= "\u9fa5"]
    runs = {"北京大学生前来应聘", "的", "了的是", "乒乓球拍卖完了", "丂丄丅", "龘" * 5, "好" * 300}
    while len(runs) < 600:
        pool = common if rnd.random() < 0.8 else [chr(c) for c in range(0x4E00, 0x9FA6, 7)]
        runs.add("".join(rnd.choice(pool) for _ in range(rnd.randint(1, 30))))
    runs_l = sorted(runs)
    words, n_words = snowseg.segment_runs(runs_l)
    assert n_words.sum() == len(words)
    offsets = np.concatenate([[0], np.cumsum(n_words)])
    for i, run in enumerate(runs_l):
        assert words[offsets[i] : offsets[i + 1]] == snow_seg.single_seg(run), run


def test_tokenizer_equals_snownlp_split() -> None:
    """Tokens are snownlp's: re_zh runs and str.split() pieces between them, in order."""
    texts = corpus(400, seed=3)
    toks, text_of, is_run = sentiment._tokenize(texts)
    re_zh = snow_seg.re_zh
    for i, text in enumerate(texts):
        expected = []
        for s in re_zh.split(text):
            s = s.strip()
            if s:
                expected += [s] if re_zh.match(s) else s.split()
        got = [tok for tok, j in zip(toks, text_of, strict=True) if j == i]
        assert got == expected, text


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(list("好的差评我不了是中\u9fa5\u4e00亿ab1 \n，！😀㐀鿦")), max_size=30),
                min_size=1, max_size=8))  # fmt: skip
def test_property_random_text(texts: list[str]) -> None:
    got = sentiment.score(texts)
    assert np.array_equal(got, np.array([reference(t) for t in texts]))


def test_chunked_scoring_is_identical(texts: list[str], expected: np.ndarray, monkeypatch) -> None:
    monkeypatch.setattr(sentiment, "CHUNK_TEXTS", 97)
    monkeypatch.setattr(snowseg, "BATCH_CELLS", 512)
    monkeypatch.setattr(snowseg, "VITERBI_ROWS", 16)
    monkeypatch.setattr(snowseg, "WORKERS", 2)  # threaded batches give the same tags
    monkeypatch.setattr(snowseg, "PARALLEL_MIN_CHARS", 0)
    sample = texts[::5]
    assert np.array_equal(sentiment.score(sample), expected[::5])


def test_no_numpy_transcendental_while_scoring(texts: list[str], expected: np.ndarray, monkeypatch) -> None:
    """Scores depend on no CPU-specific SIMD maths: with numpy's log/exp disabled (they differ from
    the C library's in the last bit on e.g. AVX-512 builds) scoring still equals snownlp bit for bit."""
    snowmodel.tables()  # built (or loaded) before: building takes its logs with math.log anyway

    def refuse(*args, **kwargs):
        raise AssertionError("numpy transcendental called while scoring")

    for name in ("log", "exp", "log1p", "expm1"):
        monkeypatch.setattr(np, name, refuse)
    assert np.array_equal(sentiment.score(texts[::9]), expected[::9])


def test_exact_exp_overflow_is_snownlps_zero() -> None:
    """snownlp's ``except OverflowError: now = 0``: a class whose rival outscores it by > 709.78
    gets probability 0 (1 / (1 + inf)); math.exp is used right up to the overflow."""
    x = np.array([0.0, 1.5, 709.0, 709.78, 709.8, 1e6, -1e6])
    got = sentiment._exact_exp(x)
    assert got[:4].tolist() == [math.exp(v) for v in x[:4].tolist()]
    assert np.isinf(got[4]) and np.isinf(got[5]) and got[6] == 0.0


def test_log_terms_are_math_log() -> None:
    """The cached logarithms are math.log of the exact sums snownlp forms: spot-check entries."""
    t = snowmodel.tables()
    V = t.n_ids
    i = len(t.tri_log) // 3
    gram = int(np.repeat(t.tri_keys, np.diff(t.tri_start))[i])
    combo = int(t.tri_combo[i])
    c3, t3 = gram % V, combo % 4
    bkey, bcombo = gram % (V * V), combo % 16
    j = np.searchsorted(t.bi_keys, bkey)
    bi = 0.0
    if j < len(t.bi_keys) and t.bi_keys[j] == bkey:
        lo, hi = t.bi_start[j], t.bi_start[j + 1]
        hit = np.flatnonzero(t.bi_combo[lo:hi] == bcombo)
        if len(hit):
            bi = float(t.bi_val[lo + hit[0]])
    want = (float(t.uni_term[c3, t3]) + bi) + float(t.tri_val[i])
    assert t.tri_log[i] == (math.log(want) if want else -math.inf)
    nz = t.uni_term > 0
    assert np.array_equal(t.uni_log[nz], np.array([math.log(v) for v in t.uni_term[nz].tolist()]))
    assert np.isneginf(t.uni_log[~nz]).all()


def test_tables_cache_roundtrip(tmp_path, monkeypatch) -> None:
    """First use builds the tables from snownlp and caches them; the cached file loads equal."""
    monkeypatch.setenv("CSAUDIT_CACHE_DIR", str(tmp_path))
    snowmodel.tables.cache_clear()
    try:
        built = snowmodel.tables()
        (path,) = tmp_path.glob("snownlp-tables-*.npz")
        loaded = snowmodel._load(path)
        for name in snowmodel._ARRAYS:
            assert np.array_equal(getattr(built, name), getattr(loaded, name)), name
        assert (built.n_ids, built.pos_class) == (loaded.n_ids, loaded.pos_class)
        assert not built.tri_val.flags.writeable
    finally:
        snowmodel.tables.cache_clear()


def test_import_does_not_load_snownlp() -> None:
    code = (
        "import sys, csaudit, csaudit.metrics.sentiment as s; "
        "assert 'snownlp' not in sys.modules, 'snownlp imported'; "
        "assert csaudit.sentiment.score is s.score"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- per message / conversation


def _frame(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "conversation_id": pd.Series([r[0] for r in rows], dtype="str"),
            "role": pd.Categorical(
                [r[1] for r in rows], categories=["customer", "agent", "auto_reply", "bot", "system"]
            ),
            "text": pd.Series(["x"] * len(rows), dtype="str"),
            "sentiment": [r[2] for r in rows],
        }
    )


def test_conversation_sentiment_known_values() -> None:
    nan = float("nan")
    msgs = _frame([
        ("A", "customer", 0.9), ("A", "agent", nan), ("A", "customer", 0.8), ("A", "customer", 0.7),
        ("A", "agent", nan), ("A", "customer", 0.4), ("A", "customer", 0.2), ("A", "customer", 0.1),
        ("B", "customer", 0.5), ("B", "agent", nan), ("B", "customer", 0.3),
        ("C", "agent", nan), ("C", "auto_reply", nan),
        ("D", "customer", 0.2), ("D", "customer", nan), ("D", "customer", 0.9), ("D", "agent", nan),
        ("E", "customer", 0.6), ("E", "customer", 0.5), ("E", "customer", 0.4), ("E", "customer", 0.3),
    ])  # fmt: skip
    before = msgs.copy()
    out = sentiment.conversation_sentiment(msgs, SentimentConfig(k=3, deteriorated_drift=-0.2))
    pd.testing.assert_frame_equal(msgs, before)  # input untouched
    assert list(out.columns) == sentiment.CONVERSATION_COLUMNS
    r = out.set_index("conversation_id")
    assert list(r.index) == ["A", "B", "C", "D", "E"]
    assert r.loc["A", "sentiment_start"] == pytest.approx(0.8)
    assert r.loc["A", "sentiment_end"] == pytest.approx((0.4 + 0.2 + 0.1) / 3)
    assert r.loc["A", "sentiment_drift"] == pytest.approx(0.7 / 3 - 0.8)
    assert bool(r.loc["A", "deteriorated"]) and r.loc["A", "n_scored"] == 6
    # fewer than k messages: both windows hold all of them
    assert r.loc["B", "sentiment_start"] == r.loc["B", "sentiment_end"] == pytest.approx(0.4)
    assert r.loc["B", "sentiment_drift"] == pytest.approx(0.0) and not r.loc["B", "deteriorated"]
    # no customer message
    assert np.isnan(r.loc["C", ["sentiment_start", "sentiment_end", "sentiment_drift"]].astype(float)).all()
    assert not r.loc["C", "deteriorated"] and r.loc["C", "n_scored"] == 0
    # unscored customer rows are skipped
    assert r.loc["D", "n_scored"] == 2 and r.loc["D", "sentiment_drift"] == pytest.approx(0.0)
    # E: first 3 mean 0.5, last 3 mean 0.4 -> drift -0.1, not deteriorated
    assert r.loc["E", "sentiment_drift"] == pytest.approx(-0.1) and not r.loc["E", "deteriorated"]
    assert out["deteriorated"].dtype == bool and out["n_scored"].dtype == np.int64


def test_conversation_sentiment_threshold_is_inclusive() -> None:
    msgs = _frame(
        [("A", "customer", 0.5), ("A", "customer", 0.3), ("B", "customer", 0.5), ("B", "customer", 0.31)]
    )
    out = sentiment.conversation_sentiment(msgs, SentimentConfig(k=1, deteriorated_drift=-0.2))
    assert out["deteriorated"].tolist() == [True, False]  # 0.3 - 0.5 counts as -0.2 despite rounding


def test_conversation_sentiment_scores_when_column_missing() -> None:
    msgs = _frame([
        ("A", "customer", 0.0), ("A", "agent", 0.0), ("A", "customer", 0.0), ("A", "customer", 0.0),
        ("A", "customer", 0.0),
    ]).drop(columns="sentiment")  # fmt: skip
    msgs["text"] = pd.Series(["非常满意，谢谢", "不客气", "好的", "太慢了", "差评，垃圾"], dtype="str")
    per_msg = sentiment.message_sentiment(msgs)
    assert per_msg.name == "sentiment" and per_msg.index.equals(msgs.index)
    assert np.isnan(per_msg.iloc[1])
    ref = [SnowNLP(t).sentiments for t in ["非常满意，谢谢", "好的", "太慢了", "差评，垃圾"]]
    assert per_msg.dropna().tolist() == ref
    out = sentiment.conversation_sentiment(msgs, SentimentConfig(k=2))
    row = out.iloc[0]
    assert row["sentiment_start"] == pytest.approx((ref[0] + ref[1]) / 2)
    assert row["sentiment_end"] == pytest.approx((ref[2] + ref[3]) / 2)
    assert row["n_scored"] == 4 and bool(row["deteriorated"])


@pytest.mark.parametrize(
    "role",
    [
        pd.Categorical(["customer", None, "agent", "customer"], categories=["customer", "agent"]),
        pd.Categorical(["agent", "agent", "agent", "agent"], categories=["agent"]),  # no customer category
        pd.Series(["customer", None, "agent", "customer"], dtype="str"),
        pd.Series(["customer", None, "agent", "customer"], dtype=object),
    ],
)
def test_message_sentiment_role_dtypes(role) -> None:
    """Customer rows are found on the role column's own dtype; a missing role is no customer."""
    msgs = pd.DataFrame({"role": role, "text": pd.Series(["好的", "差评", "好的", "太慢了"], dtype="str")})
    got = sentiment.message_sentiment(msgs).to_numpy()
    is_cust = np.array([str(r) == "customer" for r in msgs["role"].tolist()])
    assert np.array_equal(np.isnan(got), ~is_cust)
    assert np.array_equal(got[is_cust], sentiment.score(msgs["text"][is_cust].tolist()))


def test_chunked_scoring_of_a_series(texts: list[str], expected: np.ndarray, monkeypatch) -> None:
    """Chunks taken from pandas' (Arrow) distinct values give the same scores as one pass."""
    monkeypatch.setattr(sentiment, "CHUNK_TEXTS", 50)
    sample = pd.Series(texts[::3] + [None] + texts[::7], dtype="str")
    want = np.r_[expected[::3], np.nan, expected[::7]]
    assert np.array_equal(sentiment.score(sample), want, equal_nan=True)


def test_tables_vocabulary_is_snownlps() -> None:
    """The compact vocabulary (code points + lengths) gives back snownlp's words, sorted."""
    bayes = snow_sentiment.classifier.classifier
    vocab = sorted(set(bayes.d["pos"].d) | set(bayes.d["neg"].d))
    t = snowmodel.tables()
    assert t.words() == vocab
    assert t.word_logp.shape == (2, len(vocab))


def test_empty_messages() -> None:
    msgs = _frame([]).astype({"sentiment": "float64"})
    assert sentiment.message_sentiment(msgs).empty
    out = sentiment.conversation_sentiment(msgs, SentimentConfig())
    assert out.empty and list(out.columns) == sentiment.CONVERSATION_COLUMNS


def _workers_in_pool_worker() -> int:
    return snowseg._workers(2)


def test_segmenter_does_not_fork_inside_a_pool_worker() -> None:
    """The audit scores sentiment in a daemonic pool worker, which may not fork: the segmenter then
    decodes in that process (asking for 2 workers there would only fail and log a warning)."""
    import multiprocessing

    assert snowseg._workers(2) == 2
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.apply(_workers_in_pool_worker) == 1
