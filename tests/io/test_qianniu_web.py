"""qianniu-web reader: golden variants, block structure, rejects."""

from __future__ import annotations

import pandas as pd
import pytest

import csaudit as ca
from csaudit.io import qianniu_web
from csaudit.io.base import RawFile, ReadContext
from tests.io.golden import GOLDEN, comparable, expected, variants

COLUMNS = ["sender", "ts", "role", "agent", "shop", "customer", "text"]


@pytest.mark.parametrize("path", variants("qianniu_web"), ids=lambda p: p.name)
def test_golden_variants_give_the_expected_table(path):
    chats = ca.read_chats(path)
    assert chats.sources["format"].tolist() == ["qianniu-web"]
    assert len(chats.rejects) == 0
    got = comparable(chats.messages.sort_values("line"), COLUMNS)
    pd.testing.assert_frame_equal(got, expected("qianniu_web")[COLUMNS], check_dtype=False)


def test_web_and_client_text_of_the_same_chat_give_the_same_ids():
    web = ca.read_chats(GOLDEN / "qianniu_web" / "v1_iso_date.txt").messages
    txt = ca.read_chats(GOLDEN / "qianniu_text" / "v1_canonical.txt").messages
    w = web[web["role"] != "system"]["message_id"].tolist()
    t = txt[txt["role"] != "system"]["message_id"].tolist()
    assert w == t


def _parse(text: str):
    return qianniu_web.parse(RawFile("w.txt", text.encode("utf-8")), ReadContext())


def test_blocks_dates_and_multiline():
    p = _parse("2026年1月5日\n23:59:58\n第一行\n第二行\nbuyer\n2026-01-06\n00:00:03\n好\n店:阿青\n")
    m = p.messages
    assert m["sender"].tolist() == ["buyer", "店:阿青"]
    assert m["text"].tolist() == ["第一行\n第二行", "好"]
    assert m["ts"].tolist() == [pd.Timestamp("2026-01-05 23:59:58"), pd.Timestamp("2026-01-06 00:00:03")]
    assert m["line"].tolist() == [2, 7]
    assert len(p.rejects) == 0


def test_rejects_lines_outside_blocks():
    p = _parse("导出记录\n10:00:00\n没有日期\nbuyer\n2026-01-05\n孤立的行\n10:00:01\n10:00:02\n好\nbuyer\n")
    assert p.messages["text"].tolist() == ["好"]
    rej = dict(zip(p.rejects["line"], p.rejects["reason"], strict=True))
    assert sorted(rej) == [1, 2, 3, 4, 6, 7]
    assert "before the first date line" in rej[1] and "before the first date line" in rej[2]
    assert "outside a message block" in rej[6]
    assert "without a sender line" in rej[7]


def test_sniff_scores():
    raw = RawFile("x", b"")
    assert qianniu_web.sniff(raw, "2026-11-09\n10:00:00\nhi\nbuyer\n") > 0.5
    assert qianniu_web.sniff(raw, "buyer 2026-11-09 10:00:00\nhi\n") == 0.0
