"""Predicted customer satisfaction ``csat`` (0–100) per conversation (DESIGN §5, issue 10).

A small, explainable model over the audit's own figures, shipped as data
(``csaudit/models/csat.json``; a shop refits it on its own ratings with ``csaudit calibrate``):

1. **Features** per conversation (:func:`features`, every definition in the model file's
   ``features`` list, so a refitted file carries its own definitions):

   ``sentiment_weighted``
       weighted mean of the customer messages' snownlp scores, the last message weighing 1, the one
       before ``decay``, then ``decay²`` … (how the customer sounds, mostly near the end);
   ``sentiment_last`` / ``sentiment_min``
       score of the customer's last scored message / the lowest score of any customer message;
   ``hits``
       number of HITS rows of the given ``side`` whose ``category`` is in ``categories`` (read from
       the HITS table by name, so improved rules feed in unchanged); with ``last_n`` only hits in
       the side's last ``last_n`` messages of the conversation count (the end of the conversation);
   ``unanswered_rounds`` / ``slow_rounds``
       首问首答 rounds without a valid reply / answered after more than ``latency.slow_s``;
   ``customer_last``
       1 when the last customer-or-agent message is the customer's (the customer had the last word);
   ``n_customer`` / ``n_agent`` / ``n_turns`` / ``customer_chars``
       customer messages, agent messages, speaker turns, characters the customer wrote.

   Conversations without any scored customer message take the training median of the sentiment
   features.

2. **Transform**: each feature is replaced by its rank in the training data, as a fraction 0–1
   (``q``; the model file holds the table of distinct training values and their mid-rank
   fractions, interpolated linearly in between): robust to outliers, and every coefficient reads
   the same way.

3. **Score**: ``csat = clip(intercept + Σ coef × q, 0, 100)`` — a coefficient is the points a
   conversation gains (or loses, when negative) moving from the bottom to the top of that feature,
   the others fixed. Fitted by least squares with a small ridge penalty (:func:`fit`) on a
   satisfaction label scaled to 0–100 (STC-3's mean S: ``(S + 2) × 25``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from csaudit.arrays import factorize_runs, lookup

if TYPE_CHECKING:  # pragma: no cover
    from csaudit.config import Config

log = logging.getLogger(__name__)

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "models" / "csat.json"
FORMAT = "csaudit-csat/1"

#: the feature set fitted by default (the shipped file carries its own copy)
DEFAULT_FEATURES: list[dict[str, Any]] = [
    {"name": "sentiment_weighted", "kind": "sentiment_weighted", "decay": 0.5, "sign": 1},
    {"name": "sentiment_last", "kind": "sentiment_last", "sign": 1},
    {"name": "sentiment_min", "kind": "sentiment_min", "sign": 1},
    {"name": "escalation_hits", "kind": "hits", "side": "customer", "categories": ["escalation"], "sign": -1},
    {"name": "repeated_hits", "kind": "hits", "side": "customer", "categories": ["repeated"], "sign": -1},
    {"name": "dissatisfied_hits", "kind": "hits", "side": "customer", "categories": ["dissatisfied"], "sign": -1},
    {"name": "dissatisfied_end", "kind": "hits", "side": "customer", "categories": ["dissatisfied", "escalation"],
     "last_n": 2, "sign": -1},
    {"name": "satisfied_end", "kind": "hits", "side": "customer", "categories": ["satisfied"], "last_n": 2, "sign": 1},
    {"name": "refusal_hits", "kind": "hits", "side": "agent",
     "categories": ["refusal", "bare_refusal", "bargain_refusal"], "sign": -1},
    {"name": "deflection_hits", "kind": "hits", "side": "agent", "categories": ["deflection"], "sign": -1},
    {"name": "apology_hits", "kind": "hits", "side": "agent", "categories": ["apology"]},
    {"name": "unanswered_rounds", "kind": "unanswered_rounds", "sign": -1},
    {"name": "slow_rounds", "kind": "slow_rounds", "sign": -1},
    {"name": "customer_last", "kind": "customer_last"},
    {"name": "n_customer", "kind": "n_customer"},
    {"name": "n_agent", "kind": "n_agent"},
    {"name": "n_turns", "kind": "n_turns"},
    {"name": "customer_chars", "kind": "customer_chars"},
]
"""``sign`` (optional): the direction a lead expects (+1 helps, −1 hurts); :func:`fit` never gives the
feature a coefficient of the other sign (it is set to 0 instead), so every weight reads the way a
lead would explain it."""

KINDS = (
    "sentiment_weighted", "sentiment_last", "sentiment_min", "hits", "unanswered_rounds", "slow_rounds",
    "customer_last", "n_customer", "n_agent", "n_turns", "customer_chars",
)  # fmt: skip
_SENTIMENT_KINDS = ("sentiment_weighted", "sentiment_last", "sentiment_min")
#: at most this many points in a feature's rank table (distinct values beyond it are sampled)
TABLE_POINTS = 101


# --------------------------------------------------------------------------------------------
# features


def features(
    messages: pd.DataFrame,
    rounds: pd.DataFrame,
    hits: pd.DataFrame,
    config: Config | None = None,
    spec: list[dict[str, Any]] | None = None,
) -> pd.DataFrame:
    """The raw (untransformed) features of every conversation of ``messages``: one row per
    ``conversation_id`` (index, order of first appearance), one float64 column per feature of
    ``spec`` (default :data:`DEFAULT_FEATURES`; definitions in the module docstring).

    ``messages`` is MESSAGES in time order inside each conversation (what :func:`csaudit.audit`
    holds; conversations that are not contiguous are grouped, keeping that order); its ``sentiment``
    column is used when present, computed otherwise. Sentiment features are
    NaN for a conversation without a scored customer message."""
    from csaudit.config import Config

    config = config or Config()
    spec = spec or DEFAULT_FEATURES
    codes, uniq = factorize_runs(messages["conversation_id"])
    if len(codes) > 1 and (np.diff(codes) < 0).any():  # conversations not contiguous: group them, stably
        order = np.argsort(codes, kind="stable")
        messages, codes = messages.take(order), codes[order]
    n = len(uniq)
    role = messages["role"]
    is_c = (role == "customer").to_numpy(dtype=bool)
    is_a = (role == "agent").to_numpy(dtype=bool)
    speech = is_c | is_a
    if "sentiment" in messages:
        sent = pd.to_numeric(messages["sentiment"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    else:
        from csaudit.metrics.sentiment import message_sentiment

        sent = message_sentiment(messages).to_numpy(dtype="float64")
    sent = np.where(is_c, sent, np.nan)
    scored = ~np.isnan(sent)
    from_end = _from_end(codes, scored)  # rank of each scored customer message from the end (0 = last)
    side_end = {"customer": _from_end(codes, is_c), "agent": _from_end(codes, is_a)}

    hit_counts = _HitCounter(hits, messages, codes, uniq, spec, side_end)
    round_conv: np.ndarray | None = None
    out: dict[str, np.ndarray] = {}
    for f in spec:
        kind, name = f.get("kind"), f.get("name")
        if kind not in KINDS:
            raise ValueError(f"satisfaction feature {name!r}: unknown kind {kind!r}; expected one of {KINDS}")
        if kind == "sentiment_weighted":
            decay = float(f.get("decay", 0.5))
            w = np.where(scored, decay ** np.where(scored, from_end, 0).astype("float64"), 0.0)
            num = np.bincount(codes, weights=np.where(scored, w * np.nan_to_num(sent), 0.0), minlength=n)
            den = np.bincount(codes, weights=w, minlength=n)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[name] = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
        elif kind == "sentiment_last":
            v = np.full(n, np.nan)
            last = scored & (from_end == 0)
            v[codes[last]] = sent[last]
            out[name] = v
        elif kind == "sentiment_min":
            v = np.full(n, np.inf)
            np.minimum.at(v, codes[scored], sent[scored])
            out[name] = np.where(np.isinf(v), np.nan, v)
        elif kind == "hits":
            out[name] = hit_counts(f)
        elif kind in ("unanswered_rounds", "slow_rounds"):
            if round_conv is None:
                round_conv = lookup(pd.Series(uniq), rounds["conversation_id"])
            rc = round_conv
            if kind == "unanswered_rounds":
                flag = ~rounds["answered"].astype(bool).to_numpy()
            else:
                t = pd.to_numeric(rounds["response_s"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
                flag = rounds["answered"].astype(bool).to_numpy() & (t > float(config.latency.slow_s))
            ok = (rc >= 0) & flag
            out[name] = np.bincount(rc[ok], minlength=n).astype("float64")
        elif kind == "customer_last":
            pos = np.flatnonzero(speech)
            v = np.zeros(n)
            if len(pos):
                c = codes[pos]
                last = np.r_[c[1:] != c[:-1], True]
                v[c[last]] = is_c[pos[last]].astype("float64")
            out[name] = v
        elif kind == "n_customer":
            out[name] = np.bincount(codes[is_c], minlength=n).astype("float64")
        elif kind == "n_agent":
            out[name] = np.bincount(codes[is_a], minlength=n).astype("float64")
        elif kind == "n_turns":
            pos = np.flatnonzero(speech)
            c, r = codes[pos], is_c[pos]
            new = np.r_[True, (c[1:] != c[:-1]) | (r[1:] != r[:-1])] if len(pos) else np.zeros(0, bool)
            out[name] = np.bincount(c[new], minlength=n).astype("float64")
        elif kind == "customer_chars":
            length = messages["text"].str.len().to_numpy(dtype="float64", na_value=0.0)
            out[name] = np.bincount(codes[is_c], weights=length[is_c], minlength=n)
    return pd.DataFrame(out, index=pd.Index(uniq, name="conversation_id", dtype="str"))


def _from_end(codes: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """For rows in ``mask``: how many ``mask`` rows of the same group come after it (0 = the last);
    −1 elsewhere. ``codes`` groups are contiguous."""
    out = np.full(len(codes), -1, dtype=np.int64)
    pos = np.flatnonzero(mask)
    if len(pos):
        c = codes[pos]
        counts = np.bincount(c)
        seen = np.arange(len(pos)) - (np.cumsum(counts) - counts)[c]  # index within group (0 = first)
        out[pos] = counts[c] - 1 - seen
    return out


class _HitCounter:
    """Counts of HITS rows per conversation for ``hits`` features. The hits table is touched once:
    its side and category factorised, the conversation (and, for ``last_n`` features, the message
    row) looked up only for the rows some feature can count — never a copy of the whole table."""

    def __init__(self, hits: pd.DataFrame, messages: pd.DataFrame, codes: np.ndarray, uniq: pd.Index,
                 spec: list[dict[str, Any]], side_end: dict[str, np.ndarray]) -> None:
        self.n = len(uniq)
        self.side_end = side_end
        hit_specs = [f for f in spec if f.get("kind") == "hits"]
        cats = sorted({str(c) for f in hit_specs for c in f.get("categories", [])})
        cat_codes, cat_uniq = pd.factorize(hits["category"])
        side_codes, side_uniq = pd.factorize(hits["side"])
        self.cat_ix = {str(c): i for i, c in enumerate(cat_uniq)}
        self.side_ix = {str(c): i for i, c in enumerate(side_uniq)}
        wanted = np.isin(cat_codes, [self.cat_ix[c] for c in cats if c in self.cat_ix])
        self.rows = np.flatnonzero(wanted)  # the hits any feature may count
        self.cat = cat_codes[self.rows]
        self.side = side_codes[self.rows]
        self.msg_row: np.ndarray | None = None
        if any(f.get("last_n") is not None for f in hit_specs) and len(self.rows):
            # one lookup gives the message row, and through it the conversation
            self.msg_row = lookup(messages["message_id"], hits["message_id"].take(self.rows))
            self.conv = np.where(self.msg_row >= 0, codes[np.maximum(self.msg_row, 0)], -1)
            lost = np.flatnonzero(self.msg_row < 0)  # hits without a message (QC findings)
            if len(lost):
                self.conv[lost] = lookup(pd.Series(uniq), hits["conversation_id"].take(self.rows[lost]))
        elif len(self.rows):
            self.conv = lookup(pd.Series(uniq), hits["conversation_id"].take(self.rows))
        else:
            self.conv = np.zeros(0, dtype=np.int64)

    def __call__(self, f: dict[str, Any]) -> np.ndarray:
        side = str(f.get("side", "agent"))
        codes = [self.cat_ix[str(c)] for c in f.get("categories", []) if str(c) in self.cat_ix]
        if side not in self.side_ix or not codes or not len(self.rows):
            return np.zeros(self.n)
        ok = (self.side == self.side_ix[side]) & np.isin(self.cat, codes) & (self.conv >= 0)
        last_n = f.get("last_n")
        if last_n is not None and self.msg_row is not None:
            fe_all = self.side_end.get(side, self.side_end["agent"])
            fe = np.where(self.msg_row >= 0, fe_all[np.maximum(self.msg_row, 0)], -1)
            ok &= (fe >= 0) & (fe < int(last_n))
        return np.bincount(self.conv[ok], minlength=self.n).astype("float64")


# --------------------------------------------------------------------------------------------
# the model file


def load_model(path: str | Path | None = None) -> dict[str, Any]:
    """The model file at ``path`` (default: the shipped :data:`DEFAULT_MODEL`), checked."""
    path = Path(path) if path else DEFAULT_MODEL
    try:
        model = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: satisfaction model file not found") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not a satisfaction model (invalid JSON: {exc})") from None
    _check_model(model, str(path))
    return model


def _check_model(model: dict[str, Any], where: str) -> None:
    if model.get("format") != FORMAT:
        raise ValueError(f"{where}: expected format {FORMAT!r}, found {model.get('format')!r}")
    names = [f.get("name") for f in model.get("features", [])]
    for key in ("coef", "tables", "fill"):
        missing = sorted(set(names) - set(model.get(key, {})))
        if missing:
            raise ValueError(f"{where}: {key} lacks feature(s) {missing}")
    if "intercept" not in model:
        raise ValueError(f"{where}: no intercept")


def save_model(model: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _check_model(model, str(path))
    path.write_text(json.dumps(model, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path


def _rank_table(x: np.ndarray) -> dict[str, list[float]]:
    """Distinct training values and their mid-rank fractions (ties share the middle of their run)."""
    x = np.sort(x[~np.isnan(x)])
    if len(x) == 0:
        return {"x": [0.0], "q": [0.5]}
    vals, first = np.unique(x, return_index=True)
    counts = np.diff(np.r_[first, len(x)])
    q = (first + counts / 2.0) / len(x)
    if len(vals) > TABLE_POINTS:
        keep = np.unique(np.r_[0, np.linspace(0, len(vals) - 1, TABLE_POINTS).round().astype(int), len(vals) - 1])
        vals, q = vals[keep], q[keep]
    return {"x": [float(v) for v in vals], "q": [round(float(v), 6) for v in q]}


def transform(feats: pd.DataFrame, model: dict[str, Any]) -> pd.DataFrame:
    """Each feature as its training rank fraction 0–1 (missing → the training median ``fill``)."""
    out = {}
    for f in model["features"]:
        name = f["name"]
        x = feats[name].to_numpy(dtype="float64") if name in feats else np.full(len(feats), np.nan)
        x = np.where(np.isnan(x), float(model["fill"][name]), x)
        t = model["tables"][name]
        out[name] = np.interp(x, np.asarray(t["x"], dtype="float64"), np.asarray(t["q"], dtype="float64"))
    return pd.DataFrame(out, index=feats.index)


def predict(feats: pd.DataFrame, model: dict[str, Any]) -> pd.Series:
    """``csat`` (0–100) of each row of raw ``feats`` (:func:`features`) with ``model``."""
    q = transform(feats, model)
    coef = np.array([float(model["coef"][f["name"]]) for f in model["features"]])
    z = float(model["intercept"]) + q.to_numpy() @ coef if len(coef) else np.full(len(q), float(model["intercept"]))
    return pd.Series(np.clip(z, 0.0, 100.0), index=feats.index, name="csat")


def fit(
    feats: pd.DataFrame,
    target: pd.Series | np.ndarray,
    spec: list[dict[str, Any]] | None = None,
    ridge: float = 1.0,
) -> dict[str, Any]:
    """Fit the model: rank tables from ``feats`` (raw features, :func:`features`), then least squares
    of ``target`` (satisfaction on a 0–100 scale, NaN rows skipped) on the rank fractions plus an
    intercept, with ridge penalty ``ridge`` × 1e-3 × n on the coefficients (not the intercept; it only
    settles collinear features). A feature with a ``sign`` whose coefficient comes out the other way
    is left out (coefficient 0) and the rest refitted, until every sign holds. Returns the model dict
    (format :data:`FORMAT`) without provenance."""
    spec = [dict(f) for f in (spec or DEFAULT_FEATURES)]
    y = np.asarray(target, dtype="float64")
    ok = ~np.isnan(y)
    feats, y = feats.loc[ok], y[ok]
    tables, fill = {}, {}
    for f in spec:
        x = feats[f["name"]].to_numpy(dtype="float64")
        tables[f["name"]] = _rank_table(x)
        med = np.nanmedian(x) if (~np.isnan(x)).any() else 0.0
        fill[f["name"]] = float(med)
    model: dict[str, Any] = {"format": FORMAT, "features": spec, "tables": tables, "fill": fill,
                             "intercept": 0.0, "coef": {f["name"]: 0.0 for f in spec}}
    Q = transform(feats, model).to_numpy()
    n, k = Q.shape
    if n == 0:
        raise ValueError("satisfaction.fit: no labelled conversation to fit on")
    mu_q, mu_y = Q.mean(axis=0), y.mean()
    Qc = Q - mu_q
    sign = np.array([float(f.get("sign", 0)) for f in spec])
    active = np.ones(k, dtype=bool)
    b = np.zeros(k)
    for _ in range(k + 1):  # drop the features whose coefficient has the wrong sign, refit, repeat
        b = np.zeros(k)
        a = np.flatnonzero(active)
        if len(a):
            A = Qc[:, a].T @ Qc[:, a] + ridge * 1e-3 * n * np.eye(len(a))
            b[a] = np.linalg.solve(A, Qc[:, a].T @ (y - mu_y))
        wrong = active & (sign * b < 0)
        if not wrong.any():
            break
        active &= ~wrong
    model["intercept"] = round(float(mu_y - mu_q @ b), 6)
    model["coef"] = {f["name"]: round(float(c), 6) for f, c in zip(spec, b, strict=True)}
    return model


def conversation_csat(
    messages: pd.DataFrame, rounds: pd.DataFrame, hits: pd.DataFrame, config: Config | None = None,
    model: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """``conversation_id, csat`` for every conversation, with ``model`` (default: the file named by
    ``score.csat_model``, else the shipped one)."""
    from csaudit.config import Config

    config = config or Config()
    if model is None:
        model = load_model(model_path(config))
    feats = features(messages, rounds, hits, config, spec=model["features"])
    return predict(feats, model).rename_axis("conversation_id").reset_index()


def model_path(config: Config) -> Path | None:
    """``score.csat_model`` resolved against ``config.base_dir`` (None = the shipped model)."""
    p = str(getattr(config.score, "csat_model", "") or "")
    if not p:
        return None
    path = Path(p)
    return path if path.is_absolute() else Path(config.base_dir) / path


def explain(model: dict[str, Any]) -> pd.DataFrame:
    """The model as a table a lead can read: ``feature, kind, points`` (points from the bottom to the
    top of that feature's range), sorted by absolute weight."""
    rows = [(f["name"], f["kind"], float(model["coef"][f["name"]])) for f in model["features"]]
    df = pd.DataFrame(rows, columns=["feature", "kind", "points"])
    return df.reindex(df["points"].abs().sort_values(ascending=False).index).reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# a fixed synthetic check set: the model file stores the csat it gives them (``provenance.check``)

#: (conversation_id, role, text) of a few short conversations written for the check (no real chat)
CHECK_CONVERSATIONS: tuple[tuple[str, str, str], ...] = (
    ("happy", "customer", "你好，我想问一下这个快递什么时候到"),
    ("happy", "agent", "您好，已经帮您查询了，明天上午送达"),
    ("happy", "customer", "好的，太好了，谢谢你"),
    ("angry", "customer", "我的退款申请了一周了怎么还没到账"),
    ("angry", "agent", "不好意思，这个我们没办法处理"),
    ("angry", "customer", "什么态度，我要投诉你们，给差评"),
    ("plain", "customer", "这个有红色的吗"),
    ("plain", "agent", "有的亲"),
    ("unanswered", "customer", "在吗"),
    ("unanswered", "customer", "怎么没人回复"),
)


def check_messages() -> pd.DataFrame:
    """:data:`CHECK_CONVERSATIONS` as a MESSAGES table (shop ``检查店``, no timestamps)."""
    from csaudit.model import schema

    rows = list(CHECK_CONVERSATIONS)
    agent = "检查店:小助"
    df = pd.DataFrame(
        {
            "message_id": [f"check:{i}" for i in range(len(rows))],
            "conversation_id": [r[0] for r in rows],
            "shop": "检查店",
            "customer": [f"buyer_{r[0]}" for r in rows],
            "sender": [agent if r[1] == "agent" else f"buyer_{r[0]}" for r in rows],
            "agent": pd.Series([agent if r[1] == "agent" else None for r in rows], dtype="str"),
            "role": [r[1] for r in rows],
            "ts": pd.NaT,
            "text": [r[2] for r in rows],
            "source": "check",
            "line": range(1, len(rows) + 1),
        }
    )
    return schema.conform(df, "messages")


def check_features(model: dict[str, Any]) -> pd.DataFrame:
    """A fixed synthetic feature table for ``model``'s features: row ``low`` has every feature at 0,
    ``mid`` at 1, ``high`` at 3, ``mixed`` alternates 0.2 and 5 (sentiment features use them / 5)."""
    rows = {"low": lambda i: 0.0, "mid": lambda i: 1.0, "high": lambda i: 3.0,
            "mixed": lambda i: 0.2 if i % 2 else 5.0}
    out = {}
    for key, val in rows.items():
        out[key] = {f["name"]: val(i) / (5.0 if f["kind"] in _SENTIMENT_KINDS else 1.0)
                    for i, f in enumerate(model["features"])}
    return pd.DataFrame.from_dict(out, orient="index")


def check_predictions(model: dict[str, Any]) -> dict[str, float]:
    """``{row: csat}`` of :func:`check_features` — what ``provenance.check`` records, so a loaded file
    can be shown to give the figures it was shipped with."""
    return {str(k): round(float(v), 6) for k, v in predict(check_features(model), model).items()}


def check_figures(model: dict[str, Any] | None = None) -> dict[str, float]:
    """``{conversation_id: csat}`` of :func:`check_messages` audited under the default Config, with
    ``model`` (default: the shipped one)."""
    import csaudit as ca

    result = ca.audit(check_messages())
    if model is None:
        csat = result.conversations.set_index("conversation_id")["csat"]
    else:
        csat = conversation_csat(result.messages, result.rounds, result.hits, result.config, model=model)
        csat = csat.set_index("conversation_id")["csat"]
    return {str(k): round(float(v), 6) for k, v in csat.items()}
