"""Workbook sheets of the shop figures (issue 14): commission with its order evidence, customers
and follow-ups, payment reminders, lost-inquiry reasons, workload, after-sales and the per-agent
shop figures. :func:`csaudit.report.excel.write_audit_workbook` appends them after its own sheets
when the saved audit has the tables (audits saved before the shop figures get none).

Text that may hold personal data (chat text, order numbers, customer ids) is masked unless
``mask=False``; timestamps become local wall-clock times, as in the other sheets.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

#: sheet name → (table of the saved audit, columns masked); what the sheets hold is declared in
#: :mod:`csaudit.model.contracts` (the definitions sheet is written from there)
SHOP_SHEETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "shop_agents": ("shop_agents", ()),
    "commission": ("commission", ()),
    "commission_orders": ("commission_orders", ("order_id", "customer")),
    "customers": ("customers", ("customer",)),
    "followups": ("followups", ("customer", "last_text")),
    "payment_reminders": ("payment_reminders", ("order_id", "customer", "reminder_text")),
    "lost_reasons": ("lost_reasons", ("customer", "evidence_text")),
    "workload": ("workload", ()),
    "workload_daily": ("workload_daily", ()),
    "busy_notices": ("busy_notices", ("first_reply_text",)),
}


def shop_sheets(audit_dir: str | Path, tz: str = "Asia/Shanghai", mask: bool = True) -> dict[str, pd.DataFrame]:
    """The shop-figure sheets of a saved audit (only tables present with columns), ready for
    :func:`csaudit.report.excel._write_sheet`."""
    from csaudit.report.data import read_table
    from csaudit.report.excel import excel_frame

    out: dict[str, pd.DataFrame] = {}
    for sheet, (table, masked) in SHOP_SHEETS.items():
        df = read_table(audit_dir, table)
        if len(df.columns):
            out[sheet] = excel_frame(df, tz, mask, masked)
    return out


def shop_notes(sheets: dict[str, pd.DataFrame]) -> list[tuple[str, str, str, str]]:
    """Rows ``(item, dtype, unit, definition)`` for the definitions sheet, from the declared contracts
    (:mod:`csaudit.model.contracts`): per shop sheet written, what one row is (``sheet <name>``),
    then each of its columns (``<sheet>.<column>``)."""
    from csaudit.model.contracts import contract, plain
    from csaudit.report.excel import column_definitions

    rows: list[tuple[str, str, str, str]] = []
    for sheet, df in sheets.items():
        table = SHOP_SHEETS[sheet][0]
        row = plain(contract(table).row)
        rows.append(("sheet " + sheet, "", "", f"One row: {row} (Audit.{table}; README, Shop figures)."))
        rows.extend(column_definitions(sheet, table, df.columns))
    return rows
