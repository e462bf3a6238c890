"""benchmarks/real_chats.py on a tiny JDDC-shaped TSV and labels we write ourselves (no real data):
the precision / recall / zeroed / QC arithmetic against hand-computed values."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_module():
    spec = importlib.util.spec_from_file_location("real_chats", ROOT / "benchmarks" / "real_chats.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["real_chats"] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


rc = _load_module()

# (session, agent?, text); idx is the position within the session
ROWS = [
    ("s1", 0, "你好"), ("s1", 1, "您好"), ("s1", 0, "能改地址吗"), ("s1", 1, "无法修改的"),
    ("s1", 0, "好吧"), ("s1", 1, "请问还有其他问题吗"),
    ("s2", 0, "在吗"), ("s2", 1, "亲"), ("s2", 0, "退款"), ("s2", 1, "已经发货了"),
    ("s2", 1, "加我微信"), ("s2", 0, "好"),
    ("s3", 0, "在吗"), ("s3", 1, "稍等"), ("s3", 0, "好"), ("s3", 1, "这个做不到"), ("s3", 1, "办不了"),
]


def sha(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def key(mid: str) -> tuple[str, str, str]:
    """(session, idx, sha) of message id ``s:i``."""
    s, i = mid.split(":")
    text = [t for (ss, _, t) in ROWS if ss == s][int(i)]
    return s, i, sha(text)


@pytest.fixture
def tsv(tmp_path: Path) -> Path:
    p = tmp_path / "chat.txt"
    lines = [f"{s}\tu_{s}\t{a}\t0\t0\t\t{t}" for s, a, t in ROWS]
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def write_labels(d: Path, random_rows, pool_rows, conv_rows) -> Path:
    d.mkdir(exist_ok=True)
    head = "# test labels; keys only\n"
    (d / "jddc_random.csv").write_text(
        head + "session_id,idx,text_sha1,categories,unsure\n"
        + "".join(",".join([*key(m), t, u]) + "\n" for m, t, u in random_rows), encoding="utf-8")
    (d / "jddc_pools.csv").write_text(
        head + "session_id,idx,text_sha1,category,truth\n"
        + "".join(",".join([*key(m), c, t]) + "\n" for m, c, t in pool_rows), encoding="utf-8")
    (d / "jddc_conversations.csv").write_text(
        head + "session_id,first_turn_greets,closes\n" + "".join(",".join(r) + "\n" for r in conv_rows),
        encoding="utf-8")
    return d


RANDOM = [("s1:1", "greeting", ""), ("s1:3", "refusal;bare_refusal", ""), ("s1:5", "closing", ""),
          ("s2:3", "", ""), ("s3:3", "refusal", "")]
POOLS = [("s2:1", "greeting", "0"), ("s2:4", "off_platform", "1"), ("s3:3", "refusal", "1"),
         ("s2:3", "refusal", "1"),  # disagrees with the random sample: the random label is kept
         ("s3:1", "refusal", "?"), ("s3:4", "refusal", "1")]
CONV = [("s1", "1", "1"), ("s2", "0", "1"), ("s3", "?", "0")]


def hits_frame() -> pd.DataFrame:
    rows = [  # message_id, category, side
        ("s1:1", "greeting", "agent"), ("s2:1", "greeting", "agent"),
        ("s1:3", "refusal", "agent"), ("s2:3", "refusal", "agent"), ("s3:1", "refusal", "agent"),
        ("s1:5", "closing", "agent"), ("s1:5", "rating_invite", "agent"),  # one closing hit
        ("s2:4", "off_platform", "agent"), ("s3:1", "off_platform", "agent"),
        ("s2:5", "refusal", "customer"),  # customer side: not counted
        ("s2:1", "no_greeting", "agent"), ("s3:1", "no_greeting", "agent"), ("s1:5", "no_closing", "agent"),
    ]
    return pd.DataFrame({"message_id": [m for m, _, _ in rows], "conversation_id": [m.split(":")[0] for m, _, _ in rows],
                         "category": [c for _, c, _ in rows], "side": [s for _, _, s in rows],
                         "rule": ["x:" + c for _, c, _ in rows]})


def test_read_jddc_builds_messages_and_keys(tsv: Path):
    msgs, keys = rc.read_jddc(tsv)
    assert len(msgs) == len(ROWS) and list(keys["message_id"][:3]) == ["s1:0", "s1:1", "s1:2"]
    assert keys.loc[keys["message_id"] == "s3:4", "text_sha1"].item() == sha("办不了")
    row = msgs.set_index("message_id")
    assert row.loc["s1:1", "role"] == "agent" and row.loc["s1:1", "agent"] == rc.AGENT_ACCOUNT
    assert row.loc["s1:0", "role"] == "customer" and pd.isna(row.loc["s1:0", "agent"])
    assert row.loc["s1:0", "sender"] == "u_s1" and row.loc["s2:0", "conversation_id"] == "s2"
    assert list(msgs["line"][:2]) == [1, 2] and msgs["ts"].isna().all()


def test_wilson_interval():
    lo, hi = rc.wilson(1, 2)
    assert lo == pytest.approx(0.0945, abs=1e-4) and hi == pytest.approx(0.9055, abs=1e-4)
    lo, hi = rc.wilson(10, 10)
    assert lo == pytest.approx(0.7225, abs=1e-4) and hi == pytest.approx(1.0)
    assert all(math.isnan(x) for x in rc.wilson(0, 0))


def test_precision_recall_zeroed_and_qc_by_hand(tsv: Path, tmp_path: Path):
    msgs, keys = rc.read_jddc(tsv)
    labels = rc.load_labels(write_labels(tmp_path / "labels", RANDOM, POOLS, CONV))
    res = rc.evaluate(msgs, keys, hits_frame(), labels, ["off_platform", "abuse"])
    assert res["label_errors"] == []
    assert [(c["message_id"], c["truth"], c["truth_pool"]) for c in res["conflicts"]] == [("s2:3", "0", "1")]
    cats = {r["category"]: r for r in res["categories"]}
    r = cats["refusal"]  # hits s1:3 (true), s2:3 (false: random kept), s3:1 (?)
    assert (r["hits"], r["judged"], r["true"], r["false"], r["unsure"], r["unjudged"]) == (3, 2, 1, 1, 1, 0)
    assert r["precision"] == 0.5
    # random positives s1:3, s3:3 (hit: s1:3); with pools also s3:4 (not hit)
    assert (r["positives_random"], r["recall_random"]) == (2, 0.5)
    assert r["positives_all"] == 3 and r["recall_all"] == pytest.approx(1 / 3)
    g = cats["greeting"]  # s1:1 true (random), s2:1 false (pool)
    assert (g["hits"], g["judged"], g["precision"], g["recall_random"]) == (2, 2, 0.5, 1.0)
    assert (cats["closing"]["hits"], cats["closing"]["precision"]) == (1, 1.0)
    b = cats["bare_refusal"]
    assert (b["hits"], b["positives_random"], b["recall_random"]) == (0, 1, 0.0)
    o = cats["off_platform"]  # s2:4 true (pool), s3:1 unjudged
    assert (o["hits"], o["judged"], o["unjudged"], o["precision"]) == (2, 1, 1, 1.0)
    z = {r["category"]: r for r in res["zeroed"]}
    assert (z["*"]["zeroed"], z["*"]["right"], z["*"]["wrong"], z["*"]["all_false"]) == (2, 1, 1, 0)
    assert z["abuse"]["zeroed"] == 0
    q = {r["category"]: r for r in res["qc"]}
    # no_greeting on s2 (label 0: right) and s3 (label ?); the only label-0 conversation is found
    assert (q["no_greeting"]["findings"], q["no_greeting"]["judged"], q["no_greeting"]["precision"]) == (2, 1, 1.0)
    assert q["no_greeting"]["unsure"] == 1 and q["no_greeting"]["recall"] == 1.0
    # no_closing on s1 (label 1: wrong); s3 (label 0) is missed
    assert (q["no_closing"]["right"], q["no_closing"]["wrong"], q["no_closing"]["recall"]) == (0, 1, 0.0)
    targets = dict((text.split(":")[0] + (":recall" if "recall" in text else ""), ok) for ok, text in res["targets"]
                   if "labels cover" not in text)
    assert targets["critical"] is False and targets["closing"] is True and targets["greeting"] is False
    assert targets["qc no_greeting"] is True and targets["qc no_closing"] is False
    assert "refusal" in rc.format_report(res)


def test_extra_files_count_for_precision_not_for_qc_recall(tsv: Path, tmp_path: Path):
    d = write_labels(tmp_path / "labels", RANDOM, POOLS, [("s1", "1", "1"), ("s2", "0", "1")])
    head = "# test labels; keys only\n"
    (d / "jddc_hits_extra.csv").write_text(
        head + "session_id,idx,text_sha1,category,truth\n" + ",".join([*key("s3:1"), "off_platform", "0"]) + "\n",
        encoding="utf-8")
    (d / "jddc_conversations_extra.csv").write_text(  # s1 is also in the random file: its labels win
        head + "session_id,first_turn_greets,closes\ns3,0,0\ns1,0,0\n", encoding="utf-8")
    msgs, keys = rc.read_jddc(tsv)
    labels = rc.load_labels(d)
    assert "jddc_hits_extra.csv" in labels.files and "jddc_conversations_extra.csv" in labels.files
    res = rc.evaluate(msgs, keys, hits_frame(), labels, ["off_platform", "abuse"])
    assert res["label_errors"] == []
    o = {r["category"]: r for r in res["categories"]}["off_platform"]  # s2:4 true (pool), s3:1 false (extra)
    assert (o["hits"], o["judged"], o["unjudged"], o["precision"]) == (2, 2, 0, 0.5)
    assert {r["category"]: r for r in res["zeroed"]}["*"]["all_false"] == 1
    q = {r["category"]: r for r in res["qc"]}
    # no_greeting: s2 (random, 0) and s3 (extra, 0) both right; recall only on the random s2
    assert (q["no_greeting"]["labelled"], q["no_greeting"]["labelled_random"]) == (3, 2)
    assert (q["no_greeting"]["right"], q["no_greeting"]["judged"], q["no_greeting"]["unsure"]) == (2, 2, 0)
    assert (q["no_greeting"]["negatives"], q["no_greeting"]["recall"]) == (1, 1.0)
    # no_closing: s1 keeps its random label 1 (wrong); s3's missed 0 is extra, so no recall
    assert (q["no_closing"]["right"], q["no_closing"]["wrong"], q["no_closing"]["negatives"]) == (0, 1, 0)
    assert math.isnan(q["no_closing"]["recall"])


def test_stale_and_missing_labels_are_errors(tsv: Path, tmp_path: Path):
    d = write_labels(tmp_path / "labels", RANDOM, [], CONV + [("s9", "1", "1")])
    rnd = (d / "jddc_random.csv").read_text(encoding="utf-8")
    rnd = rnd.replace(sha("无法修改的"), "000000000000") + "s1,99,abcdefabcdef,,\n"
    (d / "jddc_random.csv").write_text(rnd, encoding="utf-8")
    msgs, keys = rc.read_jddc(tsv)
    errs = rc.label_errors(rc.load_labels(d), keys)
    got = sorted((e.session_id, int(e.idx), e.reason.split(":")[0]) for e in errs.itertuples())
    assert got == [("s1", 3, "stale"), ("s1", 99, "missing"), ("s9", -1, "missing")]


def test_main_end_to_end_and_skips(tsv: Path, tmp_path: Path, capsys):
    d = write_labels(tmp_path / "labels", RANDOM, POOLS, CONV)
    out = tmp_path / "out.json"
    assert rc.main(["--jddc", str(tsv), "--labels", str(d), "--json", str(out)]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["jddc"]["messages"] == len(ROWS) and data["jddc"]["agent_messages"] == 9
    assert {r["category"] for r in data["jddc"]["categories"]} >= set(rc.CATEGORIES)
    assert "targets (issue 9 item 4)" in capsys.readouterr().out
    assert rc.main(["--jddc", str(tmp_path / "absent.txt")]) == 0
    assert "skipped" in capsys.readouterr().out
