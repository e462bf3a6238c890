"""Customer sentiment: snownlp-exact scores, fast; per-conversation start, end and drift.

:func:`score` returns, for every text ``t``, exactly ``SnowNLP(to_simplified(t)).sentiments``
(``csaudit.text.to_simplified``: Traditional → Simplified with OpenCC ``t2s``, length-preserving) —
a probability in [0, 1] that the text is positive — to within 1e-9 (in practice bit-identical), at a
small fraction of the cost of calling snownlp per message:

* each distinct text is scored once (chat text repeats a lot);
* texts are split into tokens the way snownlp does (runs of U+4E00–U+9FA5, and the whitespace-
  separated pieces in between), and each distinct Chinese run is segmented once, by the vectorised
  copy of snownlp's segmenter in :mod:`csaudit.metrics.snowseg`;
* stop words are dropped and snownlp's naive Bayes is applied with per-word log-probabilities
  looked up once per distinct word, summed in snownlp's order.

snownlp itself is imported only to build the lookup tables the first time (cached on disk, see
:mod:`csaudit.metrics.snowmodel`); ``import csaudit`` never imports it.

Per conversation (:func:`conversation_sentiment`, customer messages only, DESIGN §5):
``sentiment_start`` = mean score of the first k customer messages, ``sentiment_end`` = mean of the
last k (k = ``SentimentConfig.k``; with fewer than 2k messages the windows overlap),
``sentiment_drift`` = end − start, ``deteriorated`` = drift ≤ ``SentimentConfig.deteriorated_drift``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from csaudit.arrays import factorize_runs
from csaudit.memory import release_free_memory

if TYPE_CHECKING:  # pragma: no cover
    from csaudit.config import SentimentConfig
    from csaudit.metrics.snowmodel import SnowTables

log = logging.getLogger(__name__)

__all__ = ["score", "message_sentiment", "conversation_sentiment", "CONVERSATION_COLUMNS"]

CONVERSATION_COLUMNS = [
    "conversation_id", "sentiment_start", "sentiment_end", "sentiment_drift", "deteriorated", "n_scored",
]  # fmt: skip

_SEP = "\x01"  # joins texts for one OpenCC call (no dictionary entry contains it)
_CJK_LO, _CJK_HI = 0x4E00, 0x9FA5  # snownlp's re_zh = ([\u4E00-\u9FA5]+)
#: str.isspace() for code points up to U+3001 (no code point above U+3000 is whitespace)
_WS_LUT = np.array([chr(c).isspace() for c in range(0x3002)], dtype=bool)
#: distinct texts scored together: bounds the memory of their Python str tokens and words (1M typical
#: messages, 150,000 distinct customer texts: peak RSS +55–90 MB over the loaded data with the tables,
#: was +240–300 MB with 125,000; CPU time unchanged within noise)
CHUNK_TEXTS = 20_000
#: tolerance for ``drift <= threshold`` (drift is a difference of means: 0.3 - 0.5 != -0.2 in floats)
_DRIFT_EPS = 1e-12


#: seconds per stage of the last :func:`score` call (for benchmarks)
timings: dict[str, float] = {}


class _Clock:
    """Records the wall time since the previous call into :data:`timings`."""

    def __init__(self, reset: bool = False) -> None:
        if reset:
            timings.clear()
        self.t = time.perf_counter()

    def __call__(self, stage: str) -> None:
        now = time.perf_counter()
        timings[stage] = timings.get(stage, 0.0) + now - self.t
        self.t = now


# --------------------------------------------------------------------------- scoring


def score(texts: Iterable[str] | pd.Series, model: str | Path | None = None) -> np.ndarray:
    """snownlp sentiment of each text, as float64 (``NaN`` for missing values).

    ``score(texts)[i] == SnowNLP(to_simplified(texts[i])).sentiments`` within 1e-9, where
    ``to_simplified`` is :func:`csaudit.text.to_simplified` (Traditional → Simplified first): the
    conversion is part of the score, so parity is against snownlp on the *simplified* text.
    ``SnowNLP("")`` itself raises (its BM25 divides by zero); for ``""`` (and whitespace-only or
    stop-word-only text) the result is snownlp's classifier on no words,
    ``snownlp.sentiment.classify("")`` ≈ 0.526. Missing values (None/NaN/NA) give NaN.
    Each distinct text is computed once. ``texts``: a pandas Series/Index, numpy array or any
    iterable of str. ``model``: a folder written by ``csaudit train-sentiment``
    (:mod:`csaudit.metrics.snowtrain`) to score with the shop's own Bayes tables instead of snownlp's
    (the result then equals snownlp's ``Sentiment.classify`` trained on the same files).
    """
    if isinstance(texts, pd.Series | pd.Index):
        values = texts  # pandas factorizes its (Arrow) string arrays natively
    elif isinstance(texts, np.ndarray):
        values = texts.astype(object, copy=False)
    else:
        values = np.asarray(list(texts), dtype=object)
    out = np.full(len(values), np.nan, dtype=np.float64)
    if len(values) == 0:
        return out
    clock = _Clock(reset=True)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if isinstance(getattr(values, "dtype", None), pd.StringDtype):  # every non-missing value is a str
        str_ix = np.arange(len(uniques))
    else:
        uniques = np.asarray(uniques, dtype=object)
        is_str = np.fromiter((isinstance(u, str) for u in uniques), dtype=bool, count=len(uniques))
        str_ix = np.flatnonzero(is_str)
    if not len(str_ix):
        return out
    uscore = np.full(len(uniques), np.nan, dtype=np.float64)
    _prepare(model)
    clock("distinct texts")
    for a in range(0, len(str_ix), CHUNK_TEXTS):  # chunks bound the memory of huge distinct sets
        ix = str_ix[a : a + CHUNK_TEXTS]
        chunk = uniques.take(ix).tolist()  # Python str objects for this chunk only
        simp = np.asarray(_to_simplified_many(chunk), dtype=object)
        del chunk
        scodes, suniq = pd.factorize(simp)  # Traditional and Simplified forms may coincide
        del simp
        clock("to_simplified")
        uscore[ix] = _score_distinct(list(suniq), model)[scodes]
        del suniq, scodes
        clock.t = time.perf_counter()  # _score_distinct recorded its own stages
    ok = codes >= 0
    out[ok] = uscore[codes[ok]]
    del codes, uniques, ok
    release_free_memory()  # the chunks' freed temporaries (see csaudit.memory)
    clock("expand")
    return out


def _to_simplified_many(texts: list[str]) -> list[str]:
    """``csaudit.text.to_simplified_one`` of each text, with one OpenCC call for all of them.

    OpenCC converts by longest dictionary match; no entry contains ``_SEP``, so converting the
    joined texts equals converting each text. Texts whose length changes fall back to
    ``to_simplified_one`` (its length-preserving rule).
    """
    from csaudit.text import _t2s, to_simplified_one

    def one(text: str) -> str:
        try:
            return to_simplified_one(text)
        except UnicodeError:  # lone surrogates (e.g. from JSON escapes) cannot reach OpenCC
            return text

    joined = _SEP.join(texts)
    if joined.count(_SEP) != len(texts) - 1:  # a text contains the separator: one by one
        return [one(t) for t in texts]
    try:
        out = _t2s().convert(joined).split(_SEP)
    except UnicodeError:
        return [one(t) for t in texts]
    if len(out) != len(texts):
        return [one(t) for t in texts]
    for i in np.flatnonzero(
        np.fromiter(map(len, out), dtype=np.int64, count=len(out))
        != np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    ):
        out[i] = one(texts[i])
    return out


def _tokenize(texts: list[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """snownlp's tokens of every text (``snownlp.seg.seg`` before segmenting): flattened.

    snownlp splits a text into runs of U+4E00–U+9FA5 (segmented later) and, between them, the
    pieces of ``str.split()``. Returns the tokens, the text index of each token and whether it is a
    Chinese run. Done on code points with numpy, then one C-level ``str.split``.
    """
    n = len(texts)
    lens = np.fromiter(map(len, texts), dtype=np.int64, count=n)
    codes = np.frombuffer(" ".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    if len(codes) == 0:
        return [], np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
    cjk = (codes >= _CJK_LO) & (codes <= _CJK_HI)
    ws = _WS_LUT[np.minimum(codes, len(_WS_LUT) - 1)]
    prev_ws = np.empty_like(ws)
    prev_ws[0] = True
    prev_ws[1:] = ws[:-1]
    prev_cjk = np.empty_like(cjk)
    prev_cjk[0] = False
    prev_cjk[1:] = cjk[:-1]
    start = ~ws & (prev_ws | (cjk != prev_cjk))
    glued = start & ~prev_ws  # a token starting right after another one (run <-> other)
    spaced = np.where(ws, np.uint32(32), codes)
    if glued.any():
        spaced = np.insert(spaced, np.flatnonzero(glued), np.uint32(32))
    tokens = spaced.tobytes().decode("utf-32-le", "surrogatepass").split()
    at = np.flatnonzero(start)
    if len(tokens) != len(at):  # pragma: no cover - defensive
        raise RuntimeError("tokenizer mismatch")
    text_start = np.cumsum(lens + 1) - (lens + 1)  # texts are joined with one space
    return tokens, np.searchsorted(text_start, at, side="right") - 1, cjk[at]


def _score_distinct(texts: list[str], model: str | Path | None = None) -> np.ndarray:
    """snownlp sentiment of distinct, already simplified texts (``model``: see :func:`score`)."""
    from csaudit.metrics.snowseg import segment_runs
    from csaudit.metrics.snowtrain import tables

    clock = _Clock()
    t = tables(model)
    clock("tables")
    n_texts = len(texts)
    toks, text_of, tok_is_run = _tokenize(texts)
    clock("tokenize")
    tok_code, tok_uniq = pd.factorize(np.asarray(toks, dtype=object))
    del toks
    tok_uniq = tok_uniq.tolist()
    is_run = np.zeros(len(tok_uniq), dtype=bool)
    is_run[tok_code] = tok_is_run
    run_ix = np.flatnonzero(is_run)
    other_ix = np.flatnonzero(~is_run)

    clock("distinct tokens")
    # words of every distinct token: segmented runs, other tokens are one word each
    run_words, run_nwords = segment_runs([tok_uniq[i] for i in run_ix], t)
    clock("segment")
    words = run_words + [tok_uniq[i] for i in other_ix]
    del run_words
    word_tok = np.concatenate([np.repeat(run_ix, run_nwords), other_ix]).astype(np.int64)
    wcode, wuniq = pd.factorize(np.asarray(words, dtype=object))
    del words
    keep_u, logp_u = _word_tables(wuniq.tolist(), t)
    keep = keep_u[wcode]
    word_tok, wcode = word_tok[keep], wcode[keep]
    order = np.argsort(word_tok, kind="stable")
    tok_words = wcode[order]  # kept word codes of token 0, then token 1, ...
    tok_len = np.bincount(word_tok, minlength=len(tok_uniq))
    tok_start = np.cumsum(tok_len) - tok_len

    # every text's word sequence (token occurrences in order, expanded to their words)
    occ_len = tok_len[tok_code]
    total = int(occ_len.sum())
    idx = np.repeat(tok_start[tok_code] - (np.cumsum(occ_len) - occ_len), occ_len) + np.arange(total)
    seq = tok_words[idx]
    n_words = np.bincount(np.repeat(text_of, occ_len), minlength=n_texts)
    clock("words")
    out = _bayes(seq, n_words, logp_u, t)
    clock("bayes")
    log.debug("sentiment: %d texts, %d distinct runs, %d words; %s", n_texts, len(run_ix), total, timings)
    return out


def _word_tables(words: list[str], t: SnowTables) -> tuple[np.ndarray, np.ndarray]:
    """For distinct words: kept (not a stop word) and log P(word | class) [2, n]."""
    stop = _stopwords(t)
    keep = np.fromiter((w not in stop for w in words), dtype=bool, count=len(words))
    vocab = _vocab(t)
    ix = np.fromiter((vocab.get(w, -1) for w in words), dtype=np.int64, count=len(words))
    logp = np.where(ix >= 0, t.word_logp[:, np.maximum(ix, 0)], t.unseen_logp[:, None])
    return keep, logp


def _prepare(model: str | Path | None = None) -> None:
    """Load the tables and build the word lookups before any per-chunk work: objects that live on
    would otherwise be allocated among the chunks' temporaries and keep their memory pages (Python's
    allocator returns an arena only when all its objects are gone)."""
    from csaudit.metrics.snowtrain import tables

    t = tables(model)
    _vocab(t)
    _stopwords(t)
    _to_simplified_many(["預熱"])  # OpenCC's converter (and its dictionaries) loaded once


_VOCAB_CACHE: dict[int, dict[str, int]] = {}
_STOP_CACHE: dict[int, frozenset[str]] = {}


def _vocab(t: SnowTables) -> dict[str, int]:
    key = id(t)
    if key not in _VOCAB_CACHE:
        _VOCAB_CACHE[key] = {w: i for i, w in enumerate(t.words())}
    return _VOCAB_CACHE[key]


def _stopwords(t: SnowTables) -> frozenset[str]:
    key = id(t)
    if key not in _STOP_CACHE:
        _STOP_CACHE[key] = frozenset(t.stopwords.tolist())
    return _STOP_CACHE[key]


#: above this ``math.exp`` overflows (its OverflowError is snownlp's "probability 0" branch)
_EXP_MAX = 709.782712893384


def _exact_exp(x: np.ndarray) -> np.ndarray:
    """``math.exp`` of each value — snownlp's own function, so the result is the same on any CPU
    (numpy's SIMD ``exp`` may differ in the last bit) — and ``inf`` where it would overflow
    (``1 / (1 + inf) = 0``, as snownlp's ``except OverflowError: now = 0``). One call per distinct
    text, ≈ 0.1 µs each."""
    out = np.empty(x.shape, dtype=np.float64)
    ok = x < _EXP_MAX - 1.0  # NaN cannot occur: class scores are finite sums of finite logs
    out[ok] = np.fromiter(map(math.exp, x[ok].tolist()), dtype=np.float64, count=int(ok.sum()))
    for i in np.flatnonzero(~ok).tolist():  # near or past the overflow: rare, one by one
        try:
            out[i] = math.exp(float(x[i]))
        except OverflowError:
            out[i] = np.inf
    return out


def _bayes(seq: np.ndarray, n_words: np.ndarray, logp: np.ndarray, t: SnowTables) -> np.ndarray:
    """snownlp ``Bayes.classify`` → ``Sentiment.classify`` for each text.

    ``seq`` holds the word codes of all texts back to back (``n_words`` each). Class scores are
    ``base_k + log p_k(w1) + log p_k(w2) + ...`` summed left to right as snownlp does, then
    ``p_k = 1 / Σ_j exp(score_j − score_k)``; the winning class's probability is returned as
    P(pos) directly or as 1 − P(neg).
    """
    n = len(n_words)
    acc = np.repeat(t.base[:, None], n, axis=1)  # [2, n]
    if len(seq):
        start = np.cumsum(n_words) - n_words
        order = np.argsort(-n_words, kind="stable")
        sorted_n = n_words[order]
        m_at = np.searchsorted(-sorted_n, -np.arange(int(sorted_n[0])), side="left")  # texts with > j words
        # word j of every text that has one, column after column, so each class score is a running
        # sum in snownlp's left-to-right order
        cols = np.concatenate([start[order[:m]] + j for j, m in enumerate(m_at)])
        bounds = np.concatenate([[0], np.cumsum(m_at)])
        for k in range(2):
            col_vals = logp[k][seq[cols]]
            a = acc[k][order]
            for j, m in enumerate(m_at):
                a[:m] += col_vals[bounds[j] : bounds[j + 1]]
            acc[k][order] = a
    k_pos = t.pos_class
    s_pos, s_neg = acc[k_pos], acc[1 - k_pos]
    # class order in snownlp's dict: for k, sum over otherk in dict order (exp(0) == 1 exactly)
    if k_pos == 1:  # ['neg', 'pos']
        p_neg = 1.0 / (1.0 + _exact_exp(s_pos - s_neg))
        p_pos = 1.0 / (_exact_exp(s_neg - s_pos) + 1.0)
    else:
        p_pos = 1.0 / (1.0 + _exact_exp(s_neg - s_pos))
        p_neg = 1.0 / (_exact_exp(s_pos - s_neg) + 1.0)
    # snownlp visits the classes in dict order and keeps the first strictly larger probability
    first_neg = k_pos == 1
    if first_neg:
        pos_wins = p_pos > p_neg
    else:
        pos_wins = p_pos >= p_neg
    return np.where(pos_wins, p_pos, 1.0 - p_neg)


# --------------------------------------------------------------------------- per message / conversation


def message_sentiment(messages: pd.DataFrame, model: str | Path | None = None) -> pd.Series:
    """Score of each customer message (``role == "customer"``), NaN for every other row.

    Returns a float64 Series named ``sentiment`` on ``messages.index``; ``messages`` is not modified.
    """
    out = np.full(len(messages), np.nan, dtype=np.float64)
    if len(messages):
        cust = _is_customer(messages)
        if cust.any():
            out[cust] = score(messages["text"][cust], model)  # a Series: factorized natively by pandas
    return pd.Series(out, index=messages.index, name="sentiment", dtype="float64")


def _is_customer(messages: pd.DataFrame) -> np.ndarray:
    """``role == "customer"`` of each row (bool; False for a missing role), compared on the column's
    own dtype: a categorical compares its codes instead of spelling every row out as a str."""
    return (messages["role"] == "customer").to_numpy(dtype=bool, na_value=False)


def conversation_sentiment(messages: pd.DataFrame, cfg: SentimentConfig | None = None) -> pd.DataFrame:
    """Per conversation: start, end and drift of customer sentiment, and the deteriorated flag.

    Uses the ``sentiment`` column when present (as added by the audit), else scores the customer
    messages. Messages are taken in row order within each conversation (the MESSAGES table is sorted
    by conversation then time). Columns :data:`CONVERSATION_COLUMNS`, one row per conversation of
    ``messages`` (sorted by id): ``sentiment_start`` mean of the first k scored customer messages,
    ``sentiment_end`` mean of the last k, ``sentiment_drift`` = end − start (all NaN when the
    conversation has no customer message), ``deteriorated`` = drift ≤ ``cfg.deteriorated_drift``
    (False when NaN), ``n_scored`` customer messages scored.
    """
    from csaudit.config import SentimentConfig

    cfg = cfg or SentimentConfig()
    k = int(cfg.k)
    if k < 1:
        raise ValueError(f"sentiment.k must be >= 1, got {k}")
    s = messages["sentiment"] if "sentiment" in messages.columns else message_sentiment(messages)
    conv = messages["conversation_id"]
    codes, ids = factorize_runs(conv)  # integer groups for the positions: no string hashing per row
    is_cust = _is_customer(messages)
    vals = s.to_numpy(dtype=np.float64, na_value=np.nan)
    use = np.flatnonzero(is_cust & ~np.isnan(vals) & (codes >= 0))  # scored rows, in row order
    c = codes[use]
    order = np.argsort(c, kind="stable")  # rows grouped by conversation (a no-op when they are)
    n_scored = np.bincount(c, minlength=len(ids))
    pos = np.empty(len(c), dtype=np.int64)  # 0-based position of each scored row in its conversation
    pos[order] = np.arange(len(c)) - (np.cumsum(n_scored) - n_scored)[c[order]]
    rpos = n_scored[c] - 1 - pos  # from the end
    frame = pd.DataFrame({"conversation_id": conv.astype("str").take(use).reset_index(drop=True), "s": vals[use]})
    # the means as pandas' groupby computes them (its summation decides the last bit)
    start = frame[pos < k].groupby("conversation_id")["s"].mean()
    end = frame[rpos < k].groupby("conversation_id")["s"].mean()

    ids = pd.Index(ids, dtype="str")
    sort = ids.argsort()  # output sorted by id (ids are distinct)
    ids = ids[sort]
    out = pd.DataFrame({"conversation_id": pd.Series(ids, dtype="str")})
    out["sentiment_start"] = start.reindex(ids).to_numpy(dtype=np.float64)
    out["sentiment_end"] = end.reindex(ids).to_numpy(dtype=np.float64)
    out["sentiment_drift"] = out["sentiment_end"] - out["sentiment_start"]
    drift = out["sentiment_drift"].to_numpy()
    with np.errstate(invalid="ignore"):
        out["deteriorated"] = ~np.isnan(drift) & (drift <= cfg.deteriorated_drift + _DRIFT_EPS)
    out["n_scored"] = n_scored[sort].astype(np.int64)
    return out
