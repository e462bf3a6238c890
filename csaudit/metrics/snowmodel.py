"""snownlp's segmentation and sentiment models as numpy tables (built once, cached on disk).

snownlp (0.12.x) scores a text in three steps (see ``snownlp/seg``, ``snownlp/normal`` and
``snownlp/sentiment``/``classification/bayes.py``):

1. **Segmenter** — a character-based generative model (``seg/y09_2047.py``): every character gets a
   tag b/m/e/s and the tag sequence maximises a sum of
   ``log(l1·P(c3,t3) + l2·P(c3,t3 | c2,t2) + l3·P(c3,t3 | c1,t1,c2,t2))`` over (char, tag)
   trigrams, decoded by a Python Viterbi.
2. **Stop words** (``normal/stopwords.txt``) are dropped.
3. **Naive Bayes** over the remaining words with add-one counts per class.

This module turns the loaded model into flat arrays so that :mod:`csaudit.metrics.snowseg` can decode
many runs at once with numpy, with *bit-identical* floating-point terms:

* ``uni_term[c, t]      = l1 * (count(c,t) / total)``
* ``bi_val[e]           = (l2 * count((c2,t2),(c3,t3))) / count(c2,t2)`` per stored bigram entry
* ``tri_val[e]          = (l3 * count(trigram)) / count(bigram prefix)`` per stored trigram entry

(the same operations in the same order as ``CharacterBasedGenerativeModel.log_prob``). Every
``log(uni + bi + tri)`` the segmenter can need is one of three kinds — no n-gram stored (``uni_log``),
a bigram only (``bi_log``), a trigram (``tri_log``) — so all of them are taken once here with
``math.log`` (snownlp's own function) and cached: decoding runs no transcendental function, and its
scores are the same on every CPU (numpy's SIMD ``log`` differs from libm's in the last bit on some,
e.g. AVX-512 builds). Bigram and
trigram terms are sparse (character n-gram keys, sorted, each with a range of (tag combination,
value) entries): a dense [bigram, 4, 4] table would be 30 MB of mostly zeros (1.2 of 16 tag pairs
are stored per bigram), the sparse form ≈ 5 MB. The Bayes vocabulary is stored as code points and
lengths (a fixed-width numpy string array of it took 18 MB). All tables: ≈ 25 MB in memory.

Character ids: ``0`` = a character the model never saw (snownlp's "not found" branch), ``1`` = the
BOS symbol ``('', 'BOS')`` (its tag is stored in slot 0), ``2..`` = model characters in the range
U+4E00–U+9FA5, the only characters snownlp ever feeds to its segmenter. Tags: b=0, m=1, e=2, s=3.

Building needs ``import snownlp`` (≈ 2.5 s, mostly unmarshalling its model); the arrays are then
cached as ``.npz`` under ``$CSAUDIT_CACHE_DIR`` (default ``<system temp dir>/csaudit-cache``,
like jieba's own cache: the library never writes to ``$HOME``), keyed by a hash of snownlp's version and model files, so later processes load
them in milliseconds without importing snownlp at all. Nothing of snownlp's data is stored in the
repository.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import logging
import math
import os
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

FORMAT_VERSION = 3  # 3: log terms precomputed with math.log; 2: sparse bigram terms, compact vocabulary
CJK_LO, CJK_HI = 0x4E00, 0x9FA5  # snownlp's re_zh range ([\u4E00-\u9FA5])
TAGS = ("b", "m", "e", "s")
UNKNOWN, BOS = 0, 1
_MODEL_FILES = ("seg/seg.marshal.3", "sentiment/sentiment.marshal.3", "normal/stopwords.txt")


@dataclass(frozen=True)
class SnowTables:
    """All lookup tables (see module docstring). Arrays are read-only."""

    cp2id: np.ndarray  # int32 [CJK_HI-CJK_LO+1]: code point - CJK_LO -> char id
    n_ids: int  # V: number of char ids (incl. UNKNOWN and BOS)
    uni_term: np.ndarray  # float64 [V, 4]
    bi_keys: np.ndarray  # int64 [nb] sorted: c2 * V + c3
    bi_start: np.ndarray  # int32 [nb + 1]: entries of bigram i are bi_start[i]:bi_start[i+1]
    bi_combo: np.ndarray  # int8 [nbe]: t2 * 4 + t3
    bi_val: np.ndarray  # float64 [nbe]
    tri_keys: np.ndarray  # int64 [nt] sorted: (c1 * V + c2) * V + c3
    tri_start: np.ndarray  # int32 [nt + 1]: entries of trigram i are tri_start[i]:tri_start[i+1]
    tri_combo: np.ndarray  # int8 [ne]: t1 * 16 + t2 * 4 + t3
    tri_val: np.ndarray  # float64 [ne]
    uni_log: np.ndarray  # float64 [V, 4]: math.log(uni_term) (-inf for 0): no bigram nor trigram stored
    bi_log: np.ndarray  # float64 [nbe]: math.log(uni_term[c3, t3] + bi_val[e]): bigram stored, no trigram
    tri_log: np.ndarray  # float64 [ne]: math.log((uni_term[c3, t3] + bi) + tri_val[e]), bi = 0.0 if unstored
    word_codes: np.ndarray  # uint32: code points of the Bayes vocabulary (union of both classes), joined
    word_lens: np.ndarray  # int32 [nw]: length of each vocabulary word (sorted words)
    word_logp: np.ndarray  # float64 [2, nw]: log(freq_k(word)) for class k (classes order below)
    unseen_logp: np.ndarray  # float64 [2]: log(1 / total_k) (add-one: unseen count = 1)
    base: np.ndarray  # float64 [2]: log(getsum_k) - log(total)
    pos_class: int  # index of the 'pos' class in the two classes
    stopwords: np.ndarray  # str [ns]

    def words(self) -> list[str]:
        """The Bayes vocabulary (sorted; index ``i`` ↔ ``word_logp[:, i]``)."""
        joined = self.word_codes.tobytes().decode("utf-32-le", "surrogatepass")
        ends = np.cumsum(self.word_lens, dtype=np.int64)
        return [joined[b - n : b] for b, n in zip(ends.tolist(), self.word_lens.tolist(), strict=True)]


def _snownlp_dir() -> Path:
    spec = importlib.util.find_spec("snownlp")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("snownlp is required for sentiment scoring (pip install snownlp)")
    return Path(next(iter(spec.submodule_search_locations)))


def _fingerprint() -> str:
    """Hash of snownlp's version, its model files and our table format."""
    h = hashlib.sha256(f"csaudit-snow-{FORMAT_VERSION}".encode())
    h.update(importlib.metadata.version("snownlp").encode())
    root = _snownlp_dir()
    for rel in _MODEL_FILES:
        p = root / rel
        h.update(rel.encode())
        h.update(p.read_bytes() if p.exists() else b"-")
    return h.hexdigest()[:20]


def cache_dir() -> Path:
    """Where the tables are cached (``$CSAUDIT_CACHE_DIR`` overrides)."""
    env = os.environ.get("CSAUDIT_CACHE_DIR")
    if env:
        return Path(env)
    return Path(tempfile.gettempdir()) / "csaudit-cache"


def _grouped(keys: list[int], vals: list[float], n_combos: int) -> tuple[np.ndarray, ...]:
    """Entries ``key = gram * n_combos + tag combo`` sorted by key and grouped by character n-gram:
    ``(distinct grams int64, start of each gram's entries int32 [+ end], tag combo of each entry
    int8, value of each entry float64)``."""
    k = np.asarray(keys, dtype=np.int64)
    v = np.asarray(vals, dtype=np.float64)
    o = np.argsort(k, kind="stable")
    k, v = k[o], v[o]
    grams, first = np.unique(k // n_combos, return_index=True)
    return grams.astype(np.int64), np.append(first, len(k)).astype(np.int32), (k % n_combos).astype(np.int8), v


def exact_log(x: np.ndarray) -> np.ndarray:
    """``math.log`` of each value (the C library's, as snownlp calls it), ``-inf`` for 0."""
    x = np.asarray(x, dtype=np.float64)
    out = np.full(x.shape, -np.inf)
    nz = x != 0
    out[nz] = np.fromiter(map(math.log, x[nz].tolist()), dtype=np.float64, count=int(nz.sum()))
    return out


def _log_terms(
    V: int,
    uni_term: np.ndarray,
    bi_keys: np.ndarray,
    bi_start: np.ndarray,
    bi_combo: np.ndarray,
    bi_val: np.ndarray,
    tri_keys: np.ndarray,
    tri_start: np.ndarray,
    tri_combo: np.ndarray,
    tri_val: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three kinds of ``log(uni + bi + tri)`` terms (see the module docstring), each summed in
    snownlp's order ``(uni + bi) + tri`` with an unstored term ``0.0``, then ``math.log``."""
    uni_log = exact_log(uni_term + 0.0)
    # bigram entries: key c2 * V + c3, combo t2 * 4 + t3
    b_gram = np.repeat(bi_keys, np.diff(bi_start))
    b_uni = uni_term[b_gram % V, bi_combo.astype(np.int64) % 4]
    bi_log = exact_log(b_uni + bi_val)
    # trigram entries: key (c1 * V + c2) * V + c3, combo t1 * 16 + t2 * 4 + t3; their (uni + bi) part
    t_gram = np.repeat(tri_keys, np.diff(tri_start))
    t_combo = tri_combo.astype(np.int64)
    base = uni_term[t_gram % V, t_combo % 4] + 0.0
    full_bi = bi_keys.astype(np.int64)
    b_full = np.repeat(full_bi, np.diff(bi_start)) * 16 + bi_combo.astype(np.int64)  # sorted
    want = (t_gram % (V * V)) * 16 + t_combo % 16
    if len(b_full):
        pos = np.minimum(np.searchsorted(b_full, want), len(b_full) - 1)
        has = b_full[pos] == want
        base[has] = b_uni[pos[has]] + bi_val[pos[has]]
    tri_log = exact_log(base + tri_val)
    return uni_log, bi_log, tri_log


def build_tables() -> SnowTables:
    """Build the tables from snownlp's own loaded model objects (imports snownlp)."""
    from snownlp import normal as snow_normal
    from snownlp import seg as snow_seg
    from snownlp import sentiment as snow_sentiment

    model = snow_seg.segger.segger
    if tuple(model.status) != TAGS or not hasattr(model, "tri"):
        raise RuntimeError("unexpected snownlp segmenter; csaudit supports snownlp 0.12.x")
    l1, l2, l3 = model.l1, model.l2, model.l3
    uni, bi, tri = model.uni.d, model.bi.d, model.tri.d
    total = model.uni.total
    tag_ix = {t: i for i, t in enumerate(TAGS)}
    bos = ("", "BOS")

    # char ids: only characters snownlp can feed to the segmenter
    chars = sorted({c for c, _ in uni if len(c) == 1 and CJK_LO <= ord(c) <= CJK_HI})
    char_id = {c: i + 2 for i, c in enumerate(chars)}
    V = len(chars) + 2
    cp2id = np.zeros(CJK_HI - CJK_LO + 1, dtype=np.int32)
    for c, i in char_id.items():
        cp2id[ord(c) - CJK_LO] = i

    def sym(key: tuple[str, str]) -> tuple[int, int] | None:
        if key == bos:
            return BOS, 0
        cid = char_id.get(key[0])
        return None if cid is None else (cid, tag_ix[key[1]])

    counts = np.zeros((V, 4), dtype=np.float64)
    for key, n in uni.items():
        s = sym(key)
        if s is not None:
            counts[s] = n
    uni_term = l1 * (counts / total)

    # bigrams: bi_val = (l2 * count(bigram)) / count(first symbol)
    bkeys, bvals = [], []
    for (a, b), n in bi.items():
        sa, sb = sym(a), sym(b)
        if sa is None or sb is None:
            continue
        den = uni.get(a, 0)
        val = float(l2 * n) / den if den != 0 else 0.0
        bkeys.append((sa[0] * V + sb[0]) * 16 + sa[1] * 4 + sb[1])
        bvals.append(val)
    bi_keys, bi_start, bi_combo, bv = _grouped(bkeys, bvals, 16)

    # trigrams: tri_val = (l3 * count(trigram)) / count(prefix bigram)
    tkeys, tvals = [], []
    for (a, b, c), n in tri.items():
        sa, sb, sc = sym(a), sym(b), sym(c)
        if sa is None or sb is None or sc is None:
            continue
        den = bi.get((a, b), 0)
        val = float(l3 * n) / den if den != 0 else 0.0
        tkeys.append(((sa[0] * V + sb[0]) * V + sc[0]) * 64 + sa[1] * 16 + sb[1] * 4 + sc[1])
        tvals.append(val)
    tri_keys, tri_start, tri_combo, tv = _grouped(tkeys, tvals, 64)
    uni_log, bi_log, tri_log = _log_terms(V, uni_term, bi_keys, bi_start, bi_combo, bv, tri_keys, tri_start, tri_combo, tv)

    # Bayes
    bayes = snow_sentiment.classifier.classifier
    classes = list(bayes.d)
    if sorted(classes) != ["neg", "pos"]:
        raise RuntimeError(f"unexpected snownlp sentiment classes {classes}")
    vocab = sorted(set(bayes.d[classes[0]].d) | set(bayes.d[classes[1]].d))
    word_logp = np.empty((2, len(vocab)), dtype=np.float64)
    unseen = np.empty(2, dtype=np.float64)
    base = np.empty(2, dtype=np.float64)
    for k, cls in enumerate(classes):
        prob = bayes.d[cls]
        d, tot = prob.d, prob.total
        word_logp[k] = [math.log(float(d.get(w, prob.none)) / tot) for w in vocab]
        unseen[k] = math.log(float(prob.none) / tot)
        base[k] = math.log(prob.getsum()) - math.log(bayes.total)

    return SnowTables(
        cp2id=cp2id,
        n_ids=V,
        uni_term=uni_term,
        bi_keys=bi_keys,
        bi_start=bi_start,
        bi_combo=bi_combo,
        bi_val=bv,
        tri_keys=tri_keys,
        tri_start=tri_start,
        tri_combo=tri_combo,
        tri_val=tv,
        uni_log=uni_log,
        bi_log=bi_log,
        tri_log=tri_log,
        word_codes=np.frombuffer("".join(vocab).encode("utf-32-le", "surrogatepass"), dtype=np.uint32).copy(),
        word_lens=np.fromiter(map(len, vocab), dtype=np.int32, count=len(vocab)),
        word_logp=word_logp,
        unseen_logp=unseen,
        base=base,
        pos_class=classes.index("pos"),
        stopwords=np.asarray(sorted(snow_normal.stop), dtype=str),
    )


_ARRAYS = (
    "cp2id", "uni_term", "bi_keys", "bi_start", "bi_combo", "bi_val", "tri_keys", "tri_start", "tri_combo",
    "tri_val", "uni_log", "bi_log", "tri_log", "word_codes", "word_lens", "word_logp", "unseen_logp", "base", "stopwords",
)  # fmt: skip


def _save(tables: SnowTables, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(
                fh,
                n_ids=np.int64(tables.n_ids),
                pos_class=np.int64(tables.pos_class),
                **{name: getattr(tables, name) for name in _ARRAYS},
            )
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _load(path: Path) -> SnowTables:
    with np.load(path, allow_pickle=False) as z:
        arrays = {name: z[name] for name in _ARRAYS}
        return SnowTables(n_ids=int(z["n_ids"]), pos_class=int(z["pos_class"]), **arrays)


@lru_cache(maxsize=1)
def tables() -> SnowTables:
    """The tables for the installed snownlp: from the disk cache, else built (and cached)."""
    path = cache_dir() / f"snownlp-tables-{_fingerprint()}.npz"
    if path.exists():
        try:
            return _freeze(_load(path))
        except Exception as exc:  # corrupt or foreign file: rebuild
            log.warning("ignoring unreadable sentiment cache %s (%s)", path, exc)
    log.info("building snownlp lookup tables (first use; cached in %s)", path.parent)
    t = build_tables()
    try:
        _save(t, path)
    except OSError as exc:
        log.warning("could not cache sentiment tables in %s (%s)", path.parent, exc)
    return _freeze(t)


def _freeze(t: SnowTables) -> SnowTables:
    for name in _ARRAYS:
        getattr(t, name).flags.writeable = False
    return t
