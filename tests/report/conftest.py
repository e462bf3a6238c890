"""Fixtures for the report tests.

``tiny_audit`` is a small saved audit built by hand with the documented tables and columns
(docs/pipeline.md), so views/HTML/Excel logic is tested without running the pipeline. The
sample-based fixtures (one shared ``csaudit report`` run) live in test_cli_report.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from csaudit.config import Config

TZ = "Asia/Shanghai"
A1 = "云栖家居:阿青"
A2 = "云栖家居:小<b>禾</b>"  # an agent name with markup must be escaped everywhere
A3 = "云栖家居:空闲"  # in the scorecard, no conversations
SCRIPT = "<script>alert(1)</script>"
PHONE = "13812345678"


def ts(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz=TZ)


def build_tiny_audit(path: Path) -> Path:
    """Write a small saved audit (parquet per table + meta.json) into ``path``; return it."""
    path.mkdir(parents=True, exist_ok=True)
    msgs = [
        # conversation c1: agent A1, customer buyer1
        ("m1", "c1", "buyer1", "buyer1", None, "customer", "2026-11-09 10:00:00", f"这个有货吗 {SCRIPT}"),
        ("m2", "c1", "buyer1", A1, A1, "agent", "2026-11-09 10:00:20", "亲，您好，有货的哦"),
        ("m3", "c1", "buyer1", "buyer1", None, "customer", "2026-11-09 10:01:00", f"我电话 {PHONE}，怎么还不发货"),
        ("m4", "c1", "buyer1", A1, A1, "agent", "2026-11-09 10:06:00", "我不能保证，你自己看物流"),
        # conversation c2: agent A2
        ("m5", "c2", "buyer2", "buyer2", None, "customer", "2026-11-10 11:00:00", "在吗"),
        ("m6", "c2", "buyer2", A2, A2, "agent", "2026-11-10 11:00:10", "加我微信 abc 聊"),
    ]
    messages = pd.DataFrame(msgs, columns=["message_id", "conversation_id", "customer", "sender", "agent", "role",
                                           "ts", "text"])
    messages["ts"] = pd.to_datetime(messages["ts"]).dt.tz_localize(TZ).dt.as_unit("ns")
    messages["shop"] = "云栖家居"
    messages["source"] = "tiny.txt"
    messages["line"] = range(1, len(messages) + 1)
    messages["sentiment"] = [0.8, None, 0.2, None, 0.5, None]
    turns = messages.assign(turn=range(1, len(messages) + 1), start=messages["ts"], end=messages["ts"],
                            n_messages=1)[["conversation_id", "turn", "role", "agent", "start", "end", "n_messages", "text"]]
    conversations = pd.DataFrame({
        "conversation_id": ["c1", "c2"], "shop": "云栖家居", "customer": ["buyer1", "buyer2"], "agent": [A1, A2],
        "agents": [A1, A2], "start": [ts("2026-11-09 10:00:00"), ts("2026-11-10 11:00:00")],
        "end": [ts("2026-11-09 10:06:00"), ts("2026-11-10 11:00:10")], "n_customer": [2, 1], "n_agent": [2, 1],
        "first_response_s": [20.0, 10.0], "is_inquiry": [True, True], "sentiment_start": [0.8, 0.5],
        "sentiment_end": [0.2, 0.5], "sentiment_drift": [-0.6, 0.0], "ordered": [False, True], "paid": [False, True],
        "order_amount": [0.0, 99.0], "n_hits": [3, 1], "qa_score": [55.0, 0.0], "greeting_ok": [True, False],
        "closing_ok": [False, False],
    })
    rounds = pd.DataFrame({
        "conversation_id": ["c1", "c1", "c2"], "customer": ["buyer1", "buyer1", "buyer2"], "agent": [A1, A1, A2],
        "round": [1, 2, 1], "start": [ts("2026-11-09 10:00:00"), ts("2026-11-09 10:01:00"), ts("2026-11-10 11:00:00")],
        "reply": [ts("2026-11-09 10:00:20"), ts("2026-11-09 10:06:00"), ts("2026-11-10 11:00:10")],
        "response_s": [20.0, 300.0, 10.0], "capped_s": [20.0, 300.0, 10.0], "answered": [True, True, True],
        "in_hours": [True, True, True], "slow": [False, True, False],
    })
    t4 = "我不能保证，你自己看物流"
    hits = pd.DataFrame({
        "message_id": ["m4", "m4", "m6", "m2"], "conversation_id": ["c1", "c1", "c2", "c1"], "agent": [A1, A1, A2, A1],
        "ts": [ts("2026-11-09 10:06:00")] * 2 + [ts("2026-11-10 11:00:10"), ts("2026-11-09 10:00:20")],
        "rule": ["lexicon:refusal", "lexicon:deflection", "lexicon:off_platform", "lexicon:greeting"],
        "category": ["refusal", "deflection", "off_platform", "greeting"],
        "severity": ["minor", "major", "critical", "info"], "side": ["agent"] * 4,
        "term": ["我不能", "你自己看", "微信", "您好"],
        "start": pd.array([0, 6, 2, 2], dtype="Int64"), "end": pd.array([3, 10, 4, 4], dtype="Int64"),
        "text": [t4, t4, "加我微信 abc 聊", "亲，您好，有货的哦"],
        "suggestion": ["换成：我帮您确认一下", "换成：我来帮您查", "不要引导站外联系", None],
    })
    assert t4[0:3] == "我不能" and t4[6:10] == "你自己看"
    agents = pd.DataFrame({
        "agent": [A1, A2, A3], "n_conversations": [1, 1, 0], "n_customers": [1, 1, 0],
        "avg_response_s": [160.0, 10.0, None], "reply_rate": [1.0, 1.0, None], "within_3min_rate": [0.5, 1.0, None],
        "slow_rounds": [1, 0, 0], "negative_hits": [2, 1, 0], "qc_hits": [0, 0, 0], "critical_hits": [0, 1, 0],
        "greeting_per100": [50.0, 0.0, None], "order_conversion": [0.0, 1.0, None],
        "score_responsiveness": [70.0, 100.0, None], "score_politeness": [50.0, 0.0, None],
        "score_compliance": [55.0, 0.0, None], "score_sentiment": [20.0, 50.0, None], "score_conversion": [0.0, 100.0, None],
        "qa_score": [55.0, 0.0, None], "qa_score_critical_free": [55.0, 60.0, None], "rank": [1, 2, 3],
    })
    unreplied = pd.DataFrame({"customer": ["buyer9"], "conversation_id": ["c1"], "agent": [A1],
                              "start": [ts("2026-11-09 12:00:00")], "text": [f"人呢？打我 {PHONE}"]})
    lost = pd.DataFrame({"conversation_id": ["c1"], "customer": ["buyer1"], "agent": [A1],
                         "start": [ts("2026-11-09 10:00:00")], "text": [f"这个有货吗 {SCRIPT}"]})
    sales = pd.DataFrame([{"shop_sales": 150.0, "cs_sales": 99.0, "silent_sales": 51.0, "cs_buyers": 1,
                           "avg_order_value": 99.0, "refund_rate": 0.0}])
    for name, df in {"messages": messages, "turns": turns, "conversations": conversations, "rounds": rounds,
                     "hits": hits, "agents": agents, "unreplied": unreplied, "lost_inquiries": lost,
                     "sales": sales}.items():
        df.to_parquet(path / f"{name}.parquet", index=False)
    meta = {"preset": "taobao", "preset_version": "2025.1", "period_start": "2026-11-09", "period_end": "2026-11-15",
            "created": "2026-11-16T08:00:00+00:00", "csaudit_version": "0.1.0", "n_messages": len(messages),
            "has_orders": True, "config": Config().to_dict()}
    (path / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, default=str), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_audit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_audit(tmp_path_factory.mktemp("tiny") / "audit")


# --------------------------------------------------------------------------------------------
# one real `csaudit report` run on the sample, shared by the slow tests


@dataclass
class Run:
    out: Path
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def csaudit(*args: str, timeout: float = 600) -> Run:
    """Run the real CLI in a subprocess (not a TTY: plain log lines)."""
    return csaudit_many([list(args)], timeout)[0]


def csaudit_many(commands: list[list[str]], timeout: float = 600) -> list[Run]:
    """Run several CLI commands at the same time; their results in order."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    t0 = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "csaudit.cli", *args], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env, stdin=subprocess.DEVNULL)
             for args in commands]
    runs = []
    for args, p in zip(commands, procs, strict=True):
        out, err = p.communicate(timeout=timeout)
        dest = Path(args[args.index("--out") + 1]) if "--out" in args else Path("reports")
        runs.append(Run(dest, p.returncode, out, err, time.perf_counter() - t0))
    return runs


@pytest.fixture(scope="session")
def sample_report(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """``csaudit report data/sample_chats --orders ... --out <tmp>/reports`` (the demo command)."""
    out = tmp_path_factory.mktemp("sample") / "reports"
    run = csaudit("report", str(sample_dir), "--orders", str(sample_dir / "orders.csv"), "--out", str(out),
                  "--workers", "2")
    assert (out / "audit" / "meta.json").exists(), run.stderr[-3000:]
    return run


@dataclass
class Planted:
    run: Run
    unmasked: Run
    good: str  # agent whose report shows the planted script and phone
    bad: str  # agent whose audit rows are corrupt (hit offsets outside the message)


@pytest.fixture(scope="session")
def planted_report(sample_report: Run, tmp_path_factory: pytest.TempPathFactory) -> Planted:
    """The sample's saved audit with a planted script + phone for one agent and corrupt hits for another,
    reported for those two agents only (saved-audit mode: no second audit)."""
    src = sample_report.out / "audit"
    d = tmp_path_factory.mktemp("planted") / "audit"
    shutil.copytree(src, d)
    agents = pd.read_parquet(d / "agents.parquet")["agent"].tolist()
    good, bad = agents[0], agents[1]
    # keep the two agents only: a smaller team, workbook and overview keep these runs short
    for name in ("agents", "conversations", "rounds", "hits", "unreplied", "lost_inquiries"):
        t = pd.read_parquet(d / f"{name}.parquet")
        t.loc[t["agent"].isin([good, bad])].to_parquet(d / f"{name}.parquet", index=False)
    kept = set(pd.read_parquet(d / "conversations.parquet")["conversation_id"])
    for name in ("messages", "turns"):
        t = pd.read_parquet(d / f"{name}.parquet")
        t.loc[t["conversation_id"].isin(kept)].to_parquet(d / f"{name}.parquet", index=False)
    lost = pd.read_parquet(d / "lost_inquiries.parquet")
    i = lost.index[lost["agent"] == good][0]
    lost.loc[i, "text"] = f"{SCRIPT} 我电话 {PHONE}"
    lost.to_parquet(d / "lost_inquiries.parquet", index=False)
    hits = pd.read_parquet(d / "hits.parquet")
    rows = hits.index[(hits["agent"] == bad) & hits["start"].notna()]
    hits.loc[rows, "start"] = 10_000
    hits.loc[rows, "end"] = 10_005
    hits.to_parquet(d / "hits.parquet", index=False)
    out, out2 = d.parent / "reports", d.parent / "reports_unmasked"
    run, unmasked = csaudit_many([
        ["report", str(d), "--agents", f"{good},{bad}", "--out", str(out), "--workers", "1", "--previous", str(src)],
        ["report", str(d), "--agents", good, "--no-mask", "--out", str(out2), "--workers", "1"],
    ])
    return Planted(run, unmasked, good, bad)
