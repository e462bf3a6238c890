"""Precision and recall of the audit's findings on real chats (issue 9, Build item 4).

    .venv/bin/python benchmarks/real_chats.py --jddc /work/realdata/chat_0.1per.txt
    .venv/bin/python benchmarks/real_chats.py --jddc PATH --stc3 PATH --json out.json

The data are NOT in the repository (their licences forbid it): the script takes local copies and
skips cleanly (a message, exit 0) when a path is missing. Only the labels are committed, in
``benchmarks/labels/`` (see its README): keys (session id, 0-based index in the session, sha1[:12]
of the raw text) and judgements, never text.

What it does:

1. reads the JDDC sample (headerless TSV: session_id, user_id, waiter_send, is_transfer, is_repeat,
   sku, content) straight into a MESSAGES frame (``read_jddc``); as a cross-check it also tries
   ``csaudit.read_chats(path, format="table", columns={...by position...})`` and prints its count;
2. runs ``csaudit.audit`` on it;
3. joins the agent-side hits (``HITS.message_id``, per ``category``: new rules just appear) with the
   judged labels and prints per category: hits, judged hits, precision with a 95 % Wilson interval,
   unjudged hits, recall on the random sample and on random ∪ pools; for the critical categories
   (``Config.score.critical_categories``) the conversations zeroed by a critical hit and how many
   are wrong (none of its critical hits judged true); the QC findings no_greeting / no_closing
   against the conversation labels; and the issue's targets as ok/MISS lines.

A label whose key is not in the data or whose text hash differs from the message's is an error
(stale label): they are listed and the exit status is 1.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import math
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
LABELS_DIR = HERE / "labels"

SHOP = "JD"
AGENT_ACCOUNT = "JD:客服"
"""The one agent account of the JDDC sample (the export names no sub-account)."""

CATEGORIES = (
    "refusal", "bare_refusal", "bargain_refusal", "deflection", "contradiction", "curt", "slang",
    "impatience", "off_platform", "absolute_claim", "inducement", "risky_promise", "abuse",
    "greeting", "closing",
)
"""The agent-side message categories judged in the labels (benchmarks/labels/README.md)."""

HIT_TO_LABEL = {"rating_invite": "closing"}
"""Hit categories judged under another label category (a rating invitation is a closing)."""

QC_LABELS = {"no_greeting": "first_turn_greets", "no_closing": "closes"}
"""QC finding category → conversation label; the finding is right when the label is 0."""

TARGETS = {"critical_precision": 0.95, "other_precision": 0.85, "qc_precision": 0.90,
           "recall": {"refusal": 0.7, "deflection": 0.6}, "min_judged": 40}
"""Issue 9 item 4 targets on the development set."""

Z95 = 1.959963984540054


# ---------------------------------------------------------------------------------------- loading
def read_jddc(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The JDDC TSV as (MESSAGES frame, keys). Keys: message_id, session_id, idx, text_sha1, agent
    (bool), one row per message, in file order. Vectorised over rows; hashing once per distinct text."""
    from csaudit.model import schema
    from csaudit.text import clean_text

    lines = pd.Series(path.read_text(encoding="utf-8").split("\n"), dtype="str")
    line_no = pd.Series(range(1, len(lines) + 1), dtype="int64")
    keep = lines.str.len() > 0
    lines, line_no = lines[keep].reset_index(drop=True), line_no[keep].reset_index(drop=True)
    cells = lines.str.split("\t", n=6, expand=True)
    if cells.shape[1] < 7:
        raise ValueError(f"{path}: expected 7 tab-separated columns, found {cells.shape[1]}")
    bad = cells[6].isna()
    if bad.any():
        raise ValueError(f"{path}, line {int(line_no[bad].iloc[0])}: expected 7 tab-separated columns")
    session, user, content = cells[0].astype("str"), cells[1].astype("str"), cells[6].astype("str")
    is_agent = (cells[2] == "1").to_numpy()
    idx = session.groupby(session, sort=False).cumcount().astype("int64")
    message_id = session + ":" + idx.astype("str")
    keys = pd.DataFrame({"message_id": message_id, "session_id": session, "idx": idx,
                         "text_sha1": _sha1(content), "agent": is_agent})
    role = pd.Series(pd.Categorical.from_codes(is_agent.astype("int8"), ["customer", "agent"]))
    msgs = pd.DataFrame({
        "message_id": message_id,
        "conversation_id": session,
        "shop": SHOP,
        "customer": user,
        "sender": user.where(~is_agent, AGENT_ACCOUNT),
        "agent": pd.Series(AGENT_ACCOUNT, index=session.index, dtype="str").where(is_agent),
        "role": role.astype(schema.ROLE_DTYPE),
        "ts": pd.NaT,
        "text": clean_text(content),
        "source": str(path),
        "line": line_no,
    })
    return schema.conform(msgs, "messages"), keys


def _sha1(texts: pd.Series) -> pd.Series:
    """sha1[:12] of each UTF-8 text, computed once per distinct text."""
    codes, uniques = pd.factorize(texts)
    digests = pd.Index([hashlib.sha1(t.encode("utf-8")).hexdigest()[:12] for t in uniques], dtype="str")
    return pd.Series(digests.take(codes), index=texts.index, dtype="str")


def read_chats_count(path: Path) -> str:
    """What ``csaudit.read_chats`` makes of the file read by position (a cross-check, never fatal)."""
    import csaudit as ca

    try:
        chats = ca.read_chats(path, format="table",
                              columns={"conversation": 0, "customer": 1, "role": 2, "text": 6})
    except Exception as exc:  # noqa: BLE001 — the check reports any failure
        return f"read_chats by position: not available ({type(exc).__name__}: {str(exc)[:120]})"
    m = chats.messages
    n_agent = int((m["role"] == "agent").sum()) if len(m) else 0
    return (f"read_chats by position: {len(m):,} messages, {len(chats.rejects):,} rejects, "
            f"{m['conversation_id'].nunique() if len(m) else 0:,} conversations, {n_agent:,} agent rows")


def _read_label_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, comment="#", dtype="str", keep_default_na=False)


@dataclass
class Labels:
    """Judged labels, long form: message labels (source, session_id, idx, text_sha1, category,
    truth in {"1","0","?"}) and conversation labels (session_id, first_turn_greets, closes)."""

    messages: pd.DataFrame
    conversations: pd.DataFrame
    files: list[str] = field(default_factory=list)


POOL_FILES = {"jddc_pools.csv": "pools", "jddc_hits_extra.csv": "hits_extra"}
"""Label files with one judged category per row (``session_id, idx, text_sha1, category, truth``) →
their source name. ``jddc_hits_extra.csv`` judges the rebuilt rules' hits the pools did not cover;
both are pool-style (not random): they count for precision and for recall on random ∪ pools."""

CONVERSATION_FILES = {"jddc_conversations.csv": True, "jddc_conversations_extra.csv": False}
"""Conversation label files → whether the file is the random sample. QC precision uses every
labelled conversation; QC recall only the random sample (the extra conversations were drawn from
findings, so they would bias it)."""


def load_labels(directory: Path) -> Labels:
    """Every label file found in ``directory``: jddc_random.csv (every category judged per message:
    ``categories`` true, ``unsure`` ?, the rest false), the pool-style files of ``POOL_FILES`` (one
    category per row) and the conversation files of ``CONVERSATION_FILES`` (column ``random``: from
    the random sample). Missing files are simply absent."""
    parts, files = [], []
    rnd = directory / "jddc_random.csv"
    if rnd.exists():
        files.append(rnd.name)
        parts.append(random_long(_read_label_csv(rnd)))
    for name, source in POOL_FILES.items():
        path = directory / name
        if path.exists():
            files.append(name)
            p = _read_label_csv(path)
            p = p.assign(source=source, truth=p["truth"].str.strip(), category=p["category"].str.strip())
            parts.append(p[["source", "session_id", "idx", "text_sha1", "category", "truth"]])
    cols = ["source", "session_id", "idx", "text_sha1", "category", "truth"]
    msgs = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({c: [] for c in cols}, dtype="str")
    msgs = msgs.assign(idx=pd.to_numeric(msgs["idx"]).astype("int64"))
    conv_cols = ["session_id", "first_turn_greets", "closes"]
    convs = []
    for name, is_random in CONVERSATION_FILES.items():
        path = directory / name
        if path.exists():
            files.append(name)
            convs.append(_read_label_csv(path)[conv_cols].assign(random=is_random))
    if convs:  # a session labelled in both keeps the random sample's labels
        conv = pd.concat(convs, ignore_index=True).drop_duplicates("session_id", keep="first").reset_index(drop=True)
    else:
        conv = pd.DataFrame({c: pd.Series([], dtype="str") for c in conv_cols}).assign(random=pd.Series([], dtype="bool"))
    return Labels(msgs, conv, files)


def random_long(df: pd.DataFrame) -> pd.DataFrame:
    """The random-sample file (one row per message, ``;``-joined true and unsure categories) as one
    row per (message, category) for every judged category: truth 1, ? or 0."""
    keys = ["session_id", "idx", "text_sha1"]
    grid = df[keys].merge(pd.DataFrame({"category": list(CATEGORIES)}), how="cross")
    marks = []
    for col, truth in (("unsure", "?"), ("categories", "1")):  # a category both true and unsure is true
        cats = df[col].fillna("").str.split(";")
        m = df[keys].assign(category=cats).explode("category")
        m = m.assign(category=m["category"].str.strip())
        marks.append(m[m["category"] != ""].assign(truth=truth))
    marked = pd.concat(marks).drop_duplicates([*keys, "category"], keep="last")
    out = grid.merge(marked, on=[*keys, "category"], how="left")
    out["truth"] = out["truth"].fillna("0")
    out.insert(0, "source", "random")
    return out


# ----------------------------------------------------------------------------------------- checks
def label_errors(labels: Labels, keys: pd.DataFrame) -> pd.DataFrame:
    """Labels whose key is not in the data (``missing``) or whose text hash differs (``stale``),
    and conversation labels for unknown sessions; one row per distinct labelled key."""
    lab = labels.messages.drop_duplicates(["source", "session_id", "idx", "text_sha1"])
    j = lab.merge(keys[["session_id", "idx", "text_sha1"]].rename(columns={"text_sha1": "data_sha1"}),
                  on=["session_id", "idx"], how="left")
    reason = pd.Series(pd.NA, index=j.index, dtype="str")
    reason = reason.mask(j["data_sha1"].notna() & (j["data_sha1"] != j["text_sha1"]), "stale: text hash differs")
    reason = reason.mask(j["data_sha1"].isna(), "missing: no such message")
    errs = j.loc[reason.notna(), ["source", "session_id", "idx", "text_sha1"]].assign(reason=reason.dropna())
    conv = labels.conversations
    unknown = conv.loc[~conv["session_id"].isin(keys["session_id"]), ["session_id"]]
    if len(unknown):
        errs = pd.concat([errs, unknown.assign(source="conversations", idx=-1, text_sha1="",
                                                reason="missing: no such session")], ignore_index=True)
    return errs.reset_index(drop=True)


# ------------------------------------------------------------------------------------- judgements
def judgements(labels: Labels, keys: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One judgement per (message_id, category): truth, in_random, in_pools (any pool-style file).
    Where the random sample and a pool disagree the random sample's (the test of record) is kept;
    the conflicts are returned as the second frame."""
    lab = labels.messages.merge(keys[["session_id", "idx", "text_sha1", "message_id"]],
                                on=["session_id", "idx", "text_sha1"], how="inner")
    rnd = lab[lab["source"] == "random"].drop_duplicates(["message_id", "category"])
    pools = lab[lab["source"] != "random"].drop_duplicates(["message_id", "category"], keep="last")
    both = rnd.merge(pools, on=["message_id", "category"], suffixes=("", "_pool"))
    conflicts = both.loc[both["truth"] != both["truth_pool"], ["message_id", "category", "truth", "truth_pool"]]
    only_pool = pools.loc[~pools.set_index(["message_id", "category"]).index.isin(
        rnd.set_index(["message_id", "category"]).index)]
    j = pd.concat([rnd, only_pool], ignore_index=True)[["message_id", "category", "truth"]]
    j["in_random"] = j["message_id"].isin(rnd["message_id"])
    pool_keys = pools.set_index(["message_id", "category"]).index
    j["in_pools"] = j.set_index(["message_id", "category"]).index.isin(pool_keys)
    return j, conflicts.reset_index(drop=True)


def agent_hits(hits: pd.DataFrame) -> pd.DataFrame:
    """Distinct (message_id, conversation_id, category) of agent-side message hits, categories
    mapped to label categories (``HIT_TO_LABEL``); QC findings are left out (see ``qc_table``)."""
    h = hits[(hits["side"] == "agent") & hits["message_id"].notna() & ~hits["category"].isin(list(QC_LABELS))]
    cat = h["category"].astype("str")
    h = pd.DataFrame({"message_id": h["message_id"].astype("str"), "conversation_id": h["conversation_id"].astype("str"),
                      "category": cat.replace(HIT_TO_LABEL)})
    return h.drop_duplicates(["message_id", "category"]).reset_index(drop=True)


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of k successes in n trials (NaN, NaN when n = 0)."""
    if n == 0:
        return math.nan, math.nan
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _ratio(k: int, n: int) -> float:
    return k / n if n else math.nan


def category_table(hits: pd.DataFrame, judged: pd.DataFrame) -> pd.DataFrame:
    """Per category (labelled ones and any other agent-side hit category): hits, judged (true +
    false), true, false, unsure, unjudged, precision and its 95 % Wilson interval, recall on the
    random sample and on random ∪ pools (true labelled messages the category hits)."""
    h = hits.merge(judged[["message_id", "category", "truth"]], on=["message_id", "category"], how="left")
    cats = list(CATEGORIES) + sorted(set(h["category"]) - set(CATEGORIES))
    pos = judged[judged["truth"] == "1"]
    hit_keys = pd.MultiIndex.from_frame(hits[["message_id", "category"]])
    pos_hit = pd.Series(pos.set_index(["message_id", "category"]).index.isin(hit_keys), index=pos.index)
    rows = []
    for cat in cats:
        hc = h[h["category"] == cat]
        t, f, u = int((hc["truth"] == "1").sum()), int((hc["truth"] == "0").sum()), int((hc["truth"] == "?").sum())
        lo, hi = wilson(t, t + f)
        pc = pos["category"] == cat
        pr = pc & pos["in_random"]
        rows.append({
            "category": cat, "labelled": cat in CATEGORIES, "hits": len(hc), "judged": t + f, "true": t,
            "false": f, "unsure": u, "unjudged": int(hc["truth"].isna().sum()),
            "precision": _ratio(t, t + f), "precision_lo": lo, "precision_hi": hi,
            "positives_random": int(pr.sum()), "recall_random": _ratio(int((pr & pos_hit).sum()), int(pr.sum())),
            "positives_all": int(pc.sum()), "recall_all": _ratio(int((pc & pos_hit).sum()), int(pc.sum())),
        })
    return pd.DataFrame(rows)


def zeroed_table(hits: pd.DataFrame, judged: pd.DataFrame, critical: list[str]) -> pd.DataFrame:
    """Conversations zeroed by a critical hit, per critical category and overall (``*``): zeroed,
    right (some critical hit judged true), wrong (none judged true), of which all_false (every
    critical hit judged false; the rest have unjudged or ? hits)."""
    h = hits[hits["category"].isin(critical)].merge(judged[["message_id", "category", "truth"]],
                                                   on=["message_id", "category"], how="left")
    rows = []
    for cat in [*critical, "*"]:
        hc = h if cat == "*" else h[h["category"] == cat]
        g = hc.assign(t=hc["truth"].eq("1").fillna(False), f=hc["truth"].eq("0").fillna(False))
        g = g.groupby("conversation_id")[["t", "f"]].agg({"t": "any", "f": "all"})
        any_true, all_false = g["t"].astype(bool), g["f"].astype(bool)
        rows.append({"category": cat, "zeroed": len(any_true), "right": int(any_true.sum()),
                     "wrong": int((~any_true).sum()), "all_false": int(all_false.sum())})
    return pd.DataFrame(rows)


def qc_table(hits: pd.DataFrame, conversations: pd.DataFrame) -> pd.DataFrame:
    """QC findings (no_greeting, no_closing) against the conversation labels: in all labelled
    conversations (random sample and extra), findings, judged, right (label 0), precision with its
    interval; recall only on the random sample (its conversations with label 0 that have the
    finding), since the extra conversations were drawn from findings."""
    rows = []
    is_random = (conversations["random"] if "random" in conversations.columns
                 else pd.Series(True, index=conversations.index)).astype("bool")
    for cat, col in QC_LABELS.items():
        lab = conversations[["session_id", col]].rename(columns={"session_id": "conversation_id", col: "label"})
        lab = lab.assign(label=lab["label"].astype("str").str.strip(), random=is_random)
        found = set(hits.loc[hits["category"] == cat, "conversation_id"].astype("str"))
        lab = lab.assign(found=lab["conversation_id"].isin(found))
        f = lab[lab["found"]]
        right, wrong = int((f["label"] == "0").sum()), int((f["label"] == "1").sum())
        lo, hi = wilson(right, right + wrong)
        neg = lab[(lab["label"] == "0") & lab["random"]]
        rows.append({"category": cat, "label": col, "labelled": len(lab), "labelled_random": int(lab["random"].sum()),
                     "findings": len(f), "judged": right + wrong, "right": right, "wrong": wrong,
                     "unsure": int((f["label"] == "?").sum()), "precision": _ratio(right, right + wrong),
                     "precision_lo": lo, "precision_hi": hi, "negatives": len(neg),
                     "recall": _ratio(int(neg["found"].sum()), len(neg)),
                     "findings_all": int((hits["category"] == cat).sum())})
    return pd.DataFrame(rows)


def target_checks(cats: pd.DataFrame, zeroed: pd.DataFrame, qc: pd.DataFrame, critical: list[str]) -> list[tuple[bool, str]]:
    """The issue's targets as (ok, text) pairs, for the labelled categories (hit categories nobody
    judged, e.g. ``please``, are not targets). Recall targets use the random sample (unbiased); a
    category with no hits has no precision to miss."""
    out: list[tuple[bool, str]] = []
    for r in cats[cats["labelled"]].itertuples():
        goal = TARGETS["critical_precision"] if r.category in critical else TARGETS["other_precision"]
        if r.hits == 0:
            out.append((True, f"{r.category}: no hits (precision n/a, target {goal:.2f})"))
        elif r.judged == 0:
            out.append((False, f"{r.category}: {r.hits} hits, none judged (target precision {goal:.2f})"))
        else:
            out.append((r.precision >= goal, f"{r.category}: precision {r.precision:.2f} ({r.true}/{r.judged}) ≥ {goal:.2f}"))
        need = min(TARGETS["min_judged"], r.hits)
        if r.judged + r.unsure < need:
            out.append((False, f"{r.category}: labels cover {r.judged + r.unsure} of {r.hits} hits, need {need} (≥ 40, or all when fewer)"))
    for r in zeroed[zeroed["category"] == "*"].itertuples():
        out.append((r.wrong == 0, f"critical: {r.wrong} of {r.zeroed} zeroed conversations wrong (target 0)"))
    for cat, goal in TARGETS["recall"].items():
        r = cats[cats["category"] == cat].iloc[0]
        ok = not math.isnan(r.recall_random) and r.recall_random >= goal
        out.append((ok, f"{cat}: recall {_fmt(r.recall_random)} on the random sample (n={r.positives_random}) ≥ {goal:.2f}"
                        f"; random ∪ pools {_fmt(r.recall_all)} (n={r.positives_all})"))
    for r in qc.itertuples():
        goal = TARGETS["qc_precision"]
        ok = r.judged > 0 and r.precision >= goal
        out.append((ok or r.findings == 0, f"qc {r.category}: precision {_fmt(r.precision)} ({r.right}/{r.judged}) ≥ {goal:.2f}"))
    return out


# ------------------------------------------------------------------------------------------ report
def _fmt(x: float) -> str:
    return "  n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}"


def _ci(lo: float, hi: float) -> str:
    return "" if math.isnan(lo) else f"[{lo:.2f}, {hi:.2f}]"


def format_report(res: dict) -> str:
    """The printed report of ``evaluate``'s result."""
    lines = [f"JDDC: {res['messages']:,} messages, {res['agent_messages']:,} agent, {res['conversations']:,} conversations",
             res["read_chats_check"], f"label files: {', '.join(res['label_files']) or 'none'}",
             f"label errors: {len(res['label_errors'])}   random/pool conflicts: {len(res['conflicts'])}", ""]
    lines.append(f"{'category':<16}{'hits':>6}{'judged':>7}{'true':>6}{'?':>4}{'unjudged':>9}  "
                 f"{'precision':<10}{'95% CI':<14}{'recall(random)':>16}{'recall(rnd∪pools)':>19}")
    for r in res["categories"]:
        lines.append(f"{r['category']:<16}{r['hits']:>6}{r['judged']:>7}{r['true']:>6}{r['unsure']:>4}{r['unjudged']:>9}  "
                     f"{_fmt(r['precision']):<10}{_ci(r['precision_lo'], r['precision_hi']):<14}"
                     f"{_fmt(r['recall_random']) + ' (' + str(r['positives_random']) + ')':>16}"
                     f"{_fmt(r['recall_all']) + ' (' + str(r['positives_all']) + ')':>19}"
                     f"{'' if r['labelled'] else '   (not a labelled category)'}")
    lines += ["", f"critical categories: conversations zeroed by a critical hit (audit: {res['zeroed_by_audit']})"]
    for r in res["zeroed"]:
        name = "all critical" if r["category"] == "*" else r["category"]
        lines.append(f"  {name:<14} zeroed {r['zeroed']:>4}   right {r['right']:>4}   wrong {r['wrong']:>4}"
                     f"   (all hits judged false: {r['all_false']})")
    lines += ["", "QC findings on the labelled conversations (precision: all labelled; recall: the random sample)"]
    for r in res["qc"]:
        lines.append(f"  {r['category']:<12} findings {r['findings']:>4} of {r['labelled']} labelled "
                     f"({r['findings_all']} in all)   right {r['right']:>3}/{r['judged']:<3} precision {_fmt(r['precision'])} "
                     f"{_ci(r['precision_lo'], r['precision_hi'])}   recall(random {r['labelled_random']}) {_fmt(r['recall'])} (n={r['negatives']})")
    lines += ["", "targets (issue 9 item 4)"]
    lines += [f"  {'ok  ' if ok else 'MISS'} {text}" for ok, text in res["targets"]]
    if res["label_errors"]:
        lines += ["", "label errors:"] + [f"  {e['source']} {e['session_id']}:{e['idx']} {e['text_sha1']}: {e['reason']}"
                                          for e in res["label_errors"][:50]]
    return "\n".join(lines)


def evaluate(messages: pd.DataFrame, keys: pd.DataFrame, hits: pd.DataFrame, labels: Labels,
             critical: list[str]) -> dict:
    """All figures as a JSON-ready dict (see ``format_report``)."""
    errors = label_errors(labels, keys)
    judged, conflicts = judgements(labels, keys)
    ah = agent_hits(hits)
    cats = category_table(ah, judged)
    zeroed = zeroed_table(ah, judged, critical)
    qc = qc_table(hits, labels.conversations)
    return {
        "messages": len(messages), "agent_messages": int(keys["agent"].sum()),
        "conversations": int(messages["conversation_id"].nunique()),
        "label_files": labels.files, "label_errors": errors.to_dict("records"),
        "conflicts": conflicts.to_dict("records"), "categories": cats.to_dict("records"),
        "zeroed": zeroed.to_dict("records"), "qc": qc.to_dict("records"),
        "targets": target_checks(cats, zeroed, qc, critical), "read_chats_check": "", "zeroed_by_audit": "n/a",
    }


def stc3_report(path: Path) -> str:
    """``benchmarks/real_stc3.py``'s ``report(path)`` when that module exists."""
    mod_path = HERE / "real_stc3.py"
    if not mod_path.exists():
        return "STC-3: not available (benchmarks/real_stc3.py does not exist)"
    spec = importlib.util.spec_from_file_location("real_stc3", mod_path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["real_stc3"] = mod
    spec.loader.exec_module(mod)
    return mod.report(path)


def _commit() -> str:
    try:
        return subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jddc", type=Path, help="local copy of JDDC's chat_0.1per.txt")
    ap.add_argument("--stc3", type=Path, help="local copy of STC-3 (see benchmarks/real_stc3.py)")
    ap.add_argument("--labels", type=Path, default=LABELS_DIR, help="label directory (default: benchmarks/labels)")
    ap.add_argument("--json", type=Path, help="also write the figures here as JSON")
    args = ap.parse_args(argv)
    out: dict = {"commit": _commit()}
    status = 0
    if args.jddc is None or not args.jddc.exists():
        print(f"JDDC: skipped ({'no --jddc given' if args.jddc is None else f'{args.jddc} not found'})")
    else:
        import csaudit as ca
        from csaudit.config import Config

        messages, keys = read_jddc(args.jddc)
        cfg = Config()
        result = ca.audit(messages, config=cfg)
        res = evaluate(messages, keys, result.hits, load_labels(args.labels), list(cfg.score.critical_categories))
        res["read_chats_check"] = read_chats_count(args.jddc)
        if "critical" in result.conversations.columns:
            res["zeroed_by_audit"] = int(result.conversations["critical"].fillna(False).astype(bool).sum())
        out["csaudit"] = str(Path(ca.__file__).resolve().parent)
        print(f"commit {out['commit']} (this script), csaudit from {out['csaudit']}")
        print(format_report(res))
        out["jddc"] = res
        status = 1 if res["label_errors"] else 0
    if args.stc3 is not None:
        if not args.stc3.exists():
            print(f"STC-3: skipped ({args.stc3} not found)")
        else:
            text = stc3_report(args.stc3)
            print(text)
            out["stc3"] = text
    if args.json:
        args.json.write_text(json.dumps(_jsonable(out), ensure_ascii=False, indent=1), encoding="utf-8")
    return status


def _jsonable(o: object) -> object:
    """``o`` with NaN as null and numpy scalars as Python ones (strict JSON)."""
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_jsonable(v) for v in o]
    if hasattr(o, "item"):
        o = o.item()
    if isinstance(o, float) and math.isnan(o):
        return None
    if o is pd.NA:
        return None
    return o


if __name__ == "__main__":
    sys.exit(main())
