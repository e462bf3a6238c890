"""Shop-figure sheets appended to the audit workbook (csaudit/report/shop_sheets.py)."""

from __future__ import annotations

import openpyxl
import pandas as pd

import csaudit as ca
from csaudit.model import schema
from csaudit.report.excel import SHEETS, sheet_names, write_audit_workbook
from tests.chat_builders import A, cat, msgs

PHONE = "13812345678"
SHOP_ON = ca.Config().updated({"shop": {"enabled": True}})  # the shop figures are opt-in ([shop] enabled)


def test_shop_sheets_in_workbook_masked(tmp_path):
    m = cat(msgs([("customer", None, "10:00:00", f"太贵了，打我电话{PHONE}"), ("agent", A, "10:01:00", "亲，这是活动价哦")],
                 conv="k1", customer="买家1"))
    orders = schema.conform(pd.DataFrame({"order_id": ["3912345678901234567"], "shop": ["云栖家居"], "customer": ["买家9"],
                                          "created": [pd.Timestamp("2026-11-10 15:00", tz="Asia/Shanghai")],
                                          "paid": [pd.NaT], "amount": [10.0], "refund": [0.0]}), "orders")
    res = ca.audit(m, orders=orders, config=SHOP_ON)
    res.save(tmp_path / "audit")
    wb = openpyxl.load_workbook(write_audit_workbook(tmp_path / "audit", tmp_path / "a.xlsx"))
    names = sheet_names("zh")
    assert wb.sheetnames[: len(SHEETS)] == [names[k] for k in SHEETS]
    assert {"shop_agents", "commission", "commission_orders", "customers", "followups", "lost_reasons",
            "workload"} <= set(wb.sheetnames)
    assert wb["lost_reasons"].max_row == 1 + len(res.lost_reasons) == 2
    cells = [str(c.value) for sheet in ("followups", "lost_reasons") for row in wb[sheet].iter_rows() for c in row]
    assert PHONE not in "".join(cells) and any("138****5678" in c for c in cells)
    assert "3912345678901234567" not in "".join(str(c.value) for row in wb["commission_orders"].iter_rows() for c in row)
    defs = {r[0].value: [c.value for c in r] for r in wb[names["definitions"]].iter_rows(min_row=2)}
    assert "sheet commission_orders" in defs


def test_definitions_sheet_declares_every_column_of_the_shop_sheets(tmp_path):
    """The shop sheets' rows of the definitions sheet come from the declared contracts, column by column."""
    from csaudit.model.contracts import contract, plain
    from csaudit.report.shop_sheets import SHOP_SHEETS, shop_sheets

    m = cat(msgs([("customer", None, "10:00:00", "在吗，这个多少钱"), ("agent", A, "10:01:00", "亲，这款99元哦")],
                 conv="k1", customer="买家1"))
    orders = schema.conform(pd.DataFrame({"order_id": ["o1"], "shop": ["云栖家居"], "customer": ["买家1"],
                                          "created": [pd.Timestamp("2026-11-10 10:30", tz="Asia/Shanghai")],
                                          "paid": [pd.NaT], "amount": [99.0], "refund": [0.0]}), "orders")
    ca.audit(m, orders=orders, config=SHOP_ON).save(tmp_path / "audit")
    wb = openpyxl.load_workbook(write_audit_workbook(tmp_path / "audit", tmp_path / "a.xlsx"))
    rows = {r[0].value: [c.value for c in r] for r in wb[sheet_names("zh")["definitions"]].iter_rows(min_row=2)}
    frames = shop_sheets(tmp_path / "audit", "Asia/Shanghai", True)  # the sheets' columns (headers are shown in Chinese)
    assert set(frames) <= set(wb.sheetnames)
    for sheet, frame in frames.items():
        header = [str(c) for c in frame.columns]
        spec = contract(SHOP_SHEETS[sheet][0])
        assert rows["sheet " + sheet][4].startswith("One row: "), sheet
        for col in header:
            item, _name, dtype, unit, definition = rows[f"{sheet}.{col}"][:5]
            assert definition == plain(spec.column(col).definition) and dtype == spec.column(col).dtype, (sheet, col)
    assert rows["commission_orders.rule"][3] == "order / payment / silent_pool / no_agent"
    assert rows["shop_agents.typing_cpm"][4].startswith("an estimate:")
    assert "(not declared)" not in {r[4] for r in rows.values()}
