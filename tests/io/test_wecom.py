"""The WeCom customer-service reader: golden containers, roles from origin, placeholders, rejects."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csaudit.io import wecom
from csaudit.io.base import PARSED_COLUMNS, RawFile, ReadContext
from csaudit.io.detect import decode
from tests.io.golden import comparable, expected, parse_file, raw_of, variants

COLS = ["sender", "ts", "text", "role", "shop", "customer", "agent"]


@pytest.mark.parametrize("path", variants("wecom"), ids=lambda p: p.name)
def test_golden_variants_give_the_expected_table(path):
    parsed = parse_file(wecom, path)
    assert parsed.rejects.empty, parsed.rejects.to_dict("records")
    m = parsed.messages
    assert tuple(m.columns) == PARSED_COLUMNS
    assert str(m["ts"].dt.tz) == "Asia/Shanghai"
    pd.testing.assert_frame_equal(comparable(m, COLS), expected("wecom")[COLS])
    assert m["line"].tolist() == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("path", variants("wecom"), ids=lambda p: p.name)
def test_golden_variants_are_sniffed(path):
    text, _ = decode(path.read_bytes(), path.name)
    assert wecom.sniff(RawFile(path.name, path.read_bytes()), text[:65536]) >= 0.9


def _msg(**kw):
    base = {"msgid": "m", "open_kfid": "wkA", "external_userid": "wmX", "send_time": 1794204187,
            "origin": 3, "msgtype": "text", "text": {"content": "在吗"}}
    base.update(kw)
    return base


def test_placeholders_for_other_message_types():
    items = [
        _msg(msgtype="image", image={"media_id": "x"}),
        _msg(msgtype="voice", voice={"media_id": "x"}),
        _msg(msgtype="file", file={"media_id": "x", "file_name": "尺码表.pdf"}),
        _msg(msgtype="location", location={"name": "杭州东站", "address": "浙江省杭州市"}),
        _msg(msgtype="link", link={"title": "新品上架", "url": "https://x"}),
        _msg(msgtype="miniprogram", miniprogram={"title": "小鹿商城"}),
        _msg(origin=5, servicer_userid="qq", msgtype="msgmenu",
             msgmenu={"head_content": "请评价", "list": [{"type": "click", "click": {"id": "1", "content": "满意"}}],
                      "tail_content": "谢谢"}),
        _msg(origin=4, msgtype="event", event={"event_type": "user_recall_msg"}),
        _msg(msgtype="channels_shop_order", channels_shop_order={}),
    ]
    m = wecom.parse(raw_of("kf.json", json.dumps({"msg_list": items}, ensure_ascii=False)), ReadContext()).messages
    assert m["text"].tolist() == [
        "[image]", "[voice]", "[file] 尺码表.pdf", "[location] 杭州东站 浙江省杭州市", "[link] 新品上架",
        "[miniprogram] 小鹿商城", "[msgmenu] 请评价 满意 谢谢", "[event:user_recall_msg]", "[channels_shop_order]",
    ]
    assert m["role"].tolist() == ["customer"] * 6 + ["agent", "system", "customer"]


def test_every_message_is_a_message_or_a_reject():
    items = [
        _msg(),                                             # 1 ok
        _msg(send_time="yesterday"),                        # 2 bad time
        _msg(origin=7),                                     # 3 unknown origin
        _msg(external_userid=""),                           # 4 no customer
        _msg(text={"content": "   "}),                      # 5 empty text
        "not an object",                                    # 6
        _msg(origin=5, servicer_userid=None),               # 7 agent side without servicer: a placeholder
        _msg(send_time=1794204187123),                      # 8 milliseconds accepted
        _msg(origin=4, msgtype="event", event={"event_type": "servicer_status_change",
                                               "servicer_userid": "qq"}, external_userid=None),  # 9 no customer
    ]
    parsed = wecom.parse(raw_of("kf.json", json.dumps({"msg_list": items}, ensure_ascii=False)), ReadContext())
    m, r = parsed.messages, parsed.rejects
    assert m["line"].tolist() == [1, 7, 8]
    assert m["sender"].tolist() == ["wmX", "wkA:未知客服", "wmX"]
    assert m["role"].tolist() == ["customer", "agent", "customer"]
    assert m["agent"].isna().all() and parsed.unknown_agent == 1
    assert m["ts"].dt.strftime("%H:%M:%S.%f").tolist()[2] == "14:03:07.123000"
    assert r["line"].tolist() == [2, 3, 4, 5, 6, 9]
    assert r["reason"].tolist() == [
        "send_time 'yesterday' is not epoch seconds",
        "unknown origin 7 (expected 3 customer, 4 system, 5 agent)",
        "no external_userid (no customer to file this message under)",
        "empty text",
        "a message must be a JSON object",
        "no external_userid (no customer to file this message under)",
    ]
    assert json.loads(r["raw"].iloc[0])["send_time"] == "yesterday"
    assert len(m) + len(r) == len(items)


def test_shop_falls_back_to_the_folder_name():
    item = _msg()
    del item["open_kfid"]
    m = wecom.parse(RawFile("exports/小鹿服饰/kf.json", json.dumps([item]).encode()), ReadContext()).messages
    assert m["shop"].tolist() == ["小鹿服饰"]
    m = wecom.parse(RawFile("kf.json", json.dumps([item]).encode()), ReadContext()).messages
    assert m["shop"].isna().all()


def test_timezone_is_the_requested_one():
    m = wecom.parse(raw_of("kf.json", json.dumps([_msg()])), ReadContext(tz="UTC")).messages
    assert m["ts"].dt.strftime("%Y-%m-%d %H:%M:%S%z").tolist() == ["2026-11-09 06:03:07+0000"]


def test_truncated_and_broken_json():
    text = json.dumps({"msg_list": [_msg(), _msg()]}, indent=2)
    cut = text[: len(text) // 2]
    parsed = wecom.parse(raw_of("kf.json", cut), ReadContext())
    assert parsed.messages.empty and len(parsed.rejects) == 1
    assert parsed.rejects["reason"].iloc[0].startswith("not valid JSON")
    assert parsed.rejects["line"].iloc[0] == cut.count("\n") + 1
    jl = json.dumps(_msg()) + "\n{broken\n\n" + json.dumps(_msg(origin=5, servicer_userid="qq")) + "\n"
    parsed = wecom.parse(raw_of("kf.jsonl", jl), ReadContext())
    assert parsed.messages["line"].tolist() == [1, 4]
    assert parsed.rejects["line"].tolist() == [2]


@pytest.mark.parametrize("text", ["", "[]", '{"msg_list": []}', '{"foo": {"bar": 1}}', "42"])
def test_empty_or_other_shapes(text):
    parsed = wecom.parse(raw_of("x.json", text), ReadContext())
    assert parsed.messages.empty and tuple(parsed.messages.columns) == PARSED_COLUMNS
    other = text in ('{"foo": {"bar": 1}}', "42")
    assert len(parsed.rejects) == (1 if other else 0)


def test_sniff_other_formats():
    qn = '{"user": "u", "exportTime": "x", "chats": [{"date": "2026-11-09", "sender": "u"}]}'
    assert wecom.sniff(raw_of("q.json", qn), qn) == 0.0
    assert wecom.sniff(RawFile("g", b"\x00\x01"), None) == 0.0


def test_read_chats_wecom_folder(tmp_path):
    import csaudit as ca

    for p in variants("wecom"):
        if p.suffix == ".json":
            (tmp_path / p.name).write_bytes(p.read_bytes())
    chats = ca.read_chats(tmp_path)
    assert set(chats.sources["format"]) == {"wecom-kf"} and chats.rejects.empty
    m = chats.messages
    assert len(m) == 6 and chats.duplicates == 6 * (len(chats.sources) - 1)
    assert m["role"].astype("str").tolist() == ["customer", "system", "agent", "customer", "agent", "customer"]
    assert m["agent"].fillna("").tolist() == ["", "", "qingqing", "", "qingqing", ""]
    assert set(m["customer"]) == {"wmJojo2020"} and set(m["shop"]) == {"wkXiaolu01"}
    assert m["conversation_id"].nunique() == 1


def test_loop_and_column_paths_agree():
    from csaudit.io.wecom import _Broken, _frame

    items = [
        _msg(), _msg(send_time="yesterday"), _msg(origin=7), _msg(external_userid=""), _msg(text={"content": " "}),
        "not an object", _msg(origin=5, servicer_userid=None), _msg(send_time=1794204187123),
        _msg(send_time=1794204187.25), _msg(send_time=True), _msg(origin="5", servicer_userid="qq"),
        _msg(origin=4, msgtype="event", event={"event_type": "enter_session", "external_userid": "wmY"},
             external_userid=None),
        _msg(msgtype="file", file={"file_name": "a.pdf"}), _msg(msgtype=None), _Broken("{x", "not valid JSON"),
    ]
    loop = _frame(items, "folder", "Asia/Shanghai", loop_max=100)
    cols = _frame(items, "folder", "Asia/Shanghai", loop_max=0)
    assert loop[1].tolist() == cols[1].tolist()
    ok = loop[1] == ""
    pd.testing.assert_frame_equal(loop[0][ok].reset_index(drop=True), cols[0][ok].reset_index(drop=True))
    assert ok.sum() == 8


_vals = st.one_of(st.none(), st.booleans(), st.integers(-3, 2 * 10**12), st.floats(allow_nan=True),
                  st.sampled_from(["", "3", "5", "wmX", "qq", "1794204187", "text", "image", "event"]))
_items = st.one_of(
    st.fixed_dictionaries({}, optional={k: _vals for k in ("send_time", "origin", "external_userid",
                                                          "servicer_userid", "open_kfid", "msgtype")}
                          ).map(lambda d: {**d, "text": {"content": "在吗"}}),
    st.builds(lambda o, t: _msg(origin=o, send_time=t), st.sampled_from([3, 4, 5, 6, "3"]), _vals),
    _vals)


@settings(max_examples=50, deadline=None)
@given(items=st.lists(_items, max_size=12), big=st.booleans())
def test_property_every_message_is_accounted_for_and_both_paths_agree(items, big):
    from csaudit.io.wecom import _frame

    loop = _frame(items, "f", "Asia/Shanghai", loop_max=100)
    cols = _frame(items, "f", "Asia/Shanghai", loop_max=0)
    assert loop[1].tolist() == cols[1].tolist()
    ok = loop[1] == ""
    pd.testing.assert_frame_equal(loop[0][ok].reset_index(drop=True), cols[0][ok].reset_index(drop=True))
    parsed = wecom.parse(raw_of("kf.json", json.dumps({"msg_list": items})), ReadContext())
    assert sorted(parsed.messages["line"].tolist() + parsed.rejects["line"].tolist()) == list(range(1, len(items) + 1))


def test_agent_messages_without_servicer_or_shop_are_kept_and_counted():
    item = _msg(origin=5, servicer_userid=None)
    del item["open_kfid"]
    raw = RawFile("kf.json", json.dumps([_msg(), item]).encode())
    parsed = wecom.parse(raw, ReadContext())
    assert len(parsed.rejects) == 0 and parsed.unknown_agent == 1
    assert parsed.messages["sender"].tolist() == ["wmX", "未知店铺:未知客服"]
