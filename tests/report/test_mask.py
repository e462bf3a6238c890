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


# ---------------------------------------------------------------------------------------------
# ids, e-mails, landlines and spaced card numbers (issue: not masked before)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("加我微信号: abc_12345 聊", "加我微信号: ********* 聊"),
        ("微信：zhang-san88", "微信：***********"),
        ("vx xiaolu2020 有优惠", "vx ********** 有优惠"),
        ("VX是Lulu_shop01", "VX是***********"),
        ("加v信 shop8888", "加v信 ********"),
        ("wechat: hello_world", "wechat: ***********"),
        ("QQ 12345678", "QQ ********"),
        ("qq号：987654321 找我", "qq号：********* 找我"),
        ("扣扣 55667788", "扣扣 ********"),
        ("邮箱 bob.li@163.com 发我", "邮箱 ******@163.com 发我"),
        ("13812345678@qq.com", "***********@qq.com"),
        ("座机 0571-88886666", "座机 0571-****6666"),
        ("(010)12345678", "(010)****5678"),
        ("（0571）88886666", "（0571）****6666"),
        ("电话 021 6888 1234", "电话 021 **** 1234"),
        ("010-1234-5678转123", "010-****-5678转123"),
        ("卡号 6222 0212 3456 7890 123", "卡号 **** **** **** ***0 123"),
        ("6222-0212-3456-7890", "****-****-****-7890"),
        ("卡号6222021234567890123", "卡号***************0123"),
    ],
)
def test_masks_ids_emails_landlines_and_cards(text: str, expected: str) -> None:
    assert mask_text(text) == expected
    assert len(mask_text(text)) == len(text)
    assert mask_text(expected) == expected  # idempotent: a masked audit can be masked again
    assert mask_series(pd.Series([text, None], dtype="str")).tolist()[0] == expected  # the vectorised path agrees


@pytest.mark.parametrize(
    "text",
    ["微信支付可以吗", "wx好的", "qq音乐", "new xbox", "订单 2026 1109 1234", "价格 0.5 元", "2026-11-09 14:03:07",
     "@所有人 上新了", "邮件地址写在备注里", "3楼2室"],
)
def test_ids_and_numbers_that_are_not_personal_stay(text: str) -> None:
    assert mask_text(text) == text


def test_names_are_masked_like_text_and_agents_stay_distinct() -> None:
    from csaudit.report.mask import unique_masks

    # a customer nickname that is a phone number
    assert mask_series(pd.Series(["13812345678", "jojo_2020"], dtype="str")).tolist() == ["138****5678", "jojo_2020"]
    m = unique_masks(["店:13812345678", "店:13899995678", "店:13811115678", "云栖家居:阿青"])
    assert m["云栖家居:阿青"] == "云栖家居:阿青"
    assert m["店:13812345678"] == "店:138****5678"
    assert len(set(m.values())) == 4 and m["店:13899995678"] == "店:138****5678#2"
    assert "1234" not in "".join(m.values())


def test_categorical_and_object_series() -> None:
    c = pd.Series(["电话13812345678", None, "好"], dtype="category")
    out = mask_series(c)
    assert isinstance(out.dtype, pd.CategoricalDtype) and out.tolist()[0] == "电话138****5678" and pd.isna(out[1])
    o = pd.Series(["x 13812345678", 5, None], dtype=object)
    out = mask_series(o)
    assert out.tolist()[:2] == ["x 138****5678", 5] and pd.isna(out.iloc[2]) and out.dtype == object


def test_mask_audit_masks_text_and_names_keeps_offsets(sample_audit) -> None:
    from csaudit.report.mask import mask_audit

    a = sample_audit
    phone_customer = "13912345678"
    msgs = a.messages.copy()
    i = msgs.index[msgs["role"] == "customer"][0]
    msgs.loc[i, "customer"] = phone_customer
    msgs.loc[i, "sender"] = phone_customer
    agents = a.agents.copy()
    raw = type(a)(**{**a.__dict__, "messages": msgs, "agents": agents})
    m = mask_audit(raw)
    assert m.meta["masked"] is True and "masked" not in a.meta  # a copy: the original is untouched
    assert phone_customer not in set(m.messages["customer"]) and "139****5678" in set(m.messages["customer"])
    assert phone_customer not in set(m.messages["sender"])
    assert not m.messages["text"].str.contains(r"1[3-9]\d{9}").any()
    assert a.messages["text"].str.contains(r"1[3-9]\d{9}").any()  # the sample has phones to mask
    assert (m.messages["text"].str.len() == a.messages["text"].str.len()).all()
    h = m.hits.dropna(subset=["start", "end", "text"])
    assert all(t[int(s):int(e)] == term for t, s, e, term in zip(h["text"], h["start"], h["end"], h["term"], strict=True))
    assert not m.orders["order_id"].str.contains(r"\d{10}").any()
    assert list(m.agents["agent"]) == list(a.agents["agent"])  # ordinary agent names are unchanged
    for name in ("messages", "hits", "conversations", "rounds", "agents", "orders"):
        assert list(getattr(m, name).dtypes) == list(getattr(a, name).dtypes), name
        assert len(getattr(m, name)) == len(getattr(a, name)), name
