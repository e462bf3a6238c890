"""Masking of phones, order numbers and addresses (csaudit/report/mask.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from csaudit.report.mask import mask_frame, mask_series, mask_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("电话13912345678", "电话139****5678"),
        ("我的手机 138-1234-5678，快点", "我的手机 138-****-5678，快点"),
        ("138 1234 5678", "138 **** 5678"),
        ("+86 139 1234 5678 ok", "+86 139 **** 5678 ok"),
        ("８６１３９１２３４５６７８", "８６１３９****５６７８"),  # full-width digits
        ("订单 3912345678901234567", "订单 ***************4567"),
        ("订单号：2026111012345", "订单号：*********2345"),
        ("快递单号SF1234567890123", "快递单号SF*********0123"),
        ("寄到浙江省杭州市西湖区文三路88号2单元301室", "寄到浙江省杭州市西湖区*************"),
        ("北京市朝阳区建国路88号", "北京市朝阳区******"),
        ("上海市浦东新区张江镇科苑小区12栋502室，谢谢", "上海市浦东新区张江镇***********，谢谢"),
    ],
)
def test_masks(text: str, expected: str) -> None:
    assert mask_text(text) == expected
    assert len(mask_text(text)) == len(text)  # offsets of hits stay valid


@pytest.mark.parametrize(
    "text",
    ["我不能保证", "100%正品 最低价", "亲，3号发货哦", "买了2件", "第3栋", "你好请问这个路由器怎么样", "12345",
     "价格 1999 元", "2026-11-09 14:03:07", "<script>alert(1)</script>", ""],
)
def test_leaves_ordinary_text_alone(text: str) -> None:
    assert mask_text(text) == text


def test_series_and_frame_keep_missing_and_do_not_mutate() -> None:
    df = pd.DataFrame({"text": ["call 13912345678", None, "call 13912345678"], "other": ["13912345678"] * 3})
    before = df.copy()
    out = mask_frame(df, ["text", "absent"])
    pd.testing.assert_frame_equal(df, before)
    assert out["text"].tolist()[0] == "call 139****5678" and pd.isna(out["text"].iloc[1])
    assert out["other"].tolist() == ["13912345678"] * 3
    assert mask_series(pd.Series([], dtype="str")).empty
