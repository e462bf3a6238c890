"""Hostile input: read_chats gives rejects or one clear error, never a crash from inside pandas."""

from __future__ import annotations

import io
import os
import shutil
import zipfile

import pytest

import csaudit as ca
from csaudit.config import Config
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


# -- bounds (issue 13 item 5) ----------------------------------------------------------------------

GOOD = "jojo 2026-11-09 10:00:00\n在吗\n小鹿服饰:晴晴 2026-11-09 10:00:05\n在的\n".encode()


def _zip(members: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


def test_a_zip_nested_1100_deep_is_refused_and_the_good_file_beside_it_read(tmp_path):
    inner = _zip([("deep.txt", GOOD)], zipfile.ZIP_STORED)
    for i in range(1100):
        inner = _zip([(f"l{i}.zip", inner)], zipfile.ZIP_STORED)
    _write(tmp_path / "x.zip", _zip([("a.zip", inner), ("good.txt", GOOD)]))
    chats = ca.read_chats(tmp_path)
    src = chats.sources.set_index("source")
    assert src.loc[f"{(tmp_path / 'x.zip').as_posix()}/good.txt", "messages"] == 2
    refused = src[src["format"] == "unreadable"]
    assert len(refused) == 1 and "zip_max_depth = 4" in refused["note"].iloc[0]
    assert refused.index[0].count(".zip/") == 4  # x.zip/a.zip/l1099.zip/l1098.zip/l1097.zip
    assert "zip_max_depth" in chats.rejects["reason"].iloc[0]


def test_depth_is_a_setting(tmp_path):
    _write(tmp_path / "x.zip", _zip([("in.zip", _zip([("a.txt", GOOD)]))]))
    assert len(ca.read_chats(tmp_path).messages) == 2
    cfg = Config().updated({"io": {"zip_max_depth": 1}})
    chats = ca.read_chats(tmp_path, config=cfg)
    assert len(chats.messages) == 0 and chats.sources["format"].tolist() == ["unreadable"]


def test_zip_bombs_are_refused_while_inflating(tmp_path):
    cfg = Config().updated({"io": {"zip_ratio_min_bytes": 1 << 20}})
    _write(tmp_path / "b.zip", _zip([("zeros.txt", b"\0" * (8 << 20)), ("a.txt", b"a\n" * (4 << 20)),
                                     ("good.txt", GOOD)]))
    chats = ca.read_chats(tmp_path, config=cfg)
    src = chats.sources.set_index("source")
    b = (tmp_path / "b.zip").as_posix()
    assert src.loc[f"{b}/good.txt", "messages"] == 2
    for name in ("zeros.txt", "a.txt"):
        assert src.loc[f"{b}/{name}", "format"] == "unreadable"
        assert "zip_max_ratio" in src.loc[f"{b}/{name}", "note"]


def test_total_inflated_size_of_an_archive_is_capped(tmp_path):
    cfg = Config().updated({"io": {"zip_max_bytes": 150}})
    _write(tmp_path / "t.zip", _zip([("a.txt", GOOD), ("b.txt", GOOD.replace(b"jojo", b"kiki"))]))
    chats = ca.read_chats(tmp_path, config=cfg)
    assert chats.sources["format"].tolist() == ["qianniu-text", "unreadable"]
    assert "zip_max_bytes = 150" in chats.sources["note"].iloc[1]


def test_rejects_per_file_are_capped_and_counted(tmp_path):
    _write(tmp_path / "a.txt", b"a\n" * 5000)
    _write(tmp_path / "t.csv", ("时间,发送人,内容\n" + "2026-11-09 10:00:00,,没有发送人\n" * 3000).encode())
    chats = ca.read_chats(tmp_path, config=Config().updated({"io": {"max_rejects_per_file": 10}}))
    src = chats.sources.set_index("source")
    for name, total in (("a.txt", 5000), ("t.csv", 3000)):
        row = src.loc[(tmp_path / name).as_posix()]
        assert row["rejects"] == total and row["rejects_omitted"] == total - 10
    assert chats.rejects.groupby("source")["line"].apply(list).tolist() == [list(range(1, 11)), list(range(2, 12))]


def test_an_unexpected_reader_failure_is_one_reject_naming_the_file(tmp_path, monkeypatch):
    from csaudit.io import chats as chats_mod

    def boom(*args):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(chats_mod, "detect_format", boom)  # outside any reader's own guard
    _write(tmp_path / "a.txt", GOOD)
    chats = ca.read_chats(tmp_path)
    assert chats.sources["format"].tolist() == ["unreadable"]
    assert chats.rejects["reason"].tolist() == ["could not be read: RecursionError: maximum recursion depth exceeded"]
    with pytest.raises(InputError, match=r"a\.txt: a readable file \(failed: RecursionError"):
        ca.read_chats(tmp_path, strict=True)


# -- symlinks (issue 13 item 7) --------------------------------------------------------------------


def test_links_leaving_the_folder_and_dangling_links_are_listed_not_read(tmp_path):
    inside, outside = tmp_path / "in", tmp_path / "out"
    inside.mkdir()
    outside.mkdir()
    _write(outside / "secret.txt", GOOD)
    _write(inside / "a.txt", GOOD)
    (inside / "leak.txt").symlink_to(outside / "secret.txt")
    (inside / "gone.txt").symlink_to(inside / "missing.txt")
    (inside / "same.txt").symlink_to(inside / "a.txt")
    (inside / "sub").symlink_to(outside, target_is_directory=True)
    chats = ca.read_chats(inside)
    src = chats.sources.set_index("source")
    assert src.loc[(inside / "leak.txt").as_posix(), "format"] == "skipped"
    assert "leaves" in src.loc[(inside / "leak.txt").as_posix(), "note"]
    assert src.loc[(inside / "gone.txt").as_posix(), "note"] == "skipped: dangling link"
    assert "not followed" in src.loc[(inside / "sub").as_posix(), "note"]
    assert src.loc[(inside / "same.txt").as_posix(), "format"] == "qianniu-text"  # stays inside: read
    assert len(chats.rejects) == 0
