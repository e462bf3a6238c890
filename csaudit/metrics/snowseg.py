"""snownlp's word segmenter, vectorised: many Chinese runs decoded at once with numpy.

Reproduces ``snownlp.seg.single_seg`` (``CharacterBasedGenerativeModel.tag`` + ``Seg.seg``) exactly,
including its quirks:

* the Viterbi keeps one state per (previous tag, current tag); a new state's best predecessor is the
  *first* one (in snownlp's list order, previous-previous tag b, m, e, s) with the strictly largest
  score, so ties and all-``-inf`` candidates go to the earliest one;
* a character the model never saw ("not found") is not scored: every new state (t2, s) simply
  inherits the score and path of the state (t1 = s, t2) — the last one written in snownlp's dict;
* the final state is the first maximum in snownlp's list order (current tag major, previous minor);
* scores are sums ``score + log(uni + bi + tri)`` in snownlp's order, with the same float terms,
  their logarithms taken once with ``math.log`` when the tables are built
  (:mod:`csaudit.metrics.snowmodel`), so decisions are bit-identical on any CPU;
* words are cut before a b/s tag and after an e tag.

Runs are sorted by length and decoded in padded batches (one numpy step per character position for
all runs of a cache-sized chunk); the log-probabilities are computed once per distinct character
trigram of the batch. Big inputs send every other batch to one forked worker (second core).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Sequence

import numpy as np

from csaudit.metrics.snowmodel import BOS, CJK_LO, UNKNOWN, SnowTables, tables

log = logging.getLogger(__name__)

#: padded characters (runs × longest run) per batch; log-probabilities are computed once per
#: distinct trigram of a batch (≈ 600 B per cell at most: 2**15 cells ≈ 20 MB at peak; 2**16 cost
#: 20 MB more for no measurable speed)
BATCH_CELLS = 1 << 15
#: processes decoding batches: 2 uses the second core for big inputs (measured on this 2-core machine:
#: 1.7× faster segmentation when the other core is idle; threads gave nothing, numpy holds the GIL
#: most of the time on these small arrays). ``CSAUDIT_SENTIMENT_WORKERS=1`` turns it off.
WORKERS = max(1, min(2, int(os.environ.get("CSAUDIT_SENTIMENT_WORKERS", os.cpu_count() or 1))))
#: fewer characters than this are decoded in the calling process (forking costs ≈ 20–50 ms)
PARALLEL_MIN_CHARS = 300_000
#: seconds to wait for the forked worker before giving up (then this process does its share)
FORK_TIMEOUT_S = 120
#: runs decoded together by one numpy step per position (keeps the step's arrays in cache)
VITERBI_ROWS = 2048
_TAG_E = 2


def _log_probs(qkeys: np.ndarray, t: SnowTables) -> np.ndarray:
    """``log_prob`` for each distinct char trigram key and all 64 tag triples → float64 [q, 64].

    Column ``t1 * 16 + t2 * 4 + t3``; ``-inf`` where snownlp's ``uni + bi + tri == 0``. Pure look-ups
    of the logarithms the tables hold (taken once with ``math.log``): the same on every CPU.
    """
    V = t.n_ids
    c3 = qkeys % V
    q = len(qkeys)
    # no n-gram stored: log(uni); [q, t2 * 4 + t3] (column t2 * 4 + t3 holds uni_log[t3])
    base = np.tile(t.uni_log[c3], 4)
    rows, ent = _entries(qkeys % (V * V), t.bi_keys, t.bi_start)  # bigram key c2 * V + c3
    if len(rows):
        base[rows, t.bi_combo[ent]] = t.bi_log[ent]
    out = np.empty((q, 4, 16), dtype=np.float64)
    out[:] = base.reshape(q, 1, 16)
    out = out.reshape(q, 64)
    rows, ent = _entries(qkeys, t.tri_keys, t.tri_start)
    if len(rows):
        out[rows, t.tri_combo[ent]] = t.tri_log[ent]
    return out


def _entries(
    keys: np.ndarray, table_keys: np.ndarray, table_start: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Sparse-table lookup: for each of ``keys`` found in the sorted ``table_keys``, its entries
    ``table_start[i]:table_start[i + 1]``. Returns (index into ``keys``, entry) pairs, key by key."""
    nk = len(table_keys)
    if not nk or not len(keys):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    pos = np.minimum(np.searchsorted(table_keys, keys), nk - 1)
    found = np.flatnonzero(table_keys[pos] == keys)
    p = pos[found]
    lo = table_start[p].astype(np.int64)
    cnt = table_start[p + 1] - lo
    ent = np.repeat(lo - (np.cumsum(cnt) - cnt), cnt) + np.arange(int(cnt.sum()))
    return np.repeat(found, cnt), ent


def _tag_batch(ids2d: np.ndarray, lens: np.ndarray, t: SnowTables) -> np.ndarray:
    """Viterbi tags (int8 [n, Lmax]) for padded runs ``ids2d`` sorted by length, longest first."""
    n, lmax = ids2d.shape
    V = t.n_ids
    ext = np.full((n, lmax + 2), BOS, dtype=np.int64)
    ext[:, 2:] = ids2d
    valid = np.arange(lmax)[None, :] < lens[:, None]
    keys = (ext[:, :-2] * V + ext[:, 1:-1]) * V + ext[:, 2:]
    qkeys, inv = np.unique(keys[valid], return_inverse=True)
    qidx = np.zeros((n, lmax), dtype=np.int64)
    qidx[valid] = inv
    lp = _log_probs(qkeys, t)
    nf = ids2d == UNKNOWN
    tags = np.zeros((n, lmax), dtype=np.int8)
    for a in range(0, n, VITERBI_ROWS):  # cache-sized chunks (runs sorted: chunk's longest first)
        b = min(a + VITERBI_ROWS, n)
        w = int(lens[a])
        tags[a:b, :w] = _viterbi(qidx[a:b, :w], nf[a:b, :w], lens[a:b], lp)
    return tags


def _viterbi(qidx: np.ndarray, nf: np.ndarray, lens: np.ndarray, lp: np.ndarray) -> np.ndarray:
    """Decode runs sorted by length (longest first): trigram rows ``qidx`` into ``lp``, unknown
    characters ``nf``. Returns int8 tags [n, Lmax]."""
    n, lmax = qidx.shape
    n_at = np.searchsorted(-lens, -np.arange(lmax + 1), side="left")  # rows with len > i

    final = np.empty((n, 4, 4), dtype=np.float64)  # score of (prev, cur) at each row's last char
    # position 0: states (BOS, s)
    s0 = lp[qidx[:, 0], 0:4].copy()
    s0[nf[:, 0]] = 0.0
    bps: list[np.ndarray | None] = [None, None]
    if lmax >= 2:
        m = n_at[1]
        S = s0[:m, :, None] + lp[qidx[:m, 1], 0:16].reshape(m, 4, 4)  # [t0, s]
        nfr = nf[:m, 1]
        if nfr.any():
            S[nfr] = np.broadcast_to(s0[:m][nfr][:, :, None], (int(nfr.sum()), 4, 4))
        final[n_at[2] : m] = S[n_at[2] :]
        for i in range(2, lmax):
            m = n_at[i]
            S = S[:m]
            cand = np.take(lp, qidx[:m, i], axis=0).reshape(m, 4, 16)  # [t1, t2 * 4 + s]
            cand += np.repeat(S, 4, axis=2)  # S[t1, t2] + lp[t1, t2, s], as snownlp adds them
            c0, c1, c2, c3 = cand[:, 0], cand[:, 1], cand[:, 2], cand[:, 3]
            best = np.maximum(c0, c1)
            np.maximum(best, c2, out=best)
            np.maximum(best, c3, out=best)
            # new (t2, s) = max over t1; the predecessor is the first t1 reaching it, as with
            # snownlp's strict '>' over predecessors in order b, m, e, s: bp = 0, 1, 2 or 3
            bp = (c0 != best).view(np.int8)
            after1 = (c1 != best).view(np.int8)
            after2 = (c2 != best).view(np.int8)
            after2 += 1
            after1 *= after2
            after1 += 1
            bp *= after1
            best = best.reshape(m, 4, 4)
            bp = bp.reshape(m, 4, 4)
            nfr = nf[:m, i]
            if nfr.any():  # unknown character: (t2, s) inherits the state (t1 = s, t2)
                k = int(nfr.sum())
                best[nfr] = np.broadcast_to(S[nfr][:, 3, :, None], (k, 4, 4))
                bp[nfr] = 3
            S = best
            bps.append(bp)
            final[n_at[i + 1] : m] = S[n_at[i + 1] :]

    tags = np.zeros((n, lmax), dtype=np.int8)
    rows = np.arange(n)
    one = lens == 1
    if one.any():
        tags[one, 0] = np.argmax(s0[one], axis=1)
    many = ~one
    if many.any():
        flat = final[many].transpose(0, 2, 1).reshape(-1, 16)  # snownlp order: cur * 4 + prev
        k = np.argmax(flat, axis=1)
        last = lens[many] - 1
        tags[rows[many], last] = k // 4
        tags[rows[many], last - 1] = k % 4
    for i in range(lmax - 1, 1, -1):
        m = n_at[i]
        bp = bps[i]
        tags[:m, i - 2] = bp[np.arange(m), tags[:m, i - 1], tags[:m, i]]
    return tags


def tag_runs(
    ids: np.ndarray, lengths: np.ndarray, t: SnowTables | None = None, workers: int | None = None
) -> np.ndarray:
    """b/m/e/s tags (0–3, int8) for concatenated runs of char ids (``lengths`` ≥ 1 each).

    Batches are independent. With ``workers`` = 2 (default :data:`WORKERS`) and at least
    :data:`PARALLEL_MIN_CHARS` characters, half of the batches are decoded in a forked process
    (the tables are shared copy-on-write); any failure there falls back to this process.
    """
    t = t or tables()
    if len(lengths) == 0:
        return np.zeros(len(ids), dtype=np.int8)
    starts = np.cumsum(lengths) - lengths
    order = np.argsort(-lengths, kind="stable")
    batches = []
    i = 0
    while i < len(order):
        n = max(1, BATCH_CELLS // int(lengths[order[i]]))
        batches.append(order[i : i + n])
        i += n
    if _workers(workers) > 1 and len(ids) >= PARALLEL_MIN_CHARS and len(batches) > 1:
        try:
            return _tag_forked(ids, lengths, starts, batches, t)
        except Exception as exc:  # pragma: no cover - platform without fork, resource limits
            log.warning("parallel segmentation failed (%s); continuing in one process", exc)
    return _tag_batches(ids, lengths, starts, batches, t)


def _workers(workers: int | None = None) -> int:
    """Processes to decode with: ``workers`` (default :data:`WORKERS`), but 1 inside a daemonic
    process such as a pool's worker (the audit's second-core worker), which may not fork."""
    if multiprocessing.current_process().daemon:
        return 1
    return WORKERS if workers is None else workers


def _tag_batches(
    ids: np.ndarray, lengths: np.ndarray, starts: np.ndarray, batches: list[np.ndarray], t: SnowTables
) -> np.ndarray:
    """Tags of the runs in ``batches`` (other positions stay 0)."""
    tags = np.zeros(len(ids), dtype=np.int8)
    for rows in batches:
        lens = lengths[rows]
        lmax = int(lens[0])
        valid = np.arange(lmax)[None, :] < lens[:, None]
        flat = np.repeat(starts[rows] - (np.cumsum(lens) - lens), lens) + np.arange(int(lens.sum()))
        ids2d = np.zeros((len(rows), lmax), dtype=np.int64)
        ids2d[valid] = ids[flat]
        tags[flat] = _tag_batch(ids2d, lens, t)[valid]
    return tags


_FORK_JOB: tuple | None = None  # inherited by the forked worker (no pickling of the inputs)


def _forked_job() -> np.ndarray:
    assert _FORK_JOB is not None
    return _tag_batches(*_FORK_JOB)


def _tag_forked(
    ids: np.ndarray, lengths: np.ndarray, starts: np.ndarray, batches: list[np.ndarray], t: SnowTables
) -> np.ndarray:
    """Decode every other batch in a forked process, the rest here; combine (each position is
    tagged by exactly one side, the other side leaves 0)."""
    global _FORK_JOB
    ctx = multiprocessing.get_context("fork")
    _FORK_JOB = (ids, lengths, starts, batches[1::2], t)
    try:
        with ctx.Pool(1) as pool:
            child = pool.apply_async(_forked_job)
            mine = _tag_batches(ids, lengths, starts, batches[0::2], t)
            theirs = child.get(timeout=FORK_TIMEOUT_S)
    finally:
        _FORK_JOB = None
    mine += theirs
    return mine


def segment_runs(runs: Sequence[str], t: SnowTables | None = None) -> tuple[list[str], np.ndarray]:
    """Segment Chinese runs (each non-empty, all characters in U+4E00–U+9FA5) like snownlp.

    Returns the words of all runs in order and the number of words of each run.
    """
    t = t or tables()
    if len(runs) == 0:
        return [], np.zeros(0, dtype=np.int64)
    joined = "".join(runs)
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    ids = t.cp2id[codes.astype(np.int64) - CJK_LO]
    lengths = np.fromiter(map(len, runs), dtype=np.int64, count=len(runs))
    starts = np.cumsum(lengths) - lengths
    tags = tag_runs(ids, lengths, t)
    cut = np.zeros(len(codes), dtype=bool)  # a word starts at this character
    cut[1:] = (tags[:-1] == _TAG_E) | (tags[1:] == 0) | (tags[1:] == 3)
    cut[starts] = True
    n_words = np.add.reduceat(cut.astype(np.int64), starts)
    spaced = np.insert(codes, np.flatnonzero(cut[1:]) + 1, np.uint32(32))
    words = spaced.tobytes().decode("utf-32-le").split(" ")
    return words, n_words
