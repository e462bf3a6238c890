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

#: sheet name → (table of the saved audit, columns masked, note for the definitions sheet)
SHOP_SHEETS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "shop_agents": ("shop_agents", (), "Per-agent shop figures: commission, repeat purchase, 催付, 搭配, busy notice, "
                                      "after-sales, service depth, lost reasons (README, Shop figures)."),
    "commission": ("commission", (), "Commission (提成) per agent and period: attributed sales, refunds, pooled share."),
    "commission_orders": ("commission_orders", ("order_id", "customer"),
                          "Order-level commission evidence: the order, the inquiry it went to and the rule that attributed it."),
    "customers": ("customers", ("customer",), "Customers with their tier (vip / repeat 圈养 / potential 可挖掘 / high_interest)."),
    "followups": ("followups", ("customer", "last_text"), "Customers to follow up: high-interest and lost inquiries, last message."),
    "payment_reminders": ("payment_reminders", ("order_id", "customer", "reminder_text"),
                          "Pending orders and whether the order's agent sent a payment reminder (催付) in time."),
    "lost_reasons": ("lost_reasons", ("customer", "evidence_text"), "Lost inquiries by reason with the evidence message."),
    "workload": ("workload", (), "Per agent and (team), by weekday (0 = Monday) × hour: load, response, findings, QA."),
    "workload_daily": ("workload_daily", (), "Per agent and (team), by day: load, response, findings, QA."),
    "busy_notices": ("busy_notices", ("first_reply_text",), "Conversations started at peak load; did the first reply warn of slower replies."),
}


def shop_sheets(audit_dir: str | Path, tz: str = "Asia/Shanghai", mask: bool = True) -> dict[str, pd.DataFrame]:
    """The shop-figure sheets of a saved audit (only tables present with columns), ready for
    :func:`csaudit.report.excel._write_sheet`."""
    from csaudit.report.data import read_table
    from csaudit.report.excel import excel_frame

    out: dict[str, pd.DataFrame] = {}
    for sheet, (table, masked, _) in SHOP_SHEETS.items():
        df = read_table(audit_dir, table)
        if len(df.columns):
            out[sheet] = excel_frame(df, tz, mask, masked)
    return out


def shop_notes(sheets: dict[str, pd.DataFrame]) -> list[tuple[str, str, str]]:
    """Rows ``(item, unit, definition)`` for the definitions sheet, one per shop sheet written."""
    return [("sheet " + s, "", SHOP_SHEETS[s][2]) for s in sheets]
