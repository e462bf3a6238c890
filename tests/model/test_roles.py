"""Roles: accounts, bots, auto-replies, system lines, stated roles; parties of each file."""

from __future__ import annotations

import numpy as np
import pandas as pd

from csaudit.config import RolesConfig
from csaudit.model.roles import assign_roles, derive_parties, split_account


def test_split_account():
    assert split_account("小鹿服饰:晴晴", [":", "："]) == ("小鹿服饰", "晴晴")
    assert split_account("小鹿服饰：晴晴", [":", "："]) == ("小鹿服饰", "晴晴")
    assert split_account(":晴晴", [":", "："]) is None
    assert split_account("buyer", [":", "："]) is None


def _msgs(senders, texts, role=None):
    return pd.DataFrame({"sender": senders, "text": texts,
                         "role": pd.Series(role or [None] * len(senders), dtype="str")})


def test_assign_roles():
    df = _msgs(
        ["店：阿青", "buyer", "店:店小蜜", "店:阿青", "system", "buyer", "wx_agent"],
        ["你好", "在吗", "我是小蜜", "[自动回复]稍等", "当前用户来自 手机淘宝", "我撤回了一条消息吗", "hi"],
        role=[None, None, None, None, None, None, "agent"],
    )
    before = df.copy()
    out = assign_roles(df, RolesConfig())
    pd.testing.assert_frame_equal(df, before)
    assert out["role"].astype(str).tolist() == ["agent", "customer", "bot", "auto_reply", "system", "system", "agent"]
    agent = out["agent"].astype("str").fillna("-")
    assert agent.tolist() == ["店:阿青", "-", "店:店小蜜", "店:阿青", "-", "-", "wx_agent"]
    assert out["shop"].astype("str").fillna("-").tolist()[:3] == ["店", "-", "店"]


def test_auto_reply_templates_and_custom_bots():
    cfg = RolesConfig(auto_reply_templates=["欢迎光临！"], bot_accounts=["客服机器人"])
    out = assign_roles(_msgs(["店:a", "店:客服机器人", "buyer"], [" 欢迎光临！ ", "hi", "欢迎光临！"]), cfg)
    assert out["role"].astype(str).tolist() == ["auto_reply", "bot", "customer"]


def test_derive_parties_forward_back_and_system():
    df = _msgs(["店:a", "b1", "店:a", "system", "b2", "店:a"], ["x"] * 6,
               role=["agent", "customer", "agent", "system", "customer", "agent"])
    df["role"] = df["role"].astype("category")
    df["shop"] = pd.Series(["店", None, "店", None, None, "店"], dtype="str")
    out = derive_parties(df, np.zeros(6, dtype=int))
    assert out["customer"].astype("str").tolist() == ["b1", "b1", "b1", "b2", "b2", "b2"]
    assert out["shop"].astype("str").tolist() == ["店"] * 6


def test_derive_parties_per_file_and_unknown():
    df = _msgs(["店:a", "buyer"], ["x", "y"], role=["agent", "customer"])
    df["shop"] = pd.Series(["店", None], dtype="str")
    out = derive_parties(df, np.array([0, 1]))
    assert out["customer"].astype("str").tolist() == ["unknown", "buyer"]
    assert out["shop"].astype("str").tolist() == ["店", "店"]  # no agent in file 1: the batch's shop


def test_str_categorical_equals_pandas_from_codes():
    import numpy as np
    import pyarrow as pa

    from csaudit.model.roles import str_categorical

    for k in (0, 3, 126, 127, 200, 40_000):
        cats = [f"v{i}" for i in range(k)]
        codes = np.random.default_rng(k).integers(-1, max(k, 1), 50) if k else np.full(5, -1)
        expected = pd.Series(pd.Categorical.from_codes(codes, categories=pd.Index(cats, dtype="str")))
        for given in (pd.Index(cats, dtype="str"), pa.array(cats, pa.string()), pd.Index(cats, dtype=object)):
            got = str_categorical(codes, given)
            pd.testing.assert_series_equal(got, expected)
            assert got.cat.codes.dtype == expected.cat.codes.dtype


def test_most_common_shop_per_group_matches_value_counts():
    import numpy as np

    from csaudit.model.roles import _most_common_per_group

    rng = np.random.default_rng(4)
    for trial in range(300):
        n = int(rng.integers(1, 60))
        g = rng.integers(0, 5, n) if trial % 3 else rng.choice(np.array(["a", "b", "c"]), n)
        codes = rng.integers(-1, 4, n)
        known, need = codes >= 0, codes < 0
        counts = pd.DataFrame({"g": g[known], "s": codes[known]}).value_counts().reset_index()
        top = counts.sort_values(["g", "count", "s"], ascending=[True, False, True]).drop_duplicates("g")
        per = dict(zip(top["g"], top["s"], strict=True))
        expected = [per.get(x, 99) for x in g[need]]
        assert _most_common_per_group(g, codes, known, need, 4, 99).tolist() == expected
