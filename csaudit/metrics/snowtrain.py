"""A shop's own sentiment model: snownlp-compatible naive Bayes tables trained on its labelled texts.

``csaudit train-sentiment --pos POS.txt --neg NEG.txt -o DIR`` (:func:`train_files`) trains exactly as
``snownlp.sentiment.train(NEG, POS)`` does — snownlp's own ``Sentiment().train``: each line of the
files (read like snownlp reads them, ``codecs`` UTF-8 lines) segmented by snownlp's segmenter, stop
words dropped, add-one word counts per class — and saves the model in snownlp's own format,
``DIR/sentiment.marshal.3`` (so ``snownlp.sentiment.load("DIR/sentiment.marshal")`` reads it too), with
``DIR/model.json`` (what it was trained on). Texts are used as written: snownlp does not convert
Traditional characters when it trains.

``[sentiment] model = "DIR"`` makes the audit score with it: :func:`tables` gives the fast path's
lookup tables with the Bayes part taken from ``DIR`` (segmenter and stop words stay snownlp's), so
:func:`csaudit.metrics.sentiment.score` returns what ``Sentiment.classify`` of the model trained on
the same files returns (after the usual Traditional → Simplified conversion of the scored text).
"""

from __future__ import annotations

import codecs
import datetime as dt
import gzip
import json
import logging
import marshal
import math
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from csaudit.metrics.snowmodel import SnowTables
from csaudit.metrics.snowmodel import tables as default_tables

log = logging.getLogger(__name__)

BAYES_FILE = "sentiment.marshal.3"
"""snownlp's file name for a Python 3 ``Bayes.save("…/sentiment.marshal")``."""


def read_lines(path: str | Path) -> list[str]:
    """The lines of a UTF-8 text file as ``snownlp.sentiment.train`` reads them (``codecs`` readlines)."""
    try:
        with codecs.open(str(path), "r", "utf-8") as fh:
            return fh.readlines()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: training file not found") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def train(neg_docs: list[str], pos_docs: list[str], out: str | Path) -> Path:
    """Train on the given texts with snownlp's own ``Sentiment.train`` and save to folder ``out``."""
    from snownlp.sentiment import Sentiment

    if not neg_docs or not pos_docs:
        raise ValueError("train-sentiment: needs at least one positive and one negative text")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    s = Sentiment()
    s.train(neg_docs, pos_docs)
    s.save(str(out / BAYES_FILE.removesuffix(".3")))  # snownlp appends ".3" under Python 3
    import importlib.metadata

    meta = {"format": "snownlp-bayes", "file": BAYES_FILE, "n_pos": len(pos_docs), "n_neg": len(neg_docs),
            "snownlp": importlib.metadata.version("snownlp"), "date": dt.date.today().isoformat()}
    (out / "model.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    log.info("sentiment model: %d positive, %d negative texts → %s", len(pos_docs), len(neg_docs), out)
    return out


def train_files(pos: str | Path, neg: str | Path, out: str | Path) -> Path:
    """:func:`train` on two UTF-8 text files, one text per line."""
    return train(read_lines(neg), read_lines(pos), out)


def load_bayes(model_dir: str | Path) -> dict[str, Any]:
    """The saved Bayes model of ``model_dir`` as snownlp's ``Bayes.load`` reads it (gzip, else plain
    marshal): ``{"total": …, "d": {class: {"d": counts, "total": …, "none": 1}}}``."""
    path = Path(model_dir) / BAYES_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path}: no sentiment model here (train one with `csaudit train-sentiment`)")
    raw = path.read_bytes()
    try:
        data = marshal.loads(gzip.decompress(raw))
    except OSError:
        data = marshal.loads(raw)
    if not isinstance(data, dict) or sorted(data.get("d", {})) != ["neg", "pos"]:
        raise ValueError(f"{path}: expected a snownlp sentiment model with classes neg and pos")
    return data


def bayes_arrays(data: dict[str, Any]) -> dict[str, Any]:
    """The Bayes fields of :class:`~csaudit.metrics.snowmodel.SnowTables` from a loaded model — the
    same operations as ``snowmodel.build_tables`` on snownlp's own model (``log(count / total)``
    per word and class, ``log(none / total)`` unseen, ``log(getsum) − log(total)``)."""
    classes = list(data["d"])
    probs = [data["d"][c] for c in classes]
    vocab = sorted(set(probs[0]["d"]) | set(probs[1]["d"]))
    word_logp = np.empty((2, len(vocab)), dtype=np.float64)
    unseen = np.empty(2, dtype=np.float64)
    base = np.empty(2, dtype=np.float64)
    for k, p in enumerate(probs):
        d, tot, none = p["d"], p["total"], p["none"]
        word_logp[k] = [math.log(float(d.get(w, none)) / tot) for w in vocab]
        unseen[k] = math.log(float(none) / tot)
        base[k] = math.log(tot) - math.log(data["total"])
    return {
        "word_codes": np.frombuffer("".join(vocab).encode("utf-32-le", "surrogatepass"), dtype=np.uint32).copy(),
        "word_lens": np.fromiter(map(len, vocab), dtype=np.int32, count=len(vocab)),
        "word_logp": word_logp, "unseen_logp": unseen, "base": base, "pos_class": classes.index("pos"),
    }


def tables(model_dir: str | Path | None = None) -> SnowTables:
    """The fast path's tables: snownlp's own (``None`` / ``""``) or with the Bayes part of ``model_dir``."""
    if not model_dir:
        return default_tables()
    path = Path(model_dir).resolve()
    f = path / BAYES_FILE
    stamp = f.stat().st_mtime_ns if f.exists() else 0
    return _custom(str(path), stamp)


@lru_cache(maxsize=4)
def _custom(model_dir: str, stamp: int) -> SnowTables:
    arrays = bayes_arrays(load_bayes(model_dir))
    t = replace(default_tables(), **arrays)
    for name in ("word_codes", "word_lens", "word_logp", "unseen_logp", "base"):
        getattr(t, name).flags.writeable = False
    return t
