"""STC-3 DCH (real Weibo helpdesk dialogues rated by 19 people): how well the audit's figures track
customer satisfaction (DESIGN §10).

Only dialogues whose id ends in an EVEN digit are read (filtered the moment the file is loaded); odd
ids are the held-out test of record and are never looked at. Target = mean of the 19 annotators' S
(satisfaction, −2 … 2). Every figure is a Spearman ρ over the even-id dialogues.

    .venv/bin/python benchmarks/real_stc3.py /path/to/train_data_cn.json
    .venv/bin/python benchmarks/real_stc3.py PATH --fit            # refit csaudit/models/csat.json (5-fold CV)

``report(path) -> str`` is what ``benchmarks/real_chats.py --stc3 PATH`` prints.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

log = logging.getLogger("real_stc3")

SHOP = "Weibo"
AGENT = f"{SHOP}:客服"
#: folds of the cross-validation (dialogues assigned to folds by a fixed permutation of their ids)
FOLDS = 5
SEED = 10


def load_even(path: str | Path) -> tuple[pd.DataFrame, pd.Series]:
    """``(messages, target)``: the even-id dialogues of an STC-3 DCH file as a MESSAGES table (one
    message per utterance, no timestamps) and the mean annotator S per ``conversation_id``."""
    from csaudit.model import schema

    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    raw = [d for d in raw if str(d["id"])[-1:] in "02468"]  # held-out odd ids dropped before anything else
    rows: list[tuple[str, str, str, int]] = []
    target: dict[str, float] = {}
    for d in raw:
        cid = str(d["id"])
        target[cid] = float(np.mean([a["quality"]["S"] for a in d["annotations"]]))
        for turn in d["turns"]:
            for u in turn["utterances"]:
                rows.append((cid, str(turn["sender"]), str(u), len(rows) + 1))
    df = pd.DataFrame(rows, columns=["conversation_id", "sender_kind", "text", "line"])
    agent_side = df["sender_kind"].eq("helpdesk").to_numpy()
    cust = "u" + df["conversation_id"]
    messages = pd.DataFrame(
        {
            "message_id": "stc3:" + df["line"].astype("str"),
            "conversation_id": df["conversation_id"],
            "shop": SHOP,
            "customer": cust,
            "sender": np.where(agent_side, AGENT, cust),
            "agent": pd.Series(np.where(agent_side, AGENT, None), dtype="str"),
            "role": np.where(agent_side, "agent", "customer"),
            "ts": pd.NaT,
            "text": df["text"],
            "source": "stc3",
            "line": df["line"].astype("int64"),
        }
    )
    messages = schema.conform(messages, "messages")
    return messages, pd.Series(target, name="S").rename_axis("conversation_id")


def to_100(s: pd.Series) -> pd.Series:
    """Mean S (−2 … 2) on the 0–100 scale of ``csat``."""
    return (s + 2.0) * 25.0


def spearman(a: pd.Series | np.ndarray, b: pd.Series | np.ndarray) -> float:
    """Spearman ρ over the pairs where both are known (NaN when fewer than 3)."""
    x = pd.Series(np.asarray(a, dtype="float64"))
    y = pd.Series(np.asarray(b, dtype="float64"))
    ok = x.notna() & y.notna()
    if ok.sum() < 3:
        return float("nan")
    return float(x[ok].rank().corr(y[ok].rank()))


def run_audit(messages: pd.DataFrame):  # -> Audit
    import csaudit as ca

    return ca.audit(messages)


def figures(result, target: pd.Series) -> list[tuple[str, float, int]]:
    """``(name, ρ with mean S, n)`` of every conversation figure of interest."""
    conv = result.conversations.set_index("conversation_id")
    y = target.reindex(conv.index)
    last = _last_customer_sentiment(result.messages).reindex(conv.index)
    cols = ["csat", "qa_score", *[c for c in conv.columns if c.startswith("score_")], "sentiment_end",
            "sentiment_drift", "greeting_ok", "closing_ok", "apology_needed", "apology_ok", "critical", "n_hits"]
    out = []
    for c in cols:
        if c in conv:
            v = pd.to_numeric(conv[c].astype("float64"), errors="coerce")
            out.append((c, spearman(v, y), int((v.notna() & y.notna()).sum())))
    out.append(("last_message_sentiment", spearman(last, y), int(last.notna().sum())))
    return out


def _last_customer_sentiment(messages: pd.DataFrame) -> pd.Series:
    cust = messages.loc[(messages["role"] == "customer").to_numpy() & messages["sentiment"].notna().to_numpy()]
    return cust.groupby("conversation_id", sort=False)["sentiment"].last()


def cross_validate(
    result, target: pd.Series, folds: int = FOLDS, seed: int = SEED
) -> tuple[dict[str, object], pd.Series]:
    """5-fold CV of the satisfaction model: fit on 4/5 of the dialogues, predict the fifth; ρ of the
    pooled out-of-fold predictions with mean S, the ρ of each fold; and the out-of-fold predictions."""
    from csaudit.metrics import satisfaction

    feats = satisfaction.features(result.messages, result.rounds, result.hits, result.config)
    ids = feats.index.intersection(target.index)
    feats, y = feats.loc[ids], target.loc[ids]
    fold = _folds(ids, folds, seed)
    pred = pd.Series(np.nan, index=ids)
    per_fold = []
    for k in range(folds):
        train = fold != k
        model = satisfaction.fit(feats.loc[train], to_100(y.loc[train]))
        p = satisfaction.predict(feats.loc[~train], model)
        pred.loc[~train] = p.to_numpy()
        per_fold.append(round(spearman(p, y.loc[~train]), 4))
    cv = {"folds": folds, "seed": seed, "rho_pooled": round(spearman(pred, y), 4), "rho_per_fold": per_fold,
          "rho_mean": round(float(np.mean(per_fold)), 4), "n": int(len(ids))}
    return cv, pred


def qa_with(result, csat: pd.Series) -> pd.Series:
    """``qa_score`` of every conversation recomputed with ``csat`` (e.g. out-of-fold predictions)."""
    from csaudit.score import conversation_scores

    conv = result.conversations.assign(csat=csat.reindex(result.conversations["conversation_id"]).to_numpy())
    has_orders = bool(result.meta.get("has_orders", False))
    sc = conversation_scores(conv, result.messages, result.rounds, result.hits, result.config, has_orders=has_orders)
    return sc.set_index("conversation_id")["qa_score"]


def _folds(ids: pd.Index, folds: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(ids))
    fold = np.empty(len(ids), dtype=np.int64)
    fold[order] = np.arange(len(ids)) % folds
    return fold


def fit_and_save(path: str | Path, out: Path | None = None) -> str:
    """Fit the satisfaction model on every even-id dialogue, cross-validate it, write the model file."""
    from csaudit.metrics import satisfaction

    messages, target = load_even(path)
    result = run_audit(messages)
    cv, _ = cross_validate(result, target)
    feats = satisfaction.features(result.messages, result.rounds, result.hits, result.config)
    ids = feats.index.intersection(target.index)
    model = satisfaction.fit(feats.loc[ids], to_100(target.loc[ids]))
    fitted = satisfaction.predict(feats.loc[ids], model)
    model["provenance"] = {
        "data": "STC-3 DCH train_data_cn.json, dialogues whose id ends in an even digit (odd ids held out)",
        "target": "mean of the 19 annotators' S (−2…2)",
        "n": int(len(ids)),
        "commit": _commit(),
        "date": dt.date.today().isoformat(),
        "cv": cv,
        "rho_in_sample": round(spearman(fitted, target.loc[ids]), 4),
        "command": "benchmarks/real_stc3.py PATH --fit",
    }
    model["provenance"]["check"] = satisfaction.check_predictions(model)
    out = out or satisfaction.DEFAULT_MODEL
    satisfaction.save_model(model, out)
    return f"wrote {out}: CV ρ {cv['rho_pooled']} (folds {cv['rho_per_fold']}), in-sample ρ {model['provenance']['rho_in_sample']}"


def _commit() -> str:
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def report(path: str | Path) -> str:
    """The STC-3 figures as text: ρ of each conversation figure with mean S, the CV of the
    satisfaction model and the issue's targets as ok/MISS lines."""
    messages, target = load_even(path)
    result = run_audit(messages)
    lines = [f"STC-3 DCH, even ids: {len(target)} dialogues, {len(messages)} messages; Spearman ρ with mean S"]
    figs = figures(result, target)
    w = max(len(n) for n, _, _ in figs)
    for name, rho, n in figs:
        lines.append(f"  {name:<{w}}  ρ = {rho:+.3f}  (n = {n})")
    cv, oof = cross_validate(result, target)
    qa_cv = qa_with(result, oof)
    rho_qa_cv = spearman(qa_cv, target.reindex(qa_cv.index))
    lines.append(f"  csat model {cv['folds']}-fold CV (refit per fold): pooled ρ = {cv['rho_pooled']:+.3f}, "
                 f"folds {cv['rho_per_fold']}")
    lines.append(f"  qa_score with the out-of-fold csat: ρ = {rho_qa_cv:+.3f}")
    got = {n: r for n, r, _ in figs}
    checks = (("csat (5-fold CV)", cv["rho_pooled"], 0.55), ("qa_score", got.get("qa_score", float("nan")), 0.40),
              ("qa_score (out-of-fold csat)", rho_qa_cv, 0.40))
    for name, rho, floor in checks:
        lines.append(f"  {'ok  ' if rho >= floor else 'MISS'} {name} ρ {rho:+.3f} ≥ {floor}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("path", help="STC-3 train_data_cn.json")
    p.add_argument("--fit", action="store_true", help="refit and write csaudit/models/csat.json")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.fit:
        print(fit_and_save(args.path))
    print(report(args.path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
