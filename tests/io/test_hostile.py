"""Hostile input: read_chats gives rejects or one clear error, never a crash from inside pandas."""

from __future__ import annotations

import os
import shutil

import pytest

import csaudit as ca
from csaudit.io.base import InputError
from tests.io.golden import GOLDEN

TEXT_V1 = GOLDEN / "qianniu_text" / "v1_canonical.txt"


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_empty_file(tmp_path):
    chats = ca.read_chats(_write(tmp_path / "e.txt", b""))
    assert len(chats.messages) == 0 and len(chats.rejects) == 0
    assert chats.sources["format"].tolist() == ["empty"]


def test_binary_garbage_becomes_rejects_and_the_batch_continues(tmp_path):
    garbage = os.urandom(4096).replace(b"\n", b"\n\x01")
    _write(tmp_path / "a_garbage.txt", garbage)
    shutil.copy(TEXT_V1, tmp_path / "b.txt")
    chats = ca.read_chats(tmp_path)
    src = chats.sources.set_index("source")
    assert src.loc[(tmp_path / "a_garbage.txt").as_posix(), "messages"] == 0
    assert src.loc[(tmp_path / "a_garbage.txt").as_posix(), "rejects"] > 0
    assert src.loc[(tmp_path / "b.txt").as_posix(), "messages"] == 11
    assert (chats.rejects["source"] == (tmp_path / "a_garbage.txt").as_posix()).all()


def test_truncated_file_keeps_what_is_there(tmp_path):
    data = TEXT_V1.read_bytes()
    cut = data[: data.index("小鹿服饰:阿木".encode()) + 8]  # ends inside a header, inside a character
    chats = ca.read_chats(_write(tmp_path / "t.txt", cut))
    assert len(chats.rejects) == 0
    assert chats.sources["encoding"].tolist() == ["utf-8"]
    assert len(chats.messages) == 9
    assert chats.messages.sort_values("line")["text"].iloc[-1] == "我下单了，什么时候发货\n\n小鹿\ufffd"


def test_wrong_format_forced_gives_rejects_for_every_line(tmp_path):
    chats = ca.read_chats(TEXT_V1, format="qianniu-web")
    lines = [ln for ln in TEXT_V1.read_text(encoding="utf-8").split("\n") if ln.strip()]
    system = 3
    assert len(chats.messages) == system
    assert len(chats.rejects) + system == len(lines)
    assert chats.rejects["reason"].str.contains("before the first date line").all()


def test_wrong_format_forced_on_other_readers_does_not_crash(tmp_path):
    for fmt in ca.io.chats.readers():
        chats = ca.read_chats(TEXT_V1, format=fmt)
        assert len(chats.messages) + len(chats.rejects) > 0


def test_unknown_format_name_is_an_error():
    with pytest.raises(ValueError, match="unknown format 'csv'"):
        ca.read_chats(TEXT_V1, format="csv")


def test_missing_path_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        ca.read_chats(tmp_path / "nope")


def test_timestamps_out_of_order(tmp_path):
    text = "buyer 2026-11-09 10:05:00\n后发\nbuyer 2026-11-09 10:00:00\n先发\n店:阿青 2026-11-09 10:01:00\n回复\n"
    m = ca.read_chats(_write(tmp_path / "o.txt", text.encode())).messages
    assert m["text"].tolist() == ["先发", "回复", "后发"]
    assert m["conversation_id"].nunique() == 1


def test_same_export_twice_counts_duplicates_and_keeps_ids(tmp_path):
    shutil.copy(TEXT_V1, tmp_path / "a.txt")
    shutil.copy(TEXT_V1, tmp_path / "b.txt")
    once = ca.read_chats(TEXT_V1)
    twice = ca.read_chats(tmp_path)
    assert twice.duplicates == 11
    assert twice.sources["duplicates"].tolist() == [0, 11]
    assert sorted(twice.messages["message_id"]) == sorted(once.messages["message_id"])


def test_a_single_line_of_several_megabytes(tmp_path):
    big = "很长" * 2_000_000
    text = f"buyer 2026-11-09 10:00:00\n{big}\n店:阿青 2026-11-09 10:00:05\n收到\n"
    m = ca.read_chats(_write(tmp_path / "big.txt", text.encode())).messages
    assert len(m) == 2 and len(m["text"].iloc[0]) == 4_000_000


def test_strict_names_file_and_line(tmp_path):
    path = _write(tmp_path / "s.txt", "导出说明\nbuyer 2026-11-09 10:00:00\nhi\n".encode())
    with pytest.raises(InputError) as err:
        ca.read_chats(path, strict=True)
    msg = str(err.value)
    assert msg.startswith(f"{path.as_posix()}:1: ")
    assert "expected 'SENDER YYYY-MM-DD HH:MM:SS'" in msg and "导出说明" in msg


def test_strict_on_unrecognised_file(tmp_path):
    path = _write(tmp_path / "u.txt", b"just some notes\n")
    with pytest.raises(InputError, match=r"u\.txt:1: not a recognised chat export"):
        ca.read_chats(path, strict=True)


def test_bad_zip_is_reported_not_raised(tmp_path):
    _write(tmp_path / "bad.zip", b"PK\x03\x04 definitely not a zip")
    chats = ca.read_chats(tmp_path)
    assert chats.sources["format"].tolist() == ["unreadable"]
    assert chats.rejects["reason"].str.startswith("unreadable zip").all()


def test_client_text_reader_forced_on_web_history():
    web = GOLDEN / "qianniu_web" / "v1_iso_date.txt"
    chats = ca.read_chats(web, format="qianniu-text")
    lines = [ln for ln in web.read_text(encoding="utf-8").split("\n") if ln.strip()]
    assert len(chats.messages) == 3  # the system lines
    assert len(chats.rejects) == len(lines) - 3
