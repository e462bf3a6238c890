"""The per-customer JSON reader: golden variants, encodings, rejects, hostile input."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import csaudit as ca
from csaudit.io import qianniu_json as qj
from csaudit.io.base import PARSED_COLUMNS, RawFile, ReadContext
from csaudit.io.detect import decode
from tests.io.golden import comparable, expected, parse_file, raw_of, variants

COLS = ["sender", "ts", "text", "customer"]


@pytest.mark.parametrize("path", variants("qianniu_json"), ids=lambda p: p.name)
def test_golden_variants_give_the_expected_table(path):
    parsed = parse_file(qj, path)
    assert parsed.rejects.empty, parsed.rejects.to_dict("records")
    m = parsed.messages
    assert tuple(m.columns) == PARSED_COLUMNS
    pd.testing.assert_frame_equal(comparable(m, COLS), expected("qianniu_json")[COLS])
    assert m["line"].tolist() == [1, 2, 3, 4, 5]
    assert m["role"].isna().all() and m["agent"].isna().all()  # left to the shared sender rules


@pytest.mark.parametrize("path", variants("qianniu_json"), ids=lambda p: p.name)
def test_golden_variants_are_sniffed(path):
    text, _ = decode(path.read_bytes(), path.name)
    assert qj.sniff(RawFile(path.name, path.read_bytes()), text[:65536]) >= 0.9


def test_encodings_are_reported():
    enc = {p.name: parse_file(qj, p).encoding for p in variants("qianniu_json")}
    assert enc == {"compact_gbk.json": "gb18030", "fulltime_bom.json": "utf-8-sig",
                   "list_escaped.json": "utf-8", "pretty_utf8.json": "utf-8"}


def test_image_only_record_gets_placeholder_and_text_wins_over_image():
    doc = {"user": "u1", "chats": [
        {"date": "2026-11-09", "time": "10:00:00", "sender": "u1", "text": "", "imgUrl": "https://x/1.jpg"},
        {"date": "2026-11-09", "time": "10:00:01", "sender": "u1", "text": "看这个", "imgUrl": "https://x/2.jpg"},
    ]}
    m = qj.parse(raw_of("u1.json", json.dumps(doc)), ReadContext()).messages
    assert m["text"].tolist() == [qj.IMAGE_TEXT, "看这个"] and qj.IMAGE_TEXT == "[图片]"


def test_every_record_is_a_message_or_a_reject():
    recs = [
        {"date": "2026-11-09", "time": "10:00:00", "sender": "u1", "text": "在吗"},          # 1 ok
        {"date": "2026-11-09", "time": "10:00:01", "sender": "u1", "text": ""},             # 2 no text
        {"date": "2026-11-09", "time": "25:00:00", "sender": "u1", "text": "x"},            # 3 bad time
        {"time": "", "sender": "u1", "text": "x"},                                          # 4 no time
        ["not", "an", "object"],                                                            # 5
        {"date": "2026-11-09", "time": "10:00:02", "text": "谁说的"},                        # 6 no sender
        {"date": "2026-11-09", "time": "10:00:03", "sender": 12345, "text": 678},          # 7 ok (numbers)
        {"date": "2026-11-09", "time": "10:00:04", "sender": "店:客服", "text": "好", "role": "客服"},  # 8 ok
    ]
    parsed = qj.parse(raw_of("u1.json", json.dumps({"user": "u1", "chats": recs}, ensure_ascii=False)),
                      ReadContext())
    m, r = parsed.messages, parsed.rejects
    assert m["line"].tolist() == [1, 7, 8]
    assert m["sender"].tolist() == ["u1", "12345", "店:客服"] and m["text"].tolist() == ["在吗", "678", "好"]
    assert m["role"].fillna("NA").tolist() == ["NA", "NA", "agent"]
    assert m["agent"].fillna("NA").tolist() == ["NA", "NA", "店:客服"]
    assert r["line"].tolist() == [2, 3, 4, 5, 6]
    assert r["reason"].tolist() == [
        "no text and no image",
        "date/time '2026-11-09 25:00:00' is not a date/time",
        "no date/time",
        "a chat record must be a JSON object",
        "no sender",
    ]
    assert json.loads(r["raw"].iloc[0]) == recs[1]
    assert len(m) + len(r) == len(recs)


def test_truncated_json_is_one_reject_at_the_error_line():
    path = next(p for p in variants("qianniu_json") if p.name == "pretty_utf8.json")
    text = path.read_text(encoding="utf-8")
    cut = text[: text.index("亲，不起球")]
    parsed = qj.parse(raw_of("cut.json", cut), ReadContext())
    assert parsed.messages.empty
    assert len(parsed.rejects) == 1
    line = cut.count("\n") + 1
    assert parsed.rejects["line"].iloc[0] == line
    assert parsed.rejects["reason"].iloc[0].startswith(f"not valid JSON: Unterminated string starting at (line {line}, column")
    assert qj.sniff(raw_of("cut.json", cut), cut) >= 0.9  # still recognised, so the reject is reported


@pytest.mark.parametrize("text", ["", "  \n", "[]", '{"user": "u"}', '"just a string"', "null"])
def test_empty_or_other_shapes(text):
    parsed = qj.parse(raw_of("x.json", text), ReadContext())
    assert parsed.messages.empty and tuple(parsed.messages.columns) == PARSED_COLUMNS
    assert len(parsed.rejects) == (0 if not text.strip() else 1)
    if text.strip():
        assert parsed.rejects["reason"].iloc[0].startswith('expected {"user": ..., "chats": [...]}')


def test_empty_chats_list():
    parsed = qj.parse(raw_of("x.json", '{"user": "u", "chats": []}'), ReadContext())
    assert parsed.messages.empty and parsed.rejects.empty


def test_binary_garbage_never_raises():
    garbage = bytes(range(256)) * 10
    assert qj.sniff(RawFile("g", garbage), None) == 0.0
    parsed = qj.parse(RawFile("g.json", garbage), ReadContext())
    assert parsed.messages.empty and len(parsed.rejects) == 1


def test_several_customers_in_one_file_keep_counting_records():
    docs = [{"user": "a", "chats": [{"date": "2026-11-09", "time": "10:00:00", "sender": "a", "text": "1"}]},
            {"user": "b", "chats": [{"date": "2026-11-09", "time": "11:00:00", "sender": "b", "text": "2"},
                                    {"date": "2026-11-09", "time": "11:00:05", "sender": "店:阿青", "text": "3"}]}]
    m = qj.parse(raw_of("ab.json", json.dumps(docs, ensure_ascii=False)), ReadContext()).messages
    assert m["line"].tolist() == [1, 2, 3] and m["customer"].tolist() == ["a", "b", "b"]


def test_sniff_other_formats():
    wecom = '{"errcode": 0, "msg_list": [{"send_time": 1, "origin": 3}]}'
    assert qj.sniff(raw_of("w.json", wecom), wecom) == 0.0
    csv_text = "时间,发送人,内容\n"
    assert qj.sniff(raw_of("c.csv", csv_text), csv_text) == 0.0


def test_read_chats_zip_of_per_customer_files(tmp_path):
    import zipfile

    import csaudit as ca

    with zipfile.ZipFile(tmp_path / "json.zip", "w") as zf:
        for p in variants("qianniu_json"):
            zf.writestr(f"export/{p.name}", p.read_bytes())
    chats = ca.read_chats(tmp_path / "json.zip")
    assert set(chats.sources["format"]) == {"qianniu-json"} and chats.rejects.empty
    m = chats.messages
    assert len(m) == 5 and chats.duplicates == 5 * (len(variants("qianniu_json")) - 1)
    assert m["role"].astype("str").tolist() == ["customer", "customer", "agent", "agent", "customer"]
    assert m["agent"].fillna("").tolist() == ["", "", "小鹿服饰:晴晴", "小鹿服饰:晴晴", ""]  # both colon widths
    assert set(m["customer"]) == {"jojo_2020"} and set(m["shop"]) == {"小鹿服饰"}
    assert m["text"].tolist()[1] == "[图片]"


def test_loop_and_column_paths_agree():
    from csaudit.io.qianniu_json import _parse_records

    recs = [
        {"date": "2026-11-09", "time": "10:00:00", "sender": "u1", "text": "在吗"},
        {"date": "2026/11/9", "time": "10:00:01.5", "sender": "店:阿青", "text": "", "imgUrl": "x.jpg", "role": "客服"},
        {"time": "2026-11-09T02:00:02Z", "sender": "u1", "text": "好"},
        {"date": "2026-11-09", "time": "25:00:00", "sender": "u1", "text": "x"},
        {"date": "2026-02-30", "time": "10:00:00", "sender": "u1", "text": "x"},
        {"time": "1794204187", "sender": 7, "text": 8.5},
        {"date": "2026-11-09", "time": "10:00:04", "sender": "", "text": "x"},
        {"date": "", "time": "", "sender": "u1", "text": "x"},
        [1, 2],
        {"date": "2026-11-09", "time": "10:00:05", "sender": "u1", "text": "  "},
        {"date": "2026年11月9日", "time": "10:00", "sender": "u2", "text": "甲", "role": "??"},
    ]
    users = ["u1"] * len(recs)
    loop = _parse_records(recs, users, "Asia/Shanghai", loop_max=100)
    cols = _parse_records(recs, users, "Asia/Shanghai", loop_max=0)
    pd.testing.assert_frame_equal(loop[0], cols[0])
    pd.testing.assert_frame_equal(loop[1], cols[1])
    assert loop[0]["line"].tolist() == [1, 2, 3, 6, 11]
    assert loop[1]["line"].tolist() == [4, 5, 7, 8, 9, 10]


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**13), st.floats(allow_nan=True),
                     st.sampled_from(["", " ", "2026-11-09", "14:03:07", "2026-11-09 14:03:07", "25:00", "u1",
                                      "店:阿青", "客服", "好的\n谢谢", "x.jpg"]))
_records = st.one_of(
    st.dictionaries(st.sampled_from(["date", "time", "sender", "text", "imgUrl", "role", "extra"]), _scalars),
    _scalars, st.lists(_scalars, max_size=2))


@settings(max_examples=80, deadline=None)
@given(recs=st.lists(_records, max_size=12), big=st.booleans())
def test_property_every_record_is_accounted_for(recs, big):
    from csaudit.io.qianniu_json import _parse_records

    m, r = _parse_records(recs, ["u1"] * len(recs), "Asia/Shanghai", loop_max=0 if big else 100)
    assert sorted(m["line"].tolist() + r["line"].tolist()) == list(range(1, len(recs) + 1))
    assert (m["text"].str.strip() != "").all() and (m["sender"] != "").all() and m["ts"].notna().all()


@pytest.mark.parametrize(("value", "reason"), [
    (["10:00"], "field 'time' must be a string, found a JSON array"),
    (float("nan"), "field 'time' must be a string, found NaN"),
    ({"h": 10}, "field 'time' must be a string, found a JSON object"),
    (True, "field 'time' must be a string, found a JSON boolean"),
])
@pytest.mark.parametrize("loop_max", [100, 0])
def test_wrong_typed_fields_are_rejects_not_midnight(value, reason, loop_max):
    from csaudit.io.qianniu_json import _parse_records

    recs = [{"date": "2026-11-09", "time": value, "sender": "jojo", "text": "在吗"},
            {"date": "2026-11-09", "time": "10:00:05", "sender": "jojo", "text": "好的"}]
    m, r = _parse_records(recs, ["jojo"] * 2, "Asia/Shanghai", loop_max=loop_max)
    assert m["text"].tolist() == ["好的"] and r["reason"].tolist() == [reason] and r["line"].tolist() == [1]


@pytest.mark.parametrize(("chats", "found"), [({"a": 1}, "a JSON object"), ("x", "a JSON string"), (None, "null")])
def test_chats_of_another_type_get_the_readers_reason(tmp_path, chats, found):
    (tmp_path / "c.json").write_text(json.dumps({"user": "jojo", "exportTime": "2026-11-10", "chats": chats}))
    rejects = ca.read_chats(tmp_path).rejects
    assert rejects["reason"].tolist() == [f'"chats" must be a list of chat records, found {found}']
