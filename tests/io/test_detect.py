"""Encoding and format detection."""

from __future__ import annotations

import codecs

import pytest

import csaudit as ca
from csaudit.io import detect
from csaudit.io.base import RawFile

TEXT = "jojo_2020 2026-11-09 14:03:07\r\n這件毛衣起球嗎\r\n"


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (TEXT.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + TEXT.encode("utf-8"), "utf-8-sig"),
        (codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"), "utf-16-le"),
        (codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"), "utf-16-be"),
        (TEXT.encode("utf-16-le"), "utf-16-le"),
        (TEXT.encode("gbk", errors="ignore"), "gb18030"),
    ],
)
def test_decode_detects_encoding_and_normalises_newlines(data, encoding):
    text, enc = detect.decode(data, "x.txt")
    assert enc == encoding
    assert "\r" not in text
    assert text.startswith("jojo_2020 2026-11-09 14:03:07\n")


def test_gbk_text_keeps_traditional_characters():
    text, enc = detect.decode("這件毛衣起球嗎".encode("gb18030"), "x")
    assert (text, enc) == ("這件毛衣起球嗎", "gb18030")


def test_forced_encoding_and_replacement():
    text, enc = detect.decode("好".encode("gbk"), "x", forced="utf-8")
    assert enc == "utf-8+replace" and "\ufffd" in text
    with pytest.raises(ValueError, match="unknown encoding"):
        detect.decode(b"x", "x", forced="no-such-codec")


def test_binary_garbage_never_raises():
    data = bytes(range(256)) * 8
    text, enc = detect.decode(data, "x.bin")
    assert isinstance(text, str) and enc


def test_detect_format_picks_the_most_confident_reader(caplog):
    caplog.set_level("DEBUG")
    raw = RawFile("a.txt", b"")
    assert detect.detect_format(raw, "buyer 2026-11-09 10:00:00\nhi\n") == "qianniu-text"
    assert detect.detect_format(raw, "2026年11月9日\n10:00:00\nhi\nbuyer\n") == "qianniu-web"
    assert detect.detect_format(raw, "nothing to see here\n") is None
    assert "detected format qianniu-text" in caplog.text


def test_plain_utf8_check_and_head_agree_with_decode():
    import random

    rng = random.Random(0)
    alphabet = [0x41, 0x0A, 0x0D, 0xC2, 0x80, 0xBF, 0xE4, 0xB8, 0xAD, 0xED, 0xA0, 0xF0, 0x9F, 0xF4, 0x90, 0xFF, 0xC0, 0xE0, 0xEF, 0xBB]
    samples = [b"", "中文 ok\n".encode(), codecs.BOM_UTF8 + b"x", b"a\r\nb", b"\xed\xa0\x80", b"\xc0\xaf", b"\xe4\xb8"]
    samples += [bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(5000)]
    for data in samples:
        data = bytes(data)  # a fresh object: the check caches by identity
        text, enc = detect.decode(data, "x")
        plain = detect.is_plain_utf8(data)
        try:
            strict = data.decode("utf-8")
        except UnicodeDecodeError:
            strict = None
        assert plain == (strict is not None and not data.startswith(codecs.BOM_UTF8) and "\r" not in strict)
        if plain:
            assert (text, enc) == (strict, "utf-8")
            for k in (0, 1, 2, 5, 100):
                assert detect.decode_head(data, k) == text[:k]


def test_head_only_decoding_keeps_blank_heads_and_rejects(tmp_path):
    import csaudit as ca

    blank_head = tmp_path / "blank_head.txt"
    blank_head.write_bytes(b" \n" * 40_000 + "这不是聊天记录\n".encode())
    chats = ca.read_chats(blank_head)
    assert chats.sources["format"].tolist() == ["unknown"]
    assert chats.rejects["line"].tolist() == [40_001]
    blank = tmp_path / "blank.txt"
    blank.write_bytes(b" \n" * 40_000)
    assert ca.read_chats(blank).sources["format"].tolist() == ["empty"]


# -- decoding by segment (issue 13) ----------------------------------------------------------------

CLIENT_TEXT = (
    "小鹿服饰:晴晴 2026-11-09 10:00:00\n您好，欢迎光临\n"
    "jojo 2026-11-09 10:00:05\n这件毛衣起球吗\n"
    "小鹿服饰:阿青 2026-11-09 10:00:09\n不起球的哦\n"
    "小鹿服饰:木木 2026-11-09 10:00:12\n还有别的问题吗\n"
    "jojo 2026-11-09 10:00:20\n没有了谢谢"
)
GBK = CLIENT_TEXT.encode("gbk")


def _damage(kind: str) -> bytes:
    line2 = "您好，欢迎光临".encode("gbk")
    if kind == "truncated":
        return GBK[:-1]  # the last character cut in half
    if kind == "nul":
        return GBK.replace(line2, line2[:4] + b"\x00" + line2[4:], 1)
    if kind == "ff":
        return GBK.replace(line2, line2[:6] + b"\xff" + line2[7:], 1)
    if kind == "bitflip":  # a trail byte with its high bit cleared: no longer a GBK pair
        return GBK.replace(line2, line2[:7] + bytes([line2[7] & 0x7F & 0x3F]) + line2[8:], 1)
    raise AssertionError(kind)


@pytest.mark.parametrize(("kind", "line", "reason"), [
    ("truncated", 10, "invalid GBK bytes at column 5"),
    ("nul", 2, "NUL byte at column 3"),
    ("ff", 2, "invalid GBK bytes at column 4"),
    ("bitflip", 2, "invalid GBK bytes at column 4"),
])
def test_one_damaged_byte_costs_only_its_line(kind, line, reason):
    d = detect.decoded(_damage(kind), "g.txt")
    assert d.encoding == "gb18030+lines"
    assert [(ln, why) for ln, _, why in d.damaged] == [(line, reason)]
    good = CLIENT_TEXT.split("\n")
    got = d.text.split("\n")
    assert [g for i, g in enumerate(got) if i != line - 1] == [g for i, g in enumerate(good) if i != line - 1]
    assert got[line - 1] == "" and "\ufffd" not in d.text


def test_mixed_gbk_and_utf8_lines_each_decode():
    data = (b"jojo 2026-11-09 10:00:05\n" + "这件毛衣起球吗\n".encode("gbk")
            + "小鹿服饰:晴晴 2026-11-09 10:00:09\n".encode("gbk") + "不起球的哦，放心购买\n".encode())
    d = detect.decoded(data, "m.txt")
    assert d.text == "jojo 2026-11-09 10:00:05\n这件毛衣起球吗\n小鹿服饰:晴晴 2026-11-09 10:00:09\n不起球的哦，放心购买\n"
    assert d.encoding == "gb18030+lines" and d.damaged == [] and d.damaged_lines == 1  # one UTF-8 line


def test_damaged_gbk_file_keeps_its_agents_and_messages(tmp_path):
    (tmp_path / "g.txt").write_bytes(_damage("ff"))
    chats = ca.read_chats(tmp_path)
    m = chats.messages
    assert sorted(m["agent"].dropna().unique()) == ["小鹿服饰:晴晴", "小鹿服饰:木木", "小鹿服饰:阿青"]
    assert len(m) == 5 and not m["text"].str.contains("\ufffd").any()
    assert chats.rejects[["line", "reason"]].values.tolist() == [[2, "invalid GBK bytes at column 4"]]
    src = chats.sources.iloc[0]
    assert src["encoding"] == "gb18030+lines" and src["damaged_lines"] == 1 and src["rejects"] == 1


def test_nul_bytes_in_valid_utf8_cost_only_their_line(tmp_path):
    (tmp_path / "n.txt").write_bytes("jojo 2026-11-09 10:00:00\n在吗\n\x00\x00\n小鹿服饰:晴晴 2026-11-09 10:00:05\n在的\n".encode())
    chats = ca.read_chats(tmp_path)
    assert chats.messages["text"].tolist() == ["在吗", "在的"]
    assert chats.rejects[["line", "reason"]].values.tolist() == [[3, "NUL byte at column 1"]]
    assert chats.sources["damaged_lines"].tolist() == [1]


@pytest.mark.parametrize("cut", [0, 1])
def test_bomless_utf16_is_not_read_as_utf8_even_when_truncated(tmp_path, cut):
    data = "jojo 2026-11-09 10:00:00\n在吗\n小鹿服饰:晴晴 2026-11-09 10:00:05\n在的\n".encode("utf-16-le")
    (tmp_path / "u.txt").write_bytes(data[: len(data) - cut])
    chats = ca.read_chats(tmp_path)
    assert chats.sources["encoding"].tolist() == ["utf-16-le"]
    assert chats.messages["text"].tolist() == ["在吗", "在的"]
