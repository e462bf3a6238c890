"""``csaudit ingest``: summary, outputs, exit codes."""

from __future__ import annotations

import pandas as pd

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
