"""The sample generator: determinism, encodings, ground-truth consistency, persona design.

Checks run on the committed sample (``data/sample_chats`` + ``data/sample_truth``) where possible, and
regenerate only a small sample, to stay fast.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from csaudit.cli import main
from csaudit.config import Config
from csaudit.sample import generate
from csaudit.sample import texts as T
from csaudit.sample.scenes import to_traditional

SHOP = T.SHOP
AGENT_RE = re.compile(r"^栖木家居[:：]\S+$")
TS_LINE = re.compile(r"^\d{4}[-/]\d{1,2}[-/]\d{1,2} \d{1,2}:\d{2}:\d{2}$")
TIME_LINE = re.compile(r"^\d{1,2}:\d{2}:\d{2}$")
DATE_LINE = re.compile(r"^(\d{4}-\d{2}-\d{2}|\d{4}年\d{1,2}月\d{1,2}日)$")
HEADER_END = re.compile(r"\d{4}[-/]\d{1,2}[-/]\d{1,2} \d{1,2}:\d{2}:\d{2}$")


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("small")
    summary = generate(root / "chats", seed=7, truth_out=root / "truth", n_conversations=200)
    return root, summary


@pytest.fixture(scope="module")
def truth(truth_dir) -> dict[str, pd.DataFrame]:
    read = dict(keep_default_na=False, dtype=str)
    return {
        "messages": pd.read_csv(truth_dir / "messages.csv.gz", **read),
        "rounds": pd.read_csv(truth_dir / "rounds.csv.gz", **read),
        "hits": pd.read_csv(truth_dir / "planted_hits.csv.gz", **read),
        "conversations": pd.read_csv(truth_dir / "conversations.csv.gz", **read),
        "conversions": pd.read_csv(truth_dir / "conversions.csv", **read),
        "orders": pd.read_csv(truth_dir / "orders.csv", **read),
    }


# -- determinism -------------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes(small, tmp_path):
    root, summary = small
    again = generate(tmp_path / "chats", seed=7, truth_out=tmp_path / "truth", n_conversations=200)
    assert again == {**summary, "truth_dir": str(tmp_path / "truth")}
    assert _digest(root / "chats") == _digest(tmp_path / "chats")
    assert _digest(root / "truth") == _digest(tmp_path / "truth")


def test_other_seed_differs(small, tmp_path):
    root, _ = small
    generate(tmp_path / "chats", seed=8, truth_out=tmp_path / "truth", n_conversations=200)
    assert _digest(root / "chats") != _digest(tmp_path / "chats")


def test_default_truth_folder_is_a_sibling(tmp_path):
    s = generate(tmp_path / "sample_chats", seed=3, n_conversations=20)
    assert Path(s["truth_dir"]) == tmp_path / "sample_truth"
    assert (tmp_path / "sample_truth" / "messages.csv.gz").exists()
    assert not list((tmp_path / "sample_chats").rglob("*.csv.gz"))


def test_cli_sample(tmp_path, capsys):
    rc = main(["sample", "--out", str(tmp_path / "c"), "--truth", str(tmp_path / "t"), "--seed", "5", "--sessions", "30"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "conversations" in out and "messages" in out
    assert (tmp_path / "c" / "orders.csv").exists() and (tmp_path / "t" / "personas.json").exists()


# -- encodings and layout -------------------------------------------------------------------------


def test_client_files_are_gbk_with_crlf(sample_dir):
    files = sorted((sample_dir / "qianniu_client").glob("*.txt"))
    assert len(files) > 500
    for f in files:
        data = f.read_bytes()
        text = data.decode("gbk")  # strict
        assert "\r\n" in text
        with pytest.raises(UnicodeDecodeError):
            if any(ord(c) > 127 for c in text):
                data.decode("utf-8")
            else:  # pragma: no cover - every file has Chinese text
                raise UnicodeDecodeError("utf-8", b"", 0, 1, "ascii only")


def test_web_files_are_utf8_and_json_zip_members_parse(sample_dir):
    for f in sorted((sample_dir / "qianniu_web").glob("*.txt")):
        text = f.read_bytes().decode("utf-8")
        first = text.split("\n", 1)[0]
        assert DATE_LINE.match(first) or any(re.search(p, first) for p in Config().roles.system_patterns)
    with zipfile.ZipFile(sample_dir / "qianniu_json.zip") as zf:
        names = zf.namelist()
        assert len(names) > 100
        for name in names:
            doc = json.loads(zf.read(name).decode("utf-8"))
            assert set(doc) == {"user", "exportTime", "chats"}
            assert name == f"{doc['user']}.json"
            for rec in doc["chats"]:
                assert set(rec) == {"date", "time", "sender", "text", "imgUrl"}


def test_orders_csv_has_bom_and_chinese_headers(sample_dir):
    raw = (sample_dir / "orders.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    header = raw[3:].decode("utf-8").split("\r\n", 1)[0]
    assert header == "订单号,店铺,买家,下单时间,付款时间,实付金额,退款金额"


def test_all_bank_texts_encode_in_gbk():
    for name in (n for n in dir(T) if not n.startswith("_")):
        value = getattr(T, name)
        items = value if isinstance(value, list) else [value] if isinstance(value, str) else []
        for item in items:
            for s in item if isinstance(item, tuple) else (item,):
                if isinstance(s, str):
                    s.encode("gbk")
                    to_traditional(s).encode("gbk")


# -- ground truth vs the files --------------------------------------------------------------------


def _file_lines(sample_dir: Path, source: str) -> list[str]:
    if source.startswith("qianniu_json.zip/"):
        raise ValueError(source)
    raw = (sample_dir / source).read_bytes()
    enc = "gbk" if source.startswith("qianniu_client/") else "utf-8"
    return raw.decode(enc).replace("\r\n", "\n").split("\n")


def test_truth_lines_point_at_the_messages(sample_dir, truth):
    m = truth["messages"]
    assert not m.duplicated(["source", "line"]).any()
    by_source = dict(tuple(m.groupby("source", sort=False)))
    # every text file: the truth's lines plus blank separators cover every line of the file
    for source, rows in by_source.items():
        if source.startswith("qianniu_json.zip/"):
            continue
        lines = _file_lines(sample_dir, source)
        covered = set()
        for r in rows.itertuples():
            i = int(r.line) - 1
            text_lines = r.text.split("\n")
            if r.role == "system" and r.ts == "":
                assert lines[i] == r.text
                covered.add(i)
                continue
            if source.startswith("qianniu_client/"):
                head = lines[i]
                assert head.startswith(r.sender), (source, r.line)
                rest = head[len(r.sender):].strip()
                if rest:
                    assert HEADER_END.search(rest), (source, r.line)
                    body = i + 1
                else:
                    assert TS_LINE.match(lines[i + 1]), (source, r.line)
                    covered.add(i + 1)
                    body = i + 2
                covered.add(i)
            else:
                assert TIME_LINE.match(lines[i]) and lines[i] == r.ts[11:19], (source, r.line)
                covered.add(i)
                body = i + 1
                assert lines[body + len(text_lines)] == r.sender
                covered.add(body + len(text_lines))
            assert lines[body : body + len(text_lines)] == text_lines, (source, r.line)
            covered.update(range(body, body + len(text_lines)))
        rest = [x for k, x in enumerate(lines) if k not in covered and x.strip()]
        if source.startswith("qianniu_web/"):
            assert all(DATE_LINE.match(x) for x in rest), (source, rest[:3])
        else:
            assert rest == [], (source, rest[:3])


def test_truth_json_records(sample_dir, truth):
    m = truth["messages"]
    js = m[m.source.str.startswith("qianniu_json.zip/")]
    with zipfile.ZipFile(sample_dir / "qianniu_json.zip") as zf:
        docs = {f"qianniu_json.zip/{n}": json.loads(zf.read(n)) for n in zf.namelist()}
    assert set(js.source) == set(docs)
    for r in js.itertuples():
        rec = docs[r.source]["chats"][int(r.line) - 1]
        assert rec["text"] == r.text and rec["sender"] == r.sender
        assert f"{rec['date']}T{rec['time']}+08:00" == r.ts


def test_roles_agents_and_senders_are_consistent(truth):
    m = truth["messages"]
    agent_side = m.role.isin(["agent", "auto_reply", "bot"])
    assert m.loc[agent_side, "sender"].str.match(AGENT_RE).all()
    assert (m.loc[agent_side, "agent"] == m.loc[agent_side, "sender"].str.replace("：", ":")).all()
    assert (m.loc[~agent_side, "agent"] == "").all()
    cust = m[m.role == "customer"]
    assert (cust.sender == cust.customer).all()
    assert not cust.sender.str.contains("[:：\\s]").any()
    assert (m.loc[m.role == "auto_reply", "text"].str.startswith("[自动回复]")).all()
    assert (m.loc[m.role == "bot", "agent"] == f"{SHOP}:{T.BOT}").all()
    patterns = re.compile("|".join(f"(?:{p})" for p in Config().roles.system_patterns), re.M)
    assert m.loc[m.role == "system", "text"].map(lambda t: bool(patterns.search(t))).all()
    # no non-system text has a line that a reader could take for a system line or a header
    other = m.loc[m.role != "system", "text"]
    assert not other.map(lambda t: bool(patterns.search(t))).any()
    for t in other.unique():
        for line in t.split("\n"):
            assert not (TS_LINE.match(line) or TIME_LINE.match(line) or DATE_LINE.match(line) or HEADER_END.search(line)), t


def test_planted_hit_offsets_slice_their_terms(truth):
    m = truth["messages"].set_index(["source", "line"])
    h = truth["hits"]
    texts = m.loc[list(zip(h.source, h.line, strict=True)), "text"].to_list()
    for text, term, a, b in zip(texts, h.term, h.start.astype(int), h.end.astype(int), strict=True):
        assert text[a:b] == term


def test_whitelist_lookalikes_are_planted(truth):
    h = truth["hits"]
    wl = h[h.category == "whitelist"]
    assert set(wl.term) == {"不好意思", "不客气"}
    assert len(wl) > 100


# -- counts and persona design --------------------------------------------------------------------


def test_counts_in_requested_range(truth):
    m, conv = truth["messages"], truth["conversations"]
    assert len(conv) >= 3000
    assert 35_000 <= len(m) <= 45_000
    share = m.source.str.split("/").str[0].value_counts(normalize=True)
    assert 0.5 < share["qianniu_client"] < 0.7
    assert 0.18 < share["qianniu_web"] < 0.32
    assert 0.1 < share["qianniu_json.zip"] < 0.2
    ts = pd.to_datetime(m.loc[m.ts != "", "ts"])
    assert ts.min() >= pd.Timestamp("2026-11-02T00:00:00+08:00")
    assert ts.max() < pd.Timestamp("2026-11-16T02:00:00+08:00")
    assert set(m.role) == {"customer", "agent", "auto_reply", "bot", "system"}
    assert m.loc[m.role == "agent", "agent"].nunique() == 8
    assert (m.text == T.SCRIPT_MESSAGE).sum() == 1
    assert (m.loc[m.text == T.SCRIPT_MESSAGE, "role"] == "customer").all()
    assert m.text.str.contains(r"1380013\d{4}").sum() >= 5
    assert m.text.str.contains("省.+市").sum() >= 5
    assert m.text.str.contains("\n").sum() >= 100
    trad = m[(m.role == "customer") & m.text.str.contains("[說會這個問題貨]")]
    assert trad.customer.nunique() >= 10
    system = m[m.role == "system"].text
    for needle in ("撤回了一条消息", "当前用户来自", "转交给", "系统关闭会话", "原因：【离线留言自动分配】", "【即将超时】"):
        assert system.str.contains(needle, regex=False).any(), needle


def _agent(name: str) -> str:
    return f"{SHOP}:{name}"


def test_personas_come_out_as_designed(truth, truth_dir):
    expected = json.loads((truth_dir / "personas.json").read_text(encoding="utf-8"))["expected"]
    r = truth["rounds"]
    r = r[(r.in_hours == "true") & (r.agent != "")]
    capped = pd.to_numeric(r.response_s).fillna(600).clip(upper=600)
    mean = capped.groupby(r.agent).mean()
    assert mean.idxmax() == expected["slowest_agent"]
    assert mean.idxmin() == expected["fastest_agent"]
    h = truth["hits"]
    per = h[h.side == "agent"].groupby(["category", "agent"]).size()
    assert per["slang"].idxmax() == expected["most_slang_agent"]
    assert per["curt"].idxmax() == expected["most_slang_agent"]
    assert per["refusal"].idxmax() == expected["most_refusals_agent"]
    assert per["deflection"].idxmax() == expected["most_refusals_agent"]
    assert set(per["off_platform"].index) == {expected["wechat_agent"]}
    conv = truth["conversions"]
    rate = (conv.converted_48h == "true").groupby(conv.agent).mean().drop("", errors="ignore")
    assert rate.idxmax() == expected["best_conversion_agent"]
    assert rate.max() > rate.drop(expected["best_conversion_agent"]).max() + 0.15
    m = truth["messages"]
    auto = m[m.role == "auto_reply"].agent.value_counts()
    assert auto.idxmax() == expected["auto_reply_agent"]
    night = r[r.agent == expected["night_agent"]]
    assert len(night) > 100
    allr = truth["rounds"]
    assert (allr[(allr.agent == expected["night_agent"])].in_hours == "false").sum() > 50


def test_rounds_follow_design_rules(truth):
    r = truth["rounds"]
    ans = r[r.reply != ""]
    start, reply = pd.to_datetime(ans.start), pd.to_datetime(ans.reply)
    assert ((reply - start).dt.total_seconds().astype(int) == ans.response_s.astype(int)).all()
    assert (ans.response_s.astype(int) > 0).all()
    assert (r.loc[r.transfer == "true", "reply"] == "").all()
    assert (r.transfer == "true").sum() >= 10
    assert 0.02 < (r.reply == "").mean() < 0.2
    # rounds within a conversation never overlap
    g = r.assign(n=r["round"].astype(int)).sort_values(["conversation", "n"])
    prev_reply = pd.to_datetime(g.reply.replace("", None)).groupby(g.conversation).shift()
    start = pd.to_datetime(g.start)
    assert (start[prev_reply.notna()] > prev_reply.dropna()).all()


# -- orders ---------------------------------------------------------------------------------------


def test_orders_match_truth_and_conversions(sample_dir, truth):
    o = pd.read_csv(sample_dir / "orders.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    t = truth["orders"]
    assert list(o["订单号"]) == list(t.order_id)
    assert o["订单号"].str.fullmatch(r"\d{19}").all() and o["订单号"].is_unique
    assert (o["店铺"] == SHOP).all()
    assert list(o["买家"]) == list(t.customer)
    assert (o["实付金额"].astype(float) == t.amount.astype(float)).all()
    assert (o["退款金额"].astype(float) <= o["实付金额"].astype(float)).all()
    created = pd.to_datetime(o["下单时间"])
    paid = pd.to_datetime(o["付款时间"].replace("", None))
    assert (paid.dropna() >= created[paid.notna()]).all()
    assert 0.02 < paid.isna().mean() < 0.2
    assert (o["退款金额"].astype(float) > 0).sum() > 50
    chat_customers = set(truth["messages"].customer)
    silent_nochat = ~o["买家"].isin(chat_customers)
    assert silent_nochat.sum() > 50
    assert (t.loc[silent_nochat.to_numpy(), "silent"] == "true").all()
    # conversions agree with the orders file
    conv = truth["conversions"]
    yes = conv[conv.converted_48h == "true"]
    assert len(yes) > 300
    start = pd.to_datetime(yes.start)
    cr = pd.to_datetime(yes.created)
    assert ((cr >= start) & (cr - start <= pd.Timedelta(hours=48))).all()
    assert set(yes.order_id) <= set(o["订单号"])
    attributed = t[t.silent == "false"]
    assert set(attributed.inquiry_conversation) <= set(conv.conversation)
    late = t[(t.silent == "true") & t.customer.isin(conv.customer)]
    assert len(late) > 10  # orders after the 48 h window or from after-sales customers


def test_committed_sample_is_what_the_generator_writes(sample_dir, truth_dir, tmp_path):
    """The committed files are in sync with the generator code (regenerate with `csaudit sample`)."""
    generate(tmp_path / "sample_chats", seed=7)
    assert _digest(tmp_path / "sample_chats") == _digest(sample_dir)
    assert _digest(tmp_path / "sample_truth") == _digest(truth_dir)


def test_output_does_not_depend_on_hash_seed(small, tmp_path):
    """No set/dict-order or hash() dependence: a different PYTHONHASHSEED writes the same bytes."""
    import os
    import subprocess
    import sys

    root, _ = small
    code = (
        "from csaudit.sample import generate; "
        f"generate({str(tmp_path / 'chats')!r}, seed=7, truth_out={str(tmp_path / 'truth')!r}, n_conversations=200)"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    assert _digest(root / "chats") == _digest(tmp_path / "chats")
    assert _digest(root / "truth") == _digest(tmp_path / "truth")
