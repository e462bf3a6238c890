"""read_orders: golden variants (GBK Taobao export, English CSV, BOM TSV, XLSX), bad rows, schema."""

from __future__ import annotations

import io

import openpyxl
import pandas as pd
import pytest

import csaudit as ca
from csaudit.io.base import InputError, RawFile
from csaudit.io.orders import parse_amounts, parse_orders, read_orders
from csaudit.model import schema
from tests.io.golden import expected, variants

COLS = ["order_id", "shop", "customer", "created", "paid", "amount", "refund"]


def _expected() -> pd.DataFrame:
    exp = expected("orders")
    exp["amount"] = exp["amount"].astype("float64")
    exp["refund"] = exp["refund"].astype("float64")
    return exp


@pytest.mark.parametrize("path", variants("orders"), ids=lambda p: p.name)
def test_golden_variants_give_the_expected_orders(path):
    orders = read_orders(path)
    assert list(orders.columns) == COLS
    assert schema.failures(orders, "orders").empty
    pd.testing.assert_frame_equal(orders, _expected()[COLS], check_dtype=False)
    assert orders["paid"].isna().tolist() == [False, True, False]


def test_public_api_is_wired():
    path = variants("orders")[0]
    pd.testing.assert_frame_equal(ca.read_orders(path), read_orders(path))


def test_xlsx_orders_with_typed_cells():
    exp = _expected()
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["订单号", "店铺", "买家昵称", "订单创建时间", "订单付款时间", "买家实际支付金额", "退款金额"])
    for r in exp.itertuples():
        ws.append([r.order_id, r.shop, r.customer, r.created.tz_localize(None).to_pydatetime(),
                   None if pd.isna(r.paid) else r.paid.tz_localize(None).to_pydatetime(), r.amount, r.refund or None])
    buf = io.BytesIO()
    wb.save(buf)
    orders = parse_orders(RawFile("orders.xlsx", buf.getvalue()))
    pd.testing.assert_frame_equal(orders, exp[COLS], check_dtype=False)


def test_explicit_columns_and_shop_argument(tmp_path):
    p = tmp_path / "o.csv"
    p.write_text("单号,旺旺,拍下,支付,成交额\nA1,jojo,2026-11-09 10:00,2026-11-09 10:05,99\n", encoding="utf-8")
    orders = read_orders(p, columns={"order_id": "单号", "customer": "旺旺", "created": "拍下", "paid": "支付",
                                     "amount": "成交额"}, shop="小鹿服饰")
    assert orders[["order_id", "shop", "customer", "amount", "refund"]].to_dict("records") == [
        {"order_id": "A1", "shop": "小鹿服饰", "customer": "jojo", "amount": 99.0, "refund": 0.0}]
    assert orders["created"].dt.strftime("%Y-%m-%d %H:%M%z").tolist() == ["2026-11-09 10:00+0800"]
    with pytest.raises(InputError, match=r"column '成交金额' \(mapped to 'amount'\) is not in the file"):
        read_orders(p, columns={"amount": "成交金额"})


def test_no_shop_column_gives_empty_shop():
    orders = parse_orders(RawFile("o.csv", "订单号,买家,下单时间,金额\n1,jojo,2026-11-09 10:00:00,5\n".encode()))
    assert orders["shop"].tolist() == [""]


def test_bad_rows_raise_naming_file_line_and_what_was_expected():
    text = (
        "订单号,买家,下单时间,付款时间,金额\n"
        "1,jojo,2026-11-09 10:00:00,,5\n"
        "2,amy,2026-13-01,,5\n"            # line 3: bad created
        "3,bob,2026-11-09 10:00:00,,abc\n"  # line 4: bad amount
        "4,,2026-11-09 10:00:00,,5\n"       # line 5: no customer
        "5,cat,2026-11-09 10:00:00,soon,5\n"  # line 6: bad paid
    )
    with pytest.raises(InputError) as err:
        parse_orders(RawFile("orders.csv", text.encode()))
    assert str(err.value) == ("orders.csv:3: created time '2026-13-01' is not a date "
                              "(3 more bad row(s): lines 4, 5, 6)")
    assert err.value.line == 3 and err.value.source == "orders.csv"


def test_missing_required_columns_are_named():
    with pytest.raises(InputError, match=r"o\.csv:1: orders columns created, amount .*'订单号', '买家'"):
        parse_orders(RawFile("o.csv", "订单号,买家\n1,jojo\n".encode()))


def test_header_only_and_empty_files():
    for text in ("订单号,买家,下单时间,金额\n", ""):
        orders = parse_orders(RawFile("o.csv", text.encode()))
        assert orders.empty and list(orders.columns) == COLS
        assert schema.failures(orders, "orders").empty


def test_exact_duplicate_rows_dropped_other_repeats_kept():
    row = "1,jojo,2026-11-09 10:00:00,5\n"
    text = "订单号,买家,下单时间,金额\n" + row + row + "1,jojo,2026-11-09 10:00:00,6\n"
    orders = parse_orders(RawFile("o.csv", text.encode()))
    assert orders["amount"].tolist() == [5.0, 6.0]


def test_amounts():
    amounts, bad = parse_amounts(pd.Series(["¥1,299.00", "￥89.9", "1299元", "RMB 5", "１２３", "", "abc", "-3.5"]))
    assert amounts.fillna(-1).tolist() == [1299.0, 89.9, 1299.0, 5.0, 123.0, -1, -1, -3.5]
    assert bad.tolist() == [False] * 6 + [True, False]


def test_unreadable_path_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="a readable orders file"):
        read_orders(tmp_path / "missing.csv")


def test_binary_garbage_is_an_input_error():
    with pytest.raises(InputError):
        parse_orders(RawFile("o.csv", bytes(range(256)) * 4))


def test_amounts_and_extraction_keep_a_filtered_index():
    """Helpers on a filtered Series (index labels not 0..n-1) keep values in place (Arrow results
    were once aligned on labels: every value NaN)."""
    import pandas as pd

    from csaudit.io.common import regex_extract
    from csaudit.io.orders import parse_amounts

    amounts, bad = parse_amounts(pd.Series(["¥1,299.00", "x"], index=[5, 9], dtype="str"))
    assert amounts.iloc[0] == 1299.0 and bad.tolist() == [False, True]
    parts, ok = regex_extract(pd.Series(["ab12", "zz"], index=[3, 4], dtype="str"), r"(?P<l>[a-z]+)(?P<d>\d+)")
    assert parts["d"].tolist() == ["12", ""] and ok.tolist() == [True, False]
