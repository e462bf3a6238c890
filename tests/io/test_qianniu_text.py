"""qianniu-text reader: golden variants, header variants, rejects, line accounting."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import csaudit as ca
from csaudit.io import qianniu_text
from csaudit.io.base import RawFile, ReadContext
from tests.io.golden import GOLDEN, comparable, expected, variants

COLUMNS = ["sender", "ts", "role", "agent", "shop", "customer", "text"]


@pytest.mark.parametrize("path", variants("qianniu_text"), ids=lambda p: p.name)
def test_golden_variants_give_the_expected_table(path):
    chats = ca.read_chats(path)
    assert chats.sources["format"].tolist() == ["qianniu-text"]
    assert len(chats.rejects) == 0
    got = comparable(chats.messages.sort_values("line"), COLUMNS)
    pd.testing.assert_frame_equal(got, expected("qianniu_text")[COLUMNS], check_dtype=False)


def test_golden_encodings_are_detected():
    chats = ca.read_chats(GOLDEN / "qianniu_text")
    enc = dict(zip(chats.sources["source"].str.rsplit("/", n=1).str[-1], chats.sources["encoding"], strict=True))
    assert enc["v1_canonical.txt"] == "utf-8"
    assert enc["v2_slash_dates_gbk_crlf.txt"] == "gb18030"
    assert enc["v3_two_line_headers_utf8_bom.txt"] == "utf-8-sig"
    assert enc["v4_no_space_compact_utf16.txt"] == "utf-16-le"


def test_same_messages_from_every_variant_have_the_same_ids():
    ids = [ca.read_chats(p).messages.sort_values("line")["message_id"].tolist() for p in variants("qianniu_text")]
    assert all(x == ids[0] for x in ids[1:])
    assert len(set(ids[0])) == len(ids[0])


def _parse(text: str, **kw):
    return qianniu_text.parse(RawFile("t.txt", text.encode("utf-8")), ReadContext(**kw))


def test_header_variants_and_multiline():
    p = _parse(
        "小店:阿青 2026-11-09 09:00:00\n你好\n\n第二行\n\n"
        "buyer 2026/1/5 8:01:02\n在吗\n"
        "buyer2026-01-05 08:01:09\n 缩进保留\n"
        "小店：阿青\n2026-01-05 08:02:00\n好的\n"
    )
    m = p.messages
    assert m["sender"].tolist() == ["小店:阿青", "buyer", "buyer", "小店：阿青"]
    assert m["text"].tolist() == ["你好\n\n第二行", "在吗", " 缩进保留", "好的"]
    assert m["line"].tolist() == [1, 6, 8, 10]
    assert m["ts"].tolist() == [
        pd.Timestamp("2026-11-09 09:00:00"),
        pd.Timestamp("2026-01-05 08:01:02"),
        pd.Timestamp("2026-01-05 08:01:09"),
        pd.Timestamp("2026-01-05 08:02:00"),
    ]
    assert len(p.rejects) == 0


def test_text_before_first_header_and_impossible_dates_are_rejects():
    p = _parse(
        "导出时间 今天\n当前用户来自 手机淘宝\nbuyer 2026-02-30 10:00:00\n坏日期的内容\n"
        "buyer 2026-03-01 10:00:00\n好的\n"
    )
    assert p.messages["text"].tolist() == ["当前用户来自 手机淘宝", "好的"]
    assert p.messages["role"].isna().tolist() == [False, True]
    assert p.messages["role"].iloc[0] == "system"
    rej = p.rejects
    assert rej["line"].tolist() == [1, 3, 4]
    assert "before the first message header" in rej["reason"].iloc[0]
    assert "impossible date" in rej["reason"].iloc[1]
    assert rej["reason"].iloc[2] == "content of the rejected header at line 3"


def test_every_non_blank_line_is_accounted_for():
    text = (GOLDEN / "qianniu_text" / "v1_canonical.txt").read_text(encoding="utf-8")
    text = "垃圾行\n" + text + "buyer 2026-13-01 00:00:00\n孤儿内容\n"
    p = _parse(text)
    lines = text.split("\n")
    non_blank = {i + 1 for i, ln in enumerate(lines) if ln.strip()}
    # v1 has one-line headers only: each message row is one header line, each system row one line
    n_content = sum(t.count("\n") + 1 for t in p.messages.loc[p.messages["role"].isna(), "text"] if t)
    n_content -= sum(t.count("\n\n") for t in p.messages["text"])  # inner blank lines are not counted
    assert len(p.messages) + n_content + len(p.rejects) == len(non_blank)


def test_empty_input_gives_empty_tables():
    p = _parse("")
    assert len(p.messages) == 0 and len(p.rejects) == 0
    assert list(p.messages.columns)[:4] == ["line", "sender", "ts", "text"]


def test_sniff_scores():
    raw = RawFile("x", b"")
    assert qianniu_text.sniff(raw, "buyer 2026-11-09 10:00:00\nhi\n") > 0.5
    assert qianniu_text.sniff(raw, "2026-11-09\n10:00:00\nhi\nbuyer\n") < 0.2
    assert qianniu_text.sniff(raw, None) == 0.0


def test_civil_to_ns_matches_pandas():
    y, mo, d = np.array([2024, 2026, 2000, 2100]), np.array([2, 11, 2, 2]), np.array([29, 9, 29, 29])
    ts, valid = qianniu_text.civil_to_ns(y, mo, d, np.array([0, 14, 23, 0]), np.array([0, 3, 59, 0]), np.array([0, 7, 59, 0]))
    assert valid.tolist() == [True, True, True, False]
    assert pd.Timestamp(ts[0]) == pd.Timestamp("2024-02-29")
    assert pd.Timestamp(ts[1]) == pd.Timestamp("2026-11-09 14:03:07")
    assert pd.Timestamp(ts[2]) == pd.Timestamp("2000-02-29 23:59:59")


@pytest.mark.parametrize("data", [b"a\n", b"ab", b"12345\n", b"\n\n"])
def test_files_shorter_than_a_time_are_parsed_not_crashed(data):
    parsed = qianniu_text.parse(RawFile("tiny.txt", data), ReadContext())
    assert len(parsed.messages) == 0
    assert parsed.rejects["line"].tolist() == ([] if data == b"\n\n" else [1])


def test_system_mask_and_headers_match_python_re_on_repeated_lines():
    import re

    import numpy as np

    from csaudit.config import Config
    from csaudit.io.qianniu_text import HEADER_RE, find_headers, split_lines, system_mask

    pats = Config().roles.system_patterns
    rx = [re.compile(p) for p in pats]
    hx = re.compile(HEADER_RE)
    pool = ["好的", "jojo 撤回了一条消息", "当前用户来自 手机淘宝", "x当前用户来自", "系统消息", "", "  ",
            "buyer_1 2025/11/9 8:12:37", "小鹿服饰：晴晴 2025-1-19 18:02:03", "a 2025-11/9 8:12:37",
            "2025/11/9 8:12:37", "b 2025/11/9  8:12:37", "c\t2025/11/09 08:12:37 ", "2025-13-01 10:00:00"]
    rng = np.random.default_rng(2)
    for _ in range(50):
        lines = [pool[i] for i in rng.integers(0, len(pool), int(rng.integers(1, 40)))]
        ls = split_lines(("\n".join(lines) + "\n").encode())
        assert len(ls) == len(lines)
        cand = rng.random(len(lines)) < 0.8
        got = system_mask(ls, pats, cand)
        assert got.tolist() == [bool(c) and any(r.search(s) for r in rx) for s, c in zip(lines, cand, strict=True)]
        idx, comps, _ = find_headers(ls)
        want = [i for i, s in enumerate(lines) if hx.match(s.rstrip())]
        assert idx.tolist() == want
        for j, i in enumerate(idx):
            m = hx.match(lines[i].rstrip())
            assert comps[:, j].tolist() == [int(m.group(k)) for k in ("y", "mo", "d", "h", "mi", "s")]


def test_a_date_typed_under_a_header_is_content_not_a_phantom_sender():
    text = "jojo 2026-11-09 10:00:00\n我的订单\n2026-11-08 09:00:00\n小鹿服饰:晴晴 2026-11-09 10:00:05\n好的\n"
    parsed = qianniu_text.parse(RawFile("a.txt", text.encode()), ReadContext())
    m = parsed.messages
    assert m["sender"].tolist() == ["jojo", "小鹿服饰:晴晴"]
    assert m["text"].tolist() == ["我的订单\n2026-11-08 09:00:00", "好的"]
    assert len(parsed.rejects) == 0


def test_a_sender_line_after_content_still_heads_a_two_line_message():
    text = ("jojo 2026-11-09 10:00:00\n在吗\n小鹿服饰:晴晴\n2026-11-09 10:00:05\n在的\n"
            "kiki\n2026-11-09 10:01:00\n我也问下\n")
    m = qianniu_text.parse(RawFile("a.txt", text.encode()), ReadContext()).messages
    assert m["sender"].tolist() == ["jojo", "小鹿服饰:晴晴", "kiki"]
    assert m["text"].tolist() == ["在吗", "在的", "我也问下"]
