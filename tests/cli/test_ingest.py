"""``csaudit ingest``: summary, outputs, exit codes."""

from __future__ import annotations

import pandas as pd
import pytest

from csaudit.cli import main
from tests.io.golden import GOLDEN

TEXT_V1 = GOLDEN / "qianniu_text" / "v1_canonical.txt"


def test_ingest_prints_a_summary_and_writes_outputs(tmp_path, capsys):
    bad = tmp_path / "notes.txt"
    bad.write_text("这不是聊天记录\n", encoding="utf-8")
    out, rej = tmp_path / "m.parquet", tmp_path / "r.csv"
    code = main(["ingest", str(TEXT_V1), str(bad), "-o", str(out), "--rejects", str(rej)])
    text = capsys.readouterr().out
    assert code == 0
    assert "files: 2" in text and "[qianniu-text, utf-8]" in text
    assert "messages: 11 (customer 3, agent 3, auto_reply 1, bot 1, system 3)" in text
    assert "conversations: 2" in text and "agents: 3" in text and "customers: 1" in text
    assert "rejects: 1" in text and "duplicates: 0" in text
    assert f"{bad.as_posix()}:1: not a recognised chat export" in text
    assert len(pd.read_parquet(out)) == 11
    assert pd.read_csv(rej)["line"].tolist() == [1]


def test_ingest_unreadable_input_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["ingest", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"csaudit ingest: error: {(tmp_path / 'missing').as_posix()}: no such file or folder"]


def test_ingest_strict_names_the_line(tmp_path, capsys):
    p = tmp_path / "s.txt"
    p.write_text("导出说明\nbuyer 2026-11-09 10:00:00\nhi\n", encoding="utf-8")
    assert main(["ingest", str(p), "--strict"]) == 2
    err = capsys.readouterr().err
    assert f"{p.as_posix()}:1: text before the first message header" in err


def test_ingest_forced_format_and_encoding(tmp_path, capsys):
    p = tmp_path / "g.txt"
    p.write_bytes("buyer 2026-11-09 10:00:00\n你好\n".encode("gbk"))
    assert main(["ingest", str(p), "--format", "qianniu-text", "--encoding", "gbk"]) == 0
    assert "[qianniu-text, gbk]" in capsys.readouterr().out


def test_ingest_of_nothing_readable_exits_2_with_one_line(tmp_path, capsys):
    bad = tmp_path / "garbage.txt"
    bad.write_bytes(b"\x00\x01\x02 not a chat \xff\xfe")
    assert main(["ingest", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "no chat messages could be read" in err and "Traceback" not in err


HEADERLESS_TSV = (
    "s1\tu1\t0\t0\t0\tnan\t你好在吗\n"
    "s1\tu1\t1\t0\t0\tnan\t您好，请问有什么可以帮您\n"
    "s2\tu2\t0\t0\t0\t12\t这个多少钱\n"
    "s2\tu2\t1\t0\t0\t12\t亲，99元哦\n"
    "s2\tu2\t0\t0\t0\t12\t好的\n"
)


def test_ingest_columns_by_position_on_a_headerless_tsv(tmp_path, capsys):
    p = tmp_path / "chat.txt"
    p.write_text(HEADERLESS_TSV, encoding="utf-8")
    out = tmp_path / "m.parquet"
    code = main(["ingest", str(p), "--format", "table", "--columns", "conversation=0,customer=1,role=2,text=6",
                 "-o", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    assert "messages: 5 (customer 3, agent 2)" in text and "rejects: 0" in text
    assert "conversations: 2" in text and "unknown agent 2" in text and "no header row" in text
    m = pd.read_parquet(out)
    assert m["agent"].dropna().unique().tolist() == ["未知店铺:未知客服"]


def test_audit_accepts_columns_and_prints_a_scorecard(tmp_path, capsys):
    p = tmp_path / "chat.tsv"
    p.write_text(HEADERLESS_TSV, encoding="utf-8")
    code = main(["audit", str(p), "--columns", "conversation=0,customer=1,role=2,text=6", "-o", str(tmp_path / "a")])
    text = capsys.readouterr().out
    assert code == 0 and "未知店铺:未知客服" in text and "5 messages, 2 conversations, 1 agents" in text


@pytest.mark.parametrize("bad", ["text", "text=", "=6", "txt=6", "text=6,text=5", ","])
def test_malformed_columns_exit_2_with_a_clear_error(tmp_path, capsys, bad):
    p = tmp_path / "chat.tsv"
    p.write_text(HEADERLESS_TSV, encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        main(["ingest", str(p), "--columns", bad])
    assert exc.value.code == 2
    assert "--columns" in capsys.readouterr().err


def test_audit_with_nothing_readable_exits_2_naming_the_first_reject(tmp_path, capsys):
    p = tmp_path / "chat.tsv"
    p.write_text(HEADERLESS_TSV, encoding="utf-8")  # headerless, no --columns: every row a reject
    assert main(["audit", str(p), "-o", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "no chat messages could be read" in err and "without a header row" in err
