"""Word-level figures with jieba: pronoun use of agents, complaint keywords of customers.

jieba is imported lazily (it takes about a second to load its dictionary; the cache lives in the
system temp folder, not in ``$HOME``). Each audit segments with its own :class:`Segmenter`: a jieba
tokenizer of jieba's default dictionary plus the terms of that audit's lexicon (built-in and shop
files), so phrases such as 不好意思 or 我查一下 stay whole words. Nothing process-wide changes:
``jieba.dt`` and jieba's global functions are never touched, and one audit's shop terms never reach
another audit (segmenters are cached by their terms). Texts are converted Traditional → Simplified
(and full-width → half-width) before segmentation, and each distinct text is segmented once.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from csaudit.arrays import factorize_runs
from csaudit.memory import release_free_memory
from csaudit.metrics.jiebaseg import cut_texts
from csaudit.metrics.lexicon import Lexicon, _to_list, normalize_many

log = logging.getLogger(__name__)

PRONOUN_COLUMNS = ["agent", "nin_count", "ni_count", "honorific_ratio", "wo_count", "we_count", "wo_ratio"]
# words that contain a pronoun character without being that pronoun (迷你 "mini", 自我 "self", ...)
NOT_PRONOUN = frozenset({"迷你", "自我", "忘我", "本我", "无我", "大我", "小我", "我国"})
# "we" that excludes the customer (我们, 我司 ...): neither 我 nor 咱们
EXCLUSIVE_WE = frozenset({"我们", "我司", "我方", "我店", "我们家"})
_PRONOUN_CHARS = re.compile("[您你我咱妳]")
#: distinct texts normalised and segmented together: bounds the memory of their Python strs (tokens)
CHUNK_TEXTS = 20_000

CHAT_STOP_WORDS = frozenset(
    """
    这个 那个 什么 怎么 怎么样 为什么 可以 没有 就是 还是 一下 你们 我们 他们 现在 已经 时候 请问 知道
    谢谢 好的 亲亲 客服 一个 这样 那样 然后 但是 因为 所以 如果 还有 不是 是不是 可能 应该 需要 一直
    有没有 能不能 多少 哪里 这边 那边 东西 问题 自己 这里 那里 今天 明天 昨天 不要 不用 不会 还要 直接
    收到 看看 一样 真的 非常 比较 那么 这么 一点 知道 感觉 麻烦 您好 你好 在吗 好吧 好了 嗯嗯 哈哈
    我要 我想 我去 我看 看下 看一下 一下子
    """.split()
)
"""Chat filler words left out of complaint keywords (on top of jieba.analyse's own stop words)."""


def _jieba() -> Any:
    """The jieba module (quiet), imported on first use. Its global tokenizer ``jieba.dt`` is not used."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


@dataclass(frozen=True, eq=False)
class Segmenter:
    """jieba's accurate mode (HMM on) with jieba's default dictionary plus ``terms`` added as words
    (``Tokenizer.add_word`` with jieba's suggested frequency, in order), in a tokenizer of its own."""

    tokenizer: Any
    """The ``jieba.Tokenizer`` (its own ``FREQ``/``total``; never modified after it is built)."""
    terms: tuple[str, ...]

    def cut(self, texts: list[str]) -> tuple[list[str], np.ndarray]:
        """All tokens of ``texts`` (text by text) and the number of tokens of each
        (:func:`csaudit.metrics.jiebaseg.cut_texts`)."""
        return cut_texts(texts, self.tokenizer)

    def lcut_many(self, texts: list[str]) -> list[list[str]]:
        """``lcut(t)`` of this segmenter for every text."""
        tokens, n_tok = self.cut(texts)
        bounds = np.r_[0, np.cumsum(n_tok)].tolist()
        return [tokens[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def lexicon_terms(lexicon: Lexicon | None = None) -> tuple[str, ...]:
    """The words a segmenter adds: the built-in lexicons' terms, then those of ``lexicon`` not among
    them (shop files), normalised (:func:`normalize_many`), each once, blank ones left out."""
    seen: dict[str, None] = {}
    for source in (_builtin_terms(), normalize_many(lexicon.terms()) if lexicon is not None else []):
        for t in source:
            if t.strip():
                seen.setdefault(t, None)
    return tuple(seen)


@lru_cache(maxsize=1)
def _builtin_terms() -> tuple[str, ...]:
    return tuple(normalize_many(Lexicon.load().terms()))


def segmenter(lexicon: Lexicon | None = None) -> Segmenter:
    """The :class:`Segmenter` of ``lexicon`` (default: the built-in lexicons): jieba's default
    dictionary plus :func:`lexicon_terms`. Built once per distinct set of terms (≈ 0.6 s: jieba's
    dictionary load and the terms), the last two kept."""
    return _segmenter(lexicon_terms(lexicon))


@lru_cache(maxsize=2)  # tens of MB each (dictionary + tables): the default and one shop's
def _segmenter(terms: tuple[str, ...]) -> Segmenter:
    tk = _jieba().Tokenizer()  # jieba's default dictionary, loaded from jieba's cache file (≈ 0.5 s)
    tk.initialize()
    for t in terms:
        tk.add_word(t)
    return Segmenter(tk, terms)


def segment_many(texts: list[str], lexicon: Lexicon | None = None) -> list[list[str]]:
    """``lcut(t)`` (accurate mode, HMM on) of the :func:`segmenter` of ``lexicon`` for every text of
    ``texts``, with less work.

    jieba cuts a sentence block by block (runs of 汉字/letters/digits, and what lies between them)
    and segments each block on its own, so the tokens of a text are the concatenation of the tokens
    of its blocks: each distinct block is cut once, all together with numpy
    (:func:`csaudit.metrics.jiebaseg.cut_texts`: jieba's DAG, route and HMM, decision for decision).
    Same tokens as the tokenizer's ``lcut``, text by text.
    """
    return segmenter(lexicon).lcut_many(texts)


def _pronoun_counts(tokens: list[str]) -> tuple[int, int, int, int]:
    """(您, 你, 我, 咱们) counts in one segmented text."""
    nin = ni = wo = we = 0
    for t in tokens:
        if not _PRONOUN_CHARS.search(t):
            continue
        for w in NOT_PRONOUN:  # 迷你裙 → 裙: the 你 of 迷你 is no pronoun
            if w in t:
                t = t.replace(w, "")
        nin += t.count("您")
        ni += t.count("你") + t.count("妳")
        we += t.count("咱")
        for w in EXCLUSIVE_WE:
            if w in t:
                t = t.replace(w, "")
        wo += t.count("我")
    return nin, ni, wo, we


class _CodePoints:
    """Normalised texts concatenated: code points (uint32) and the offsets of each text."""

    def __init__(self, texts: list[str]) -> None:
        lens = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        self.cp = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        self.starts = np.cumsum(lens) - lens
        self.ends = self.starts + lens
        self.n = len(texts)

    def text_of(self, pos: np.ndarray) -> np.ndarray:
        """Index of the text holding each position (empty texts hold none)."""
        return np.searchsorted(self.starts, pos, side="right") - 1

    def count(self, pos: np.ndarray) -> np.ndarray:
        """Number of positions ``pos`` in each text (int64)."""
        return np.bincount(self.text_of(pos), minlength=self.n).astype(np.int64)

    def find(self, word: str) -> np.ndarray:
        """Start positions of every occurrence of ``word`` inside one text (overlaps included)."""
        cp = self.cp
        pos = np.flatnonzero(cp == ord(word[0]))
        for k in range(1, len(word)):
            pos = pos[pos + k < len(cp)]
            pos = pos[cp[pos + k] == ord(word[k])]
        return pos[pos + len(word) <= self.ends[self.text_of(pos)]]


def _self_overlapping(word: str) -> bool:
    return any(word[:k] == word[-k:] for k in range(1, len(word)))


def _pronoun_char_counts(norm: list[str]) -> np.ndarray:
    """(您, 你/妳, 我 not in 我们/我司/我方/我店, 咱) of each normalised text, int64 [n, 4]: the
    counts of ``str.count`` (non-overlapping) without looking at words."""
    j = _CodePoints(norm)
    counts = np.zeros((len(norm), 4), dtype=np.int64)
    counts[:, 0] = j.count(j.find("您"))
    counts[:, 1] = j.count(np.flatnonzero((j.cp == ord("你")) | (j.cp == ord("妳"))))
    counts[:, 3] = j.count(j.find("咱"))
    wo = j.count(j.find("我"))
    for w in EXCLUSIVE_WE:
        if w != "我们家":  # 我们家 ⊃ 我们: counted once
            if _self_overlapping(w):  # pragma: no cover - none of the words is
                wo -= np.array([t.count(w) for t in norm], dtype=np.int64)
            else:
                wo -= j.count(j.find(w))
    counts[:, 2] = wo
    return counts


def _contains_any(norm: list[str], words: frozenset[str]) -> np.ndarray:
    """Whether each text contains one of ``words`` (bool)."""
    j = _CodePoints(norm)
    hits = [j.find(w) for w in words if w]
    return j.count(np.concatenate([np.zeros(0, dtype=np.int64), *hits])) > 0


def _pronoun_chunk(texts: list[str], lexicon: Lexicon | None) -> np.ndarray:
    """(您, 你/妳, 我, 咱们) counts of each of ``texts`` (int64 [n, 4]), see :func:`pronoun_figures`."""
    norm = normalize_many(texts)
    counts = _pronoun_char_counts(norm)
    ambiguous = np.flatnonzero(_contains_any(norm, NOT_PRONOUN))
    if len(ambiguous):
        amb = ambiguous.tolist()
        for i, toks in zip(amb, segment_many([norm[i] for i in amb], lexicon), strict=True):
            counts[i] = _pronoun_counts(toks)
    return counts


def pronoun_figures(messages: pd.DataFrame, lexicon: Lexicon | None = None) -> pd.DataFrame:
    """Per agent (``role == "agent"`` messages only): pronoun counts.

    Columns: ``agent``; ``nin_count`` (您, incl. 您好/您们), ``ni_count`` (你/妳, incl. 你好/你们),
    ``honorific_ratio`` = 您 ÷ (您 + 你) (NaN without either); ``wo_count`` (我 as "I": not in
    我们/我司/我方/我店), ``we_count`` (inclusive "we": 咱们/咱), ``wo_ratio`` = 我 ÷ (我 + 您 + 咱们)
    (NaN without any). Guidance: address the customer with 您 and talk of 咱们, not 我.

    Words that merely contain the character (迷你 "mini", 自我 "self", 我国 …) do not count. Where
    such a sequence occurs, jieba decides whether it is that word (给我国际快递 → 给/我/国际/快递: 我
    counts); texts without one are counted directly. Each distinct text is handled once.
    ``lexicon`` (e.g. with a shop's files): segmented with its :func:`segmenter`.
    """
    is_agent = (messages["role"] == "agent").to_numpy(dtype=bool, na_value=False)
    rows = np.flatnonzero(is_agent & messages["agent"].notna().to_numpy(dtype=bool))
    if not len(rows):
        dtypes = {"agent": "str", "honorific_ratio": "float64", "wo_ratio": "float64"}
        return pd.DataFrame({c: pd.Series(dtype=dtypes.get(c, "int64")) for c in PRONOUN_COLUMNS})
    # one column at a time (``.loc`` of both columns held ≈ 70 MB more on 1M messages)
    codes, uniques = _factorize_rows(messages["text"], rows)
    counts = np.zeros((len(uniques), 4), dtype=np.int64)
    for a in range(0, len(uniques), CHUNK_TEXTS):  # chunks bound the memory of the Python strs
        counts[a : a + CHUNK_TEXTS] = _pronoun_chunk(_to_list(uniques[a : a + CHUNK_TEXTS]), lexicon)
    agent, names = pd.factorize(messages["agent"].take(rows), sort=True)
    known = codes >= 0
    sums = np.zeros((len(names), 4), dtype=np.int64)
    for k in range(4):  # integer sums per agent (exact in float64 below 2**53)
        sums[:, k] = np.bincount(agent[known], weights=counts[codes[known], k], minlength=len(names))
    cols = ["nin_count", "ni_count", "wo_count", "we_count"]
    out = pd.DataFrame(sums, columns=cols, index=pd.Index(names, dtype="str", name="agent"))
    nin, ni, wo_, we = (out[c].astype("float64") for c in ("nin_count", "ni_count", "wo_count", "we_count"))
    out["honorific_ratio"] = (nin / (nin + ni)).where(nin + ni > 0)
    out["wo_ratio"] = (wo_ / (wo_ + nin + we)).where(wo_ + nin + we > 0)
    return out.reset_index()[PRONOUN_COLUMNS]


# jieba.analyse's own TF-IDF stop words (KeywordExtractor.STOP_WORDS)
JIEBA_STOP_WORDS = frozenset(
    "the of is and to in that we for an are by be as on with can if from which you it this then at "
    "have all not one has or".split()
)


@lru_cache(maxsize=1)
def _idf() -> tuple[pa.Array, np.ndarray, float]:
    """jieba.analyse's IDF table (``jieba/analyse/idf.txt``) read as jieba reads it, without importing
    ``jieba.analyse`` (which also loads the POS tagger: seconds for nothing here): its words (an Arrow
    string array, in file order), their IDF (float64) and the median IDF.

    jieba keeps ``{word: float(idf)}`` (a repeated word: the last value wins). As Python objects its
    270,000 entries took ≈ 34 MB; the Arrow array and float64 values take ≈ 5 MB
    (:func:`_idf_of` looks words up).
    """
    from pathlib import Path

    return _read_idf(Path(_jieba().__file__).parent / "analyse" / "idf.txt")  # jieba is not initialised


def _read_idf(path: Any) -> tuple[pa.Array, np.ndarray, float]:
    """:func:`_idf` of the file ``path`` ("word idf" lines, no quoting)."""
    import pyarrow.csv as pcsv

    table = pcsv.read_csv(  # pandas' reader, then its duplicated(), held ≈ 100 MB more at peak
        path,
        read_options=pcsv.ReadOptions(column_names=["w", "f"], use_threads=False),
        parse_options=pcsv.ParseOptions(delimiter=" ", quote_char=False),
        convert_options=pcsv.ConvertOptions(
            column_types={"w": pa.string(), "f": pa.string()},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    words = table["w"].combine_chunks()
    # Arrow parses decimals correctly rounded, as float() does (the tests compare with jieba's table)
    values = pc.cast(table["f"], pa.float64()).combine_chunks().to_numpy(zero_copy_only=False)
    del table
    median = float(np.sort(values)[len(values) // 2])
    return words, np.ascontiguousarray(values), median


def idf_table() -> dict[str, float]:
    """jieba.analyse's ``idf_freq`` dictionary, as :func:`_idf` holds it (for checks)."""
    words, values, _ = _idf()
    return dict(zip(words.to_pylist(), values.tolist(), strict=True))


def _idf_of(words: list[str], table: tuple[pa.Array, np.ndarray, float] | None = None) -> np.ndarray:
    """jieba.analyse's IDF of each of the distinct ``words`` (``idf_freq.get(w, median_idf)``), float64.
    ``table``: as :func:`_idf` returns it (default: jieba's).

    The IDF words are looked up in a hash table of ``words`` (a few ten thousand), not the other way
    round: Arrow's table of the 270,000 IDF words took ≈ 50 MB while it was built.
    """
    table = table or _idf()
    idf_words, idf_values, median = table
    out = np.full(len(words), median, dtype=np.float64)
    if not words:
        return out
    try:
        query = pa.array(words, type=pa.string())
    except UnicodeError:  # lone surrogates (e.g. from JSON escapes) are in no IDF word
        ok = np.flatnonzero([not _has_surrogate(w) for w in words])
        out[ok] = _idf_of([words[i] for i in ok.tolist()], table)
        return out
    at = pc.index_in(idf_words, value_set=query).to_numpy(zero_copy_only=False)  # NaN: not a query word
    pos = np.flatnonzero(~np.isnan(at))
    word = at[pos].astype(np.int64)
    # a word repeated in the IDF file: the last value counts, as in jieba's dict
    uniq, last_rev = np.unique(word[::-1], return_index=True)
    out[uniq] = idf_values[pos[len(pos) - 1 - last_rev]]
    return out


def _has_surrogate(word: str) -> bool:
    try:
        word.encode("utf-8")
    except UnicodeError:
        return True
    return False


def complaint_keywords(
    messages: pd.DataFrame,
    top: int = 10,
    stop_words: frozenset[str] | None = None,
    max_texts: int | None = None,
    lexicon: Lexicon | None = None,
) -> pd.DataFrame:
    """Per agent: the ``top`` keywords of the customer messages of the agent's conversations.

    A conversation belongs to its primary agent (first ``role == "agent"`` message). Weights are
    jieba.analyse's TF-IDF, exactly as ``jieba.analyse.extract_tags`` computes them on the agent's
    customer text (term frequency ÷ all counted tokens × jieba's IDF; tokens under 2 characters and
    jieba's stop words skipped), with ``stop_words`` (default :data:`CHAT_STOP_WORDS`) and pure
    numbers also skipped. Each distinct customer text is segmented once; at most ``max_texts``
    (default ``Config().lexicon.keyword_max_texts``) distinct texts are used, the most frequent first.
    ``lexicon`` (e.g. with a shop's files): segmented with its :func:`segmenter`.
    Returns DataFrame[agent, keyword, weight], by agent then weight (descending).
    """
    stop = CHAT_STOP_WORDS if stop_words is None else frozenset(stop_words)
    agent, rows, names = _customer_texts(messages)
    if not len(rows):
        return _no_keywords()
    if max_texts is None:
        from csaudit.config import Config

        max_texts = Config().lexicon.keyword_max_texts
    _idf()
    seg = segmenter(lexicon)
    codes, uniques = _factorize_rows(messages["text"], rows)  # no missing text among the rows
    n_distinct = len(uniques)
    chosen = np.arange(n_distinct)
    if n_distinct > max_texts:
        freq = np.bincount(codes, minlength=n_distinct)
        chosen = np.sort(np.argsort(-freq, kind="stable")[:max_texts])
        log.info(
            "complaint keywords: using the %d most frequent of %d distinct customer texts",
            max_texts,
            n_distinct,
        )
    # only the chosen distinct texts are normalised and segmented; the others count no token
    tok, n_tok, words = _tokens(uniques, chosen, seg)
    vocab = pd.Index(words, dtype=object)
    jieba_stop = JIEBA_STOP_WORDS
    counted = np.fromiter(
        (
            len(w.strip()) >= 2
            and w.lower() not in jieba_stop
            and w not in stop
            and not w.strip().replace(".", "").isdigit()
            for w in words
        ),
        dtype=bool,
        count=len(words),
    )
    keep = counted[tok]
    kept_tok = tok[keep]  # counted tokens of the chosen texts, text by text (chosen is ascending)
    kept_n = np.zeros(n_distinct, dtype=np.int64)  # counted tokens of each distinct text
    kept_n[chosen] = np.bincount(np.repeat(np.arange(len(chosen)), n_tok)[keep], minlength=len(chosen))
    idf_of = _idf_of(words)
    ag, word, weight = _tfidf_top(agent, codes, kept_tok, kept_n, idf_of, top)
    if not len(ag):
        return _no_keywords()
    out = pd.DataFrame({"agent": names.take(ag), "keyword": vocab.take(word), "weight": weight})
    return out.astype({"agent": "str", "keyword": "str", "weight": "float64"})


def _tokens(uniques: pd.Index, chosen: np.ndarray, seg: Segmenter) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``seg``'s tokens of the normalised texts ``uniques[chosen]``, text after text: word codes
    (int64, numbered by first occurrence), tokens per text, and the words of the codes.

    Done :data:`CHUNK_TEXTS` texts at a time, so only one chunk's tokens are Python strs at once;
    codes are given in order of first occurrence over all chunks (as one ``pd.factorize`` would).
    """
    index: dict[str, int] = {}
    codes_l, n_l = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for a in range(0, len(chosen), CHUNK_TEXTS):
        tokens, n_tok = seg.cut(normalize_many(_to_list(uniques.take(chosen[a : a + CHUNK_TEXTS]))))
        local, local_words = pd.factorize(pd.Index(tokens, dtype=object))
        del tokens
        # setdefault's default is evaluated first: a new word gets the next code
        glob = np.fromiter(
            (index.setdefault(w, len(index)) for w in local_words.tolist()), dtype=np.int64, count=len(local_words)
        )
        codes_l.append(glob[local])
        n_l.append(n_tok)
    return np.concatenate(codes_l), np.concatenate(n_l), list(index)


def _no_keywords() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "agent": pd.Series(dtype="str"),
            "keyword": pd.Series(dtype="str"),
            "weight": pd.Series(dtype="float64"),
        }
    )


def _customer_texts(messages: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, pd.Index]:
    """Customer messages with a text, in a conversation with a primary agent (its first
    ``role == "agent"`` message with an agent, as :func:`conversation_agent`): the agent of each
    (int codes into the sorted agent names), their row positions, and the agent names."""
    conv, _ = factorize_runs(messages["conversation_id"])  # = pd.factorize, without hashing every row
    has_agent = messages["agent"].notna().to_numpy(dtype=bool)
    sel = np.flatnonzero((messages["role"] == "agent").to_numpy(dtype=bool) & has_agent & (conv >= 0))
    first_conv, first_at = np.unique(conv[sel], return_index=True)
    owner_codes, names = pd.factorize(messages["agent"].take(sel[first_at]), sort=True)
    owner = np.full(int(conv.max(initial=-1)) + 1, -1, dtype=np.int64)
    owner[first_conv] = owner_codes
    cust = np.flatnonzero((messages["role"] == "customer").to_numpy(dtype=bool) & (conv >= 0))
    agent = owner[conv[cust]]
    ok = (agent >= 0) & messages["text"].notna().to_numpy(dtype=bool)[cust]
    agent, rows = agent[ok], cust[ok]
    del conv, owner, cust, ok
    release_free_memory()  # the row-sized temporaries (≈ 35 MB on 1M messages)
    return agent, rows, pd.Index(names)


#: rows whose texts are taken and factorised at once by :func:`_factorize_rows`
FACTORIZE_ROWS = 100_000


def _factorize_rows(col: pd.Series, rows: np.ndarray) -> tuple[np.ndarray, pd.Index]:
    """``pd.factorize(col.take(rows))``: codes in order of first appearance (−1 for missing) and the
    distinct values, the same result, with :data:`FACTORIZE_ROWS` rows taken at a time.

    Taking 500,000 Arrow strings at once and hashing them left ≈ 90 MB in Arrow's pool at peak. Each
    block is factorised alone; the blocks' distinct values, concatenated in order, are factorised
    again: a value's first block, and its first row there, come first, so the codes are those of one
    factorisation of all rows.
    """
    if len(rows) <= FACTORIZE_ROWS:
        codes, uniques = pd.factorize(col.take(rows), use_na_sentinel=True)
        release_free_memory()
        return codes, pd.Index(uniques)
    part_codes, part_uniques = [], []
    for a in range(0, len(rows), FACTORIZE_ROWS):
        c, u = pd.factorize(col.take(rows[a : a + FACTORIZE_ROWS]), use_na_sentinel=True)
        part_codes.append(c)
        part_uniques.append(pd.Index(u))
        release_free_memory()
    glob, uniques = pd.factorize(part_uniques[0].append(part_uniques[1:]))
    offsets = np.cumsum([0] + [len(u) for u in part_uniques])
    codes = np.concatenate(
        [np.where(c >= 0, glob[o + np.maximum(c, 0)], -1) for c, o in zip(part_codes, offsets.tolist(), strict=False)]
    )
    release_free_memory()
    return codes, pd.Index(uniques)


def _tfidf_top(
    agent: np.ndarray,
    codes: np.ndarray,
    kept_tok: np.ndarray,
    kept_n: np.ndarray,
    idf_of: np.ndarray,
    top: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top ``top`` TF-IDF words per agent: (agent code, word code, weight), by agent then weight.

    ``agent``/``codes``: agent and distinct-text code of each customer message; ``kept_tok``: the
    counted word codes of all distinct texts, text by text, ``kept_n`` per text; ``idf_of``: IDF per
    word code. Reproduces, float for float, the former loop: per agent (sorted), its (text, count)
    pairs as ``DataFrame.value_counts`` orders them (count descending, then first appearance), a
    ``Counter`` of the words of those texts (``+= count``: insertion order = first occurrence),
    ``weight = count * idf / total`` and a stable sort by weight descending (ties: first occurrence).
    """
    n_text = len(kept_n)
    pair, first, cnt = np.unique(agent * n_text + codes, return_index=True, return_counts=True)
    pa, pc = pair // n_text, pair % n_text
    order = np.lexsort((first, -cnt, pa))
    pa, pc, pn = pa[order], pc[order], cnt[order]
    kn = kept_n[pc]
    kept_start = np.cumsum(kept_n) - kept_n
    rel = np.arange(int(kn.sum())) - np.repeat(np.cumsum(kn) - kn, kn)
    e_tok = kept_tok[np.repeat(kept_start[pc], kn) + rel]  # words in the loop's order
    n_words = len(idf_of)
    key, e_first, inv = np.unique(np.repeat(pa, kn) * n_words + e_tok, return_index=True, return_inverse=True)
    count = np.bincount(inv, weights=np.repeat(pn, kn).astype(np.float64))  # integers (exact)
    ka, kw = key // n_words, key % n_words
    total = np.bincount(ka, weights=count)[ka]
    weight = count * idf_of[kw] / total  # (count × idf) ÷ total, as the loop computed it
    order = np.lexsort((e_first, -weight, ka))
    ka, kw, weight = ka[order], kw[order], weight[order]
    start = np.flatnonzero(np.r_[True, ka[1:] != ka[:-1]])
    size = np.diff(np.r_[start, len(ka)])
    rank = np.arange(len(ka)) - np.repeat(start, size)
    limit = np.repeat(np.full(len(size), top) if top >= 0 else np.maximum(size + top, 0), size)  # [:top]
    best = rank < limit
    return ka[best], kw[best], weight[best]


def word_figures(
    messages: pd.DataFrame, top: int = 10, lexicon: Lexicon | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(pronoun_figures(messages, lexicon), complaint_keywords(messages, top, lexicon=lexicon))``:
    everything that needs jieba, in one call (so one process loads its dictionary).

    The lexicon's :func:`segmenter`, the IDF table and the dictionary arrays are built first: objects
    that live on, created among the stages' temporaries, would keep those temporaries' memory pages
    (Python's allocator returns an arena only when all its objects are gone). Both stages use that
    same segmenter, so building it first changes no result.
    """
    from csaudit.metrics.jiebaseg import dict_tables

    _idf()
    dict_tables(segmenter(lexicon).tokenizer)
    release_free_memory()
    pronouns = pronoun_figures(messages, lexicon)
    release_free_memory()  # the temporaries of each stage (see csaudit.memory)
    keywords = complaint_keywords(messages, top=top, lexicon=lexicon)
    release_free_memory()
    return pronouns, keywords
