"""The chat-table reader (CSV/TSV/XLSX): golden variants, encodings, line numbers, hostile input."""

from __future__ import annotations

import csv
import io

import openpyxl
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import csaudit as ca
from csaudit.io import common, table
from csaudit.io.base import InputError, RawFile, ReadContext
from tests.io.golden import comparable, expected, parse_file, raw_of, variants

COLS = ["sender", "ts", "text", "role", "customer", "agent"]


@pytest.mark.parametrize("path", variants("table"), ids=lambda p: p.name)
def test_golden_variants_give_the_expected_table(path):
    parsed = parse_file(table, path)
    # a title line above the header is kept as a reject (checked below); nothing else is rejected
    assert set(parsed.rejects["reason"]) <= {"line before the header row"}, parsed.rejects.to_dict("records")
    pd.testing.assert_frame_equal(comparable(parsed.messages, COLS), expected("table")[COLS])


@pytest.mark.parametrize("path", variants("table"), ids=lambda p: p.name)
def test_golden_variants_are_sniffed_as_table(path):
    from csaudit.io.detect import decode

    text, _ = decode(path.read_bytes(), path.name)
    assert table.sniff(RawFile(path.name, path.read_bytes()), text) >= 0.9


def test_encodings_are_reported():
    enc = {p.name: parse_file(table, p).encoding for p in variants("table")}
    assert enc["cn_utf8.csv"] == "utf-8"
    assert enc["cn_bom.csv"] == "utf-8-sig"
    assert enc["cn_gbk_split_datetime.csv"] == "gb18030"


def test_line_numbers_count_multiline_cells_and_title_lines():
    by_name = {p.name: p for p in variants("table")}
    lines = parse_file(table, by_name["cn_utf8.csv"]).messages["line"].tolist()
    assert lines == [2, 4, 5, 6]  # first message spans lines 2-3
    lines = parse_file(table, by_name["title_line_ms.csv"]).messages["line"].tolist()
    assert lines == [4, 6, 7, 8]  # title, blank line, header, then a two-line cell


def test_title_line_is_a_reject_not_lost():
    path = next(p for p in variants("table") if p.name == "title_line_ms.csv")
    rej = parse_file(table, path).rejects
    assert rej[["line", "reason"]].to_dict("records") == [{"line": 1, "reason": "line before the header row"}]


def _xlsx(rows: list[list[object]]) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_xlsx_with_real_datetime_cells_gives_the_expected_table():
    exp = expected("table")
    rows = [["时间", "发送人", "内容", "角色", "客户"]]
    for r in exp.itertuples():
        rows.append([r.ts.tz_localize(None).to_pydatetime(), r.sender, r.text,
                     "客服" if r.role == "agent" else "顾客", r.customer])
    rows.insert(3, [None, None, None, None, None])  # a blank row in the middle is skipped
    raw = RawFile("chats.xlsx", _xlsx(rows))
    assert table.sniff(raw, None) >= 0.9
    parsed = table.parse(raw, ReadContext())
    assert parsed.encoding is None and parsed.rejects.empty
    pd.testing.assert_frame_equal(comparable(parsed.messages, COLS), exp[COLS])
    assert parsed.messages["line"].tolist() == [2, 3, 5, 6]  # sheet row numbers


def test_xlsx_bad_rows_are_rejected_with_their_sheet_row():
    raw = RawFile("c.xlsx", _xlsx([["时间", "发送人", "内容"], ["2026-11-09 10:00:00", "a", "hi"],
                                   ["yesterday", "a", "x"], ["2026-11-09 10:01:00", "a", None]]))
    parsed = table.parse(raw, ReadContext())
    assert parsed.messages["text"].tolist() == ["hi"]
    assert parsed.rejects[["line", "raw", "reason"]].to_dict("records") == [
        {"line": 3, "raw": "yesterday\ta\tx", "reason": "time 'yesterday' is not a date/time"},
        {"line": 4, "raw": "2026-11-09 10:01:00\ta", "reason": "no text"},
    ]


def test_explicit_columns_mapping_wins_over_recognition():
    text = "when,who,what,msg_type\n2026-11-09 10:00:00,小鹿服饰:晴晴,您好,1\n2026-11-09 10:00:05,jojo,在吗,0\n"
    parsed = table.parse(raw_of("x.csv", text), ReadContext(columns={"ts": "when", "sender": "who", "text": "what",
                                                                     "role": "msg_type"}))
    m = parsed.messages
    assert m["sender"].tolist() == ["小鹿服饰:晴晴", "jojo"]
    assert m["role"].tolist() == ["agent", "customer"]
    assert m["agent"].tolist()[0] == "小鹿服饰:晴晴" and pd.isna(m["agent"].iloc[1])
    assert m["ts"].dt.second.tolist() == [0, 5]


def test_unknown_mapped_column_names_file_and_headers():
    with pytest.raises(InputError) as err:
        table.parse(raw_of("dir/x.csv", "时间,发送人,内容\n"), ReadContext(columns={"text": "聊天内容"}))
    msg = str(err.value)
    assert msg.startswith("dir/x.csv:") and "'聊天内容'" in msg and "'时间', '发送人', '内容'" in msg
    with pytest.raises(InputError, match="unknown column 'txt'"):
        table.parse(raw_of("x.csv", "时间,发送人,内容\n"), ReadContext(columns={"txt": "内容"}))


def test_no_text_column_is_a_clear_error():
    with pytest.raises(InputError, match=r"x\.csv:1: a text/content column.*'foo', 'bar'"):
        table.parse(raw_of("x.csv", "foo,bar\n1,2\n"), ReadContext())


@pytest.mark.parametrize("header", ["时间,内容", "时间,客户,客服,内容"])
def test_no_way_to_tell_the_sender_is_a_clear_error(header):
    with pytest.raises(InputError, match=r"y\.csv:1: a sender column .*headers are '时间'"):
        table.parse(raw_of("y.csv", header + "\n"), ReadContext())


def test_header_only_and_empty_files_give_zero_messages():
    for text in ("时间,发送人,内容\n", "", "\n\n  \n"):
        parsed = table.parse(raw_of("h.csv", text), ReadContext())
        assert len(parsed.messages) == 0 and len(parsed.rejects) == 0
        assert list(parsed.messages.columns) == list(common.empty_parsed().columns)


def test_timestamps_are_optional():
    parsed = table.parse(raw_of("n.csv", "发送人,内容\njojo,在吗\n小鹿服饰:晴晴,在的\n"), ReadContext())
    assert parsed.messages["ts"].isna().all() and len(parsed.messages) == 2


def test_every_row_is_a_message_or_a_reject():
    text = (
        "时间,发送人,内容,角色\n"
        "2026-11-09 10:00:00,jojo,在吗,顾客\n"      # 2 ok
        "2026-11-09 10:00:05,小鹿服饰:晴晴,,客服\n"  # 3 no text
        "2026-02-30 10:00:05,jojo,日期不存在,顾客\n"  # 4 bad date
        "\n"                                        # 5 blank: skipped
        "2026-11-09 10:01:00,jojo,\"带逗号,的\n多行\",顾客\n"  # 6-7 ok
        "2026-11-09 10:02:00,,没有发送人,\n"          # 8 no sender
        "2026-11-09 10:03:00,jojo,多了一列,顾客,extra\n"  # 9 too many cells
        "2026-11-09 10:04:00,jojo,好的,未知角色\n"     # 10 ok, role unknown -> NA
    )
    parsed = table.parse(raw_of("a.csv", text), ReadContext())
    m, r = parsed.messages, parsed.rejects
    assert m["line"].tolist() == [2, 6, 10]
    assert m["text"].tolist() == ["在吗", "带逗号,的\n多行", "好的"]
    assert pd.isna(m["role"].iloc[2])
    assert r["line"].tolist() == [3, 4, 8, 9]
    assert r["reason"].tolist() == [
        "no text",
        "time '2026-02-30 10:00:05' is not a date/time",
        "no sender (empty sender cell and no role/customer/agent to derive it from)",
        "5 cells, the header has 4",
    ]
    assert r["raw"].iloc[3] == "2026-11-09 10:03:00,jojo,多了一列,顾客,extra"
    non_blank_records = 7
    assert len(m) + len(r) == non_blank_records


def test_unterminated_quote_is_rejected_not_swallowed_silently():
    text = "时间,发送人,内容\n2026-11-09 10:00:00,jojo,在吗\n2026-11-09 10:00:05,jojo,\"被截断的\n"
    parsed = table.parse(raw_of("t.csv", text), ReadContext())
    assert parsed.messages["text"].tolist() == ["在吗"]
    assert parsed.rejects["line"].tolist() == [3]
    assert "cannot split" in parsed.rejects["reason"].iloc[0]


def test_gbk_and_forced_encoding():
    text = "时间,发送人,内容\n2026-11-09 10:00:00,小鹿服饰:晴晴,亲，在的～\n"
    parsed = table.parse(RawFile("g.csv", text.encode("gbk")), ReadContext())
    assert parsed.messages["text"].tolist() == ["亲，在的～"] and parsed.encoding == "gb18030"
    parsed = table.parse(RawFile("g.csv", text.encode("gbk")), ReadContext(encoding="gbk"))
    assert parsed.messages["sender"].tolist() == ["小鹿服饰:晴晴"] and parsed.encoding == "gbk"


def test_utf16_tab_separated():
    text = "时间\t发送人\t内容\n2026-11-09 10:00:00\tjojo\t在吗\n"
    parsed = table.parse(RawFile("u.txt", b"\xff\xfe" + text.encode("utf-16-le")), ReadContext())
    assert parsed.messages["text"].tolist() == ["在吗"]


def test_time_formats():
    ts, bad = common.parse_times(pd.Series([
        "2026-11-09 14:03:07", "2026/11/9 14:03", "2026年11月9日 14:03:07", "2026-11-09T14:03:07.250",
        "2026-11-09", "", "13:00", "2026-11-31 10:00:00",
    ]))
    assert bad.tolist() == [False, False, False, False, False, False, True, True]
    assert ts.dt.tz is None
    assert ts.iloc[:5].dt.strftime("%Y-%m-%d %H:%M:%S.%f").tolist() == [
        "2026-11-09 14:03:07.000000", "2026-11-09 14:03:00.000000", "2026-11-09 14:03:07.000000",
        "2026-11-09 14:03:07.250000", "2026-11-09 00:00:00.000000",
    ]
    assert pd.isna(ts.iloc[5])


def test_absolute_times_become_tz_aware_local():
    ts, bad = common.parse_times(pd.Series(["1794204187", "1794204187000", "2026-11-09T06:03:07Z",
                                           "2026-11-09 14:03:07"]), "Asia/Shanghai")
    assert not bad.any()
    assert str(ts.dt.tz) == "Asia/Shanghai"
    assert ts.dt.strftime("%Y-%m-%d %H:%M:%S").tolist() == ["2026-11-09 14:03:07"] * 4


def test_role_values():
    roles = common.map_roles(pd.Series(["1", "0", "客服", "顾客", "买家", "Agent", " visitor ", "admin", "bot",
                                       "customer", "系统", "??", ""]))
    assert roles.fillna("NA").tolist() == ["agent", "customer", "agent", "customer", "customer", "agent",
                                           "customer", "agent", "bot", "customer", "system", "NA", "NA"]


def test_role_is_inferred_from_the_customer_and_agent_columns():
    text = "time,sender,text,customer,agent\n,jojo,在吗,jojo,小鹿服饰:晴晴\n,小鹿服饰:晴晴,在的,jojo,小鹿服饰:晴晴\n"
    m = table.parse(raw_of("r.csv", text), ReadContext()).messages
    assert m["role"].tolist() == ["customer", "agent"]
    assert pd.isna(m["agent"].iloc[0]) and m["agent"].iloc[1] == "小鹿服饰:晴晴"


def test_shop_and_conversation_columns():
    text = "会话编号,店铺,发送人,内容\nS1,小鹿服饰,jojo,在吗\nS1,,小鹿服饰:晴晴,在的\n"
    m = table.parse(raw_of("s.csv", text), ReadContext()).messages
    assert m["conversation"].tolist() == ["S1", "S1"]
    assert m["shop"].iloc[0] == "小鹿服饰" and pd.isna(m["shop"].iloc[1])


def test_fuzzy_headers_and_what_was_recognised(caplog):
    caplog.set_level("INFO", logger="csaudit.io.table")
    text = "消息发送时间,发送人昵称,客服回复内容,消息类型\n2026-11-09 10:00:00,jojo,在吗,文字\n"
    m = table.parse(raw_of("f.csv", text), ReadContext()).messages
    assert m["text"].tolist() == ["在吗"] and m["ts"].notna().all()
    assert "ts='消息发送时间'" in caplog.text and "text='客服回复内容'" in caplog.text


def test_sniff_rejects_json_text_and_orders():
    assert table.sniff(raw_of("a.json", '{"a": 1}'), '{"a": 1}') == 0.0
    assert table.sniff(raw_of("a.txt", "jojo 2026-11-09 10:00:00\n在吗\n"), "jojo 2026-11-09 10:00:00\n在吗\n") < 0.2
    orders = "订单编号,买家会员名,下单时间,实付金额\n1,jojo,2026-11-09 10:00:00,5\n"
    assert table.is_orders_table(raw_of("o.csv", orders), orders)
    assert table.sniff(raw_of("o.csv", orders), orders) < 0.2
    chats = "时间,发送人,内容\n"
    assert not table.is_orders_table(raw_of("c.csv", chats), chats)


def test_orders_xlsx_is_recognised():
    raw = RawFile("o.xlsx", _xlsx([["订单号", "买家", "下单时间", "金额"], ["1", "jojo", "2026-11-09 10:00:00", 5]]))
    assert table.is_orders_table(raw, None)


def test_hostile_binary_and_old_xls():
    garbage = bytes(range(256)) * 20
    assert table.sniff(RawFile("g.bin", garbage), None) == 0.0
    with pytest.raises(InputError, match="binary"):
        table.parse(RawFile("g.csv", garbage), ReadContext())
    with pytest.raises(InputError, match="old binary .xls"):
        table.parse(RawFile("old.xls", b"\xd0\xcf\x11\xe0" + b"\0" * 100), ReadContext())
    with pytest.raises(InputError, match="XLSX"):
        table.parse(RawFile("broken.xlsx", _xlsx([["a"]])[:300]), ReadContext())


def test_very_long_cell():
    long = "很" * 3_000_000
    parsed = table.parse(raw_of("l.csv", f"发送人,内容\njojo,{long}\n"), ReadContext())
    assert parsed.messages["text"].str.len().tolist() == [3_000_000]


def test_parse_does_not_touch_pipeline_columns():
    parsed = table.parse(raw_of("c.csv", "发送人,内容\njojo,在吗\n"), ReadContext())
    from csaudit.io.base import PARSED_COLUMNS

    assert tuple(parsed.messages.columns) == PARSED_COLUMNS


# -- end to end through ca.read_chats -------------------------------------------------------------


def _copy_variants(fmt: str, dest) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for p in variants(fmt):
        (dest / p.name).write_bytes(p.read_bytes())


def test_read_chats_table_variants_collapse_to_one_conversation(tmp_path):
    import csaudit as ca

    _copy_variants("table", tmp_path)
    chats = ca.read_chats(tmp_path)
    src = chats.sources.set_index(chats.sources["source"].str.rsplit("/", n=1).str[-1])
    assert (src["format"] == "table").all() and len(src) == len(variants("table"))
    m = chats.messages
    # every variant holds the same 4 messages: all but the first copy are dropped as duplicates
    assert len(m) == 4 and chats.duplicates == 4 * (len(src) - 1)
    assert m["role"].astype("str").tolist() == ["customer", "agent", "agent", "customer"]
    assert m["agent"].fillna("").tolist() == ["", "小鹿服饰:晴晴", "小鹿服饰:晴晴", ""]
    assert set(m["customer"]) == {"jojo_2020"} and set(m["shop"]) == {"小鹿服饰"}
    assert m["conversation_id"].nunique() == 1
    assert m["text"].iloc[0] == "这件毛衣起球吗\n我平时穿M码"
    assert m["ts"].dt.strftime("%H:%M:%S").tolist() == ["14:03:07", "14:03:30", "14:04:02", "14:05:10"]
    assert chats.rejects["reason"].tolist() == ["line before the header row"]


def test_read_chats_columns_mapping_and_forced_format(tmp_path):
    import csaudit as ca

    p = tmp_path / "export.txt"
    p.write_text("when|who|what|dir\n2026-11-09 10:00:00|jojo|在吗|in\n2026-11-09 10:00:20|阿青|在的亲|out\n",
                 encoding="utf-8")
    chats = ca.read_chats(p, format="table", columns={"ts": "when", "sender": "who", "text": "what", "role": "dir"})
    m = chats.messages
    assert m["role"].astype("str").tolist() == ["customer", "agent"]
    assert m["agent"].fillna("").tolist() == ["", "阿青"]
    assert set(m["customer"]) == {"jojo"}


def test_read_chats_mixed_folder(tmp_path):
    import json
    import zipfile

    import csaudit as ca
    from tests.io.golden import GOLDEN

    (tmp_path / "chats.csv").write_bytes((GOLDEN / "table" / "cn_gbk_split_datetime.csv").read_bytes())
    (tmp_path / "kf").mkdir()
    (tmp_path / "kf" / "page.json").write_bytes((GOLDEN / "wecom" / "page.json").read_bytes())
    doc = {"user": "amy_lin", "exportTime": "2026-11-11 08:00:00", "chats": [
        {"date": "2026-11-10", "time": "09:00:00", "sender": "amy_lin", "text": "有现货吗", "imgUrl": ""},
        {"date": "2026-11-10", "time": "09:00:40", "sender": "小鹿服饰：阿青", "text": "有的亲", "imgUrl": ""},
    ]}
    with zipfile.ZipFile(tmp_path / "per_customer.zip", "w") as zf:
        zf.writestr("amy_lin.json", json.dumps(doc, ensure_ascii=False).encode("gbk"))
    (tmp_path / "orders.csv").write_bytes((GOLDEN / "orders" / "taobao_gbk.csv").read_bytes())
    (tmp_path / "notes.md").write_text("not an export", encoding="utf-8")
    (tmp_path / "douyin.xlsx").write_bytes(_xlsx([
        ["发送时间", "发送方", "客服账号", "顾客", "消息内容"],
        ["2026-11-12 20:00:00", "顾客", "小鹿服饰:阿青", "抖音用户甲", "能便宜点吗"],
        ["2026-11-12 20:00:30", "客服", "小鹿服饰:阿青", "抖音用户甲", "亲，已经是活动价啦"],
    ]))

    chats = ca.read_chats(tmp_path)
    fmt = dict(zip(chats.sources["source"].str.replace(tmp_path.as_posix() + "/", ""), chats.sources["format"],
                   strict=True))
    assert fmt == {"chats.csv": "table", "kf/page.json": "wecom-kf", "per_customer.zip/amy_lin.json": "qianniu-json",
                   "orders.csv": "orders", "notes.md": "skipped", "douyin.xlsx": "table"}
    assert chats.rejects.empty and chats.duplicates == 0
    m = chats.messages
    assert len(m) == 4 + 6 + 2 + 2
    assert set(m.loc[m["role"] == "customer", "customer"]) == {"jojo_2020", "wmJojo2020", "amy_lin", "抖音用户甲"}
    assert set(m["agent"].dropna()) == {"小鹿服饰:晴晴", "qingqing", "小鹿服饰:阿青"}  # 阿青 in json and xlsx
    assert m.groupby("customer")["conversation_id"].nunique().to_dict() == {
        "amy_lin": 1, "jojo_2020": 1, "wmJojo2020": 1, "抖音用户甲": 1}
    dy = m[m["customer"] == "抖音用户甲"]
    assert dy["role"].astype("str").tolist() == ["customer", "agent"]
    assert dy["sender"].tolist() == ["抖音用户甲", "小鹿服饰:阿青"] and dy["line"].tolist() == [2, 3]
    assert (m["role"] == "system").sum() == 1
    orders = ca.read_orders(tmp_path / "orders.csv")
    assert orders["customer"].tolist() == ["jojo_2020", "amy_lin", "老王的店铺粉"]


# -- property: any CSV written by the csv module reads back row for row, at the right lines ------

_cell_text = st.lists(st.sampled_from(["a", "亲", "，", ",", " ", '"', "\n", "\t", "～", "好的", "  "]),
                      max_size=8).map("".join)


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from(["jojo", "小鹿服饰:晴晴", "a,b", 'q"x']), _cell_text,
                               st.booleans()), max_size=15),
       sep=st.sampled_from([",", "\t", ";"]))
def test_property_rows_round_trip_with_line_numbers(rows, sep):
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=sep, lineterminator="\n")
    w.writerow(["发送人", "内容"])
    line = 2
    want = []  # (line, sender, text or None for a reject)
    for sender, text, blank_after in rows:
        w.writerow([sender, text])
        want.append((line, sender, text if text.strip() else None))
        line += 1 + text.count("\n")
        if blank_after:
            buf.write("\n")
            line += 1
    parsed = table.parse(raw_of("p.csv", buf.getvalue()), ReadContext())
    # the csv-module path (small files) and the Arrow/pandas path (large files) split alike
    slow_cells, slow_lines, slow_bad, _ = common._csv_cells_slow(buf.getvalue(), sep)
    fast_cells, fast_lines = common._csv_cells_fast(buf.getvalue(), sep)
    keep = ~common._blank_mask(fast_cells)
    pd.testing.assert_frame_equal(fast_cells[keep].reset_index(drop=True),
                                  slow_cells[~common._blank_mask(slow_cells)].reset_index(drop=True))
    assert fast_lines[keep].tolist() == slow_lines[~common._blank_mask(slow_cells)].tolist() and not slow_bad
    got = list(zip(parsed.messages["line"], parsed.messages["sender"], parsed.messages["text"], strict=True))
    assert got == [(ln, s, t) for ln, s, t in want if t is not None]
    assert parsed.rejects["line"].tolist() == [ln for ln, _, t in want if t is None]
    assert set(parsed.rejects["reason"]) <= {"no text"}


def test_scalar_time_parser_agrees_with_the_vectorised_one():
    values = ["2026-11-09 14:03:07", "2026/11/9 14:03", "2026年11月9日 14:03:07", "2026-11-09T14:03:07.250",
              "2026-11-09", "", "13:00", "2026-11-31 10:00:00", "1794204187", "1794204187123",
              "2026-11-09T06:03:07Z", "2026-11-09T14:03:07+08:00", "2026-11-09 24:00:00", "２０２６-11-09 10:00:00",
              "2026/11/9 下午 2:03:07", "2026年11月9日上午11:00", "2026-11-09 12:30 AM", "2026-11-09 2:03 pm",
              "9999999999", "9999999999999"]
    vec, bad = common.parse_times(pd.Series(values), "Asia/Shanghai")
    ns, ab = zip(*(common.parse_time_one(v) for v in values), strict=True)
    one = common.times_from_ns(list(ns), list(ab), "Asia/Shanghai")
    pd.testing.assert_series_equal(one, vec, check_names=False, check_index=False)
    assert [n is None and v.strip() != "" for n, v in zip(ns, values, strict=True)] == bad.tolist()
    assert bad[-2:].tolist() == [True, True]  # epoch values after 2100 are not timestamps


def test_read_chats_keeps_the_exports_own_conversation_key(tmp_path):
    import csaudit as ca

    (tmp_path / "c.csv").write_text("会话编号,发送时间,发送人,内容,角色\n"
                                    "C1,2026-11-12 20:00:00,甲,在吗,顾客\n"
                                    "C1,2026-11-12 20:00:30,店:阿青,在的,客服\n"
                                    "C2,2026-11-12 20:01:00,甲,还有一个问题,顾客\n", encoding="utf-8")
    (tmp_path / "d.csv").write_text("发送时间,发送人,内容\n2026-11-12 21:00:00,乙,你好\n", encoding="utf-8")
    m = ca.read_chats(tmp_path).messages  # a folder mixing files with and without conversation keys
    assert m["conversation_id"].nunique() == 3


def test_twelve_hour_clock_and_xlsx_split_date_time_cells():
    import datetime as dt

    ts, bad = common.parse_times(pd.Series(["2026/11/9 下午 2:03:07", "2026年11月9日上午11:00", "2026-11-09 12:30 AM",
                                           "2026-11-09 12:05 PM"]))
    assert not bad.any()
    assert ts.dt.strftime("%H:%M").tolist() == ["14:03", "11:00", "00:30", "12:05"]
    raw = RawFile("split.xlsx", _xlsx([["日期", "时间", "发送人", "内容"],
                                       [dt.date(2026, 11, 9), dt.time(14, 3, 7), "jojo", "在吗"],
                                       [dt.datetime(2026, 11, 9), "下午 2:04", "小鹿服饰:晴晴", "在的"]]))
    m = table.parse(raw, ReadContext()).messages
    assert m["ts"].dt.strftime("%Y-%m-%d %H:%M:%S").tolist() == ["2026-11-09 14:03:07", "2026-11-09 14:04:00"]


# -- real exports: role without agent, headerless tables, positions (issue 9) ----------------------

HEADERLESS = (
    "s1\tu1\t0\t0\t0\tnan\t你好在吗\n"
    "s1\tu1\t1\t0\t0\tnan\t您好，请问有什么可以帮您\n"
    "s1\tu1\t0\t0\t0\tnan\t发货了吗\n"
    "s2\tu2\t0\t0\t1\t123\t这个多少钱\n"
    "s2\tu2\t1\t0\t0\t123\t亲，99元哦\n"
)
BY_POSITION = {"conversation": 0, "customer": 1, "role": 2, "text": 6}


def test_agent_rows_without_an_agent_column_are_kept_under_a_placeholder():
    text = "会话,买家,角色,内容\nc1,jojo,顾客,在吗\nc1,jojo,客服,在的亲\nc1,jojo,顾客,好的\n"
    parsed = table.parse(raw_of("r.csv", text), ReadContext())
    m = parsed.messages
    assert len(parsed.rejects) == 0 and len(m) == 3
    assert m["sender"].tolist() == ["jojo", "未知店铺:未知客服", "jojo"]
    assert m["role"].tolist() == ["customer", "agent", "customer"]
    assert parsed.unknown_agent == 1


def test_placeholder_takes_the_row_shop_else_the_file_shop():
    text = ("店铺,买家,发送人,角色,内容\n小鹿服饰,jojo,,客服,在的\n,jojo,,客服,好的\n"
            ",kiki,云栖家居:阿青,客服,您好\n")
    m = table.parse(raw_of("s.csv", text), ReadContext()).messages
    assert m["sender"].tolist() == ["小鹿服饰:未知客服", "云栖家居:未知客服", "云栖家居:阿青"]


def test_headerless_tsv_is_read_by_position():
    parsed = table.parse(raw_of("jd.tsv", HEADERLESS), ReadContext(columns=BY_POSITION))
    m = parsed.messages
    assert len(parsed.rejects) == 0
    assert m["line"].tolist() == [1, 2, 3, 4, 5]  # the first row is data, not a header
    assert m["text"].tolist()[0] == "你好在吗"
    assert m["conversation"].tolist() == ["s1", "s1", "s1", "s2", "s2"]
    assert m["role"].tolist() == ["customer", "agent", "customer", "customer", "agent"]
    assert parsed.unknown_agent == 2
    assert parsed.notes and "no header row" in parsed.notes[0]


def test_headerless_is_detected_without_positions_and_says_what_to_map():
    assert common.looks_like_data(common.read_grid(raw_of("jd.tsv", HEADERLESS)).cells)
    with pytest.raises(InputError, match=r"without a header row \(7 columns; the first row .s1., .u1.,.*--columns"):
        table.parse(raw_of("jd.tsv", HEADERLESS), ReadContext())


def test_a_header_row_of_unknown_names_is_not_data():
    text = "标识\t用户\t方向\t转接\t重复\t商品\t话\n" + HEADERLESS
    with pytest.raises(InputError, match="a text/content column"):  # a header row, not data
        table.parse(raw_of("h.tsv", text), ReadContext())
    parsed = table.parse(raw_of("h.tsv", text), ReadContext(columns={"conversation": "标识", "customer": "用户",
                                                                     "role": "方向", "text": "话"}))
    assert parsed.messages["line"].tolist() == [2, 3, 4, 5, 6] and not parsed.notes


def test_positions_and_names_mix_and_bad_positions_are_clear():
    text = "when,who,what\n2026-11-09 10:00:00,jojo,在吗\n"
    m = table.parse(raw_of("p.csv", text), ReadContext(columns={"ts": 0, "sender": "who", "text": "2"})).messages
    assert m["text"].tolist() == ["在吗"] and m["ts"].dt.hour.tolist() == [10]
    with pytest.raises(InputError, match=r"position 9 .*'text'.*3 columns"):
        table.parse(raw_of("p.csv", text), ReadContext(columns={"text": 9, "sender": 1}))


def test_english_export_headers_are_recognised():
    text = "session_id,user_id,waiter_send,content\ns1,u1,0,在吗\ns1,u1,1,在的\n"
    parsed = table.parse(raw_of("e.csv", text), ReadContext())
    assert parsed.messages["role"].tolist() == ["customer", "agent"]
    assert parsed.messages["customer"].tolist() == ["u1", "u1"]
    assert parsed.messages["conversation"].tolist() == ["s1", "s1"]


def test_an_unbalanced_quote_costs_only_its_own_row():
    text = ("时间,发送人,内容\n2026-11-09 10:00:00,jojo,在吗\n2026-11-09 10:00:05,jojo,\"被截断的\n"
            "2026-11-09 10:00:06,小鹿服饰:晴晴,在的\n2026-11-09 10:00:07,jojo,\"好的,谢谢\"\n"
            "2026-11-09 10:00:08,jojo,\"多行\n第二行\"\n")
    parsed = table.parse(raw_of("q.csv", text), ReadContext())
    assert parsed.messages["line"].tolist() == [2, 4, 5, 6]
    assert parsed.messages["text"].tolist() == ["在吗", "在的", "好的,谢谢", "多行\n第二行"]
    assert parsed.rejects["line"].tolist() == [3] and "unbalanced quote" in parsed.rejects["reason"].iloc[0]


def test_a_large_file_with_an_unbalanced_quote_resynchronises():
    row = "2026-11-09 10:00:00,jojo,在吗\n"
    text = "时间,发送人,内容\n" + row * 5000 + '2026-11-09 10:00:05,jojo,"坏\n' + row * 5000
    parsed = table.parse(raw_of("big.csv", text), ReadContext())
    assert len(parsed.messages) == 10000 and parsed.rejects["line"].tolist() == [5002]


def _workbook() -> bytes:
    return _xlsx([["时间", "发送人", "内容"], ["2026-11-09 10:00:00", "jojo", "在吗"]])


def test_damaged_workbooks_get_the_readers_reason(tmp_path):
    import zipfile

    data = _workbook()
    (tmp_path / "a_truncated.xlsx").write_bytes(data[: len(data) // 2])
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            body = zin.read(info.filename)
            zout.writestr(info, b"<worksheet><sheetData><row><c" if info.filename.startswith("xl/worksheets/") else body)
    (tmp_path / "b_corrupt.xlsx").write_bytes(out.getvalue())
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 64 + "EncryptedPackage".encode("utf-16-le") + b"\0" * 64
    (tmp_path / "c_encrypted.xlsx").write_bytes(ole)
    (tmp_path / "d_csv.xlsx").write_text("时间,发送人,内容\n2026-11-09 10:00:00,jojo,在吗\n", encoding="utf-8")
    chats = ca.read_chats(tmp_path)
    reasons = chats.rejects["reason"].tolist()
    assert "damaged or truncated" in reasons[0]
    assert reasons[1].startswith("an XLSX workbook (openpyxl could not read it")
    assert "encrypted" in reasons[2]
    assert not any("not a recognised chat export" in r for r in reasons)
    d = chats.sources.iloc[3]
    assert d["messages"] == 1 and "read as CSV" in d["note"]


def test_a_header_named_by_columns_is_never_taken_for_data():
    text = "who,what\njojo,hello\nkiki,hi there\n"  # names and data of the same kind
    parsed = table.parse(raw_of("w.csv", text), ReadContext(columns={"sender": "who", "text": "what"}))
    assert parsed.messages["text"].tolist() == ["hello", "hi there"] and not parsed.notes
