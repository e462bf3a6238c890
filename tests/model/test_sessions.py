"""Conversations: idle gap, midnight split, NaT neighbours, the export's own key, stable ids."""

from __future__ import annotations

import pandas as pd

from csaudit.config import SessionConfig
from csaudit.model.sessions import assign_conversations, to_hex


def _frame(times, customers=None, source="a.txt"):
    n = len(times)
    return pd.DataFrame(
        {
            "shop": ["店"] * n,
            "customer": customers or ["buyer"] * n,
            "ts": pd.to_datetime(pd.Series(times), format="mixed").dt.tz_localize("Asia/Shanghai"),
            "source": [source] * n,
            "line": range(1, n + 1),
        }
    )


def _groups(out):
    return out.groupby("conversation_id", sort=False)["line"].apply(list).tolist()


def test_idle_gap_splits():
    df = _frame(["2026-11-09 10:00", "2026-11-09 10:30", "2026-11-09 11:00:01", "2026-11-09 11:10"])
    out = assign_conversations(df, SessionConfig(idle_gap_min=30))
    assert _groups(out) == [[1, 2], [3, 4]]  # exactly 30 min is not "longer than"
    out = assign_conversations(df, SessionConfig(idle_gap_min=90))
    assert _groups(out) == [[1, 2, 3, 4]]


def test_midnight_split_is_configurable():
    df = _frame(["2026-11-09 23:50", "2026-11-09 23:59:59", "2026-11-10 00:00:10"])
    assert _groups(assign_conversations(df, SessionConfig())) == [[1, 2], [3]]
    assert _groups(assign_conversations(df, SessionConfig(split_on_day=False))) == [[1, 2, 3]]


def test_midnight_is_local_time():
    # 16:00 UTC is midnight in Shanghai
    df = _frame(["2026-11-09 23:59", "2026-11-10 00:01"])
    df["ts"] = df["ts"].dt.tz_convert("UTC")
    assert _groups(assign_conversations(df, SessionConfig())) == [[1], [2]]


def test_customers_are_separate_and_sorted_by_time():
    df = _frame(["2026-11-09 10:05", "2026-11-09 10:00", "2026-11-09 10:01"], customers=["b", "a", "b"])
    out = assign_conversations(df)
    assert out["customer"].tolist() == ["a", "b", "b"]
    assert out["line"].tolist() == [2, 3, 1]
    assert out["conversation_id"].nunique() == 2


def test_nat_rows_stay_with_their_neighbours():
    df = _frame(["2026-11-09 10:00", None, "2026-11-09 10:01", None, "2026-11-09 14:00", None])
    out = assign_conversations(df)
    # a row without time takes the next timed row of its file (else the previous one)
    assert _groups(out) == [[1, 2, 3], [4, 5, 6]]
    assert out["line"].tolist() == [1, 2, 3, 4, 5, 6]


def test_export_key_defines_the_conversation():
    df = _frame(["2026-11-09 10:00", "2026-11-09 15:00", "2026-11-09 15:01"])
    df["conversation"] = ["k1", "k1", "k2"]
    assert _groups(assign_conversations(df)) == [[1, 2], [3]]


def test_ids_are_stable_and_do_not_mutate_input():
    df = _frame(["2026-11-09 10:00", "2026-11-09 10:01"])
    before = df.copy()
    a = assign_conversations(df)
    b = assign_conversations(df.iloc[::-1].reset_index(drop=True).assign(source="copy/elsewhere.txt"))
    pd.testing.assert_frame_equal(df, before)
    assert a["conversation_id"].iloc[0] == b["conversation_id"].iloc[0]
    assert a["conversation_id"].str.fullmatch(r"c[0-9a-f]{12}").all()


def test_to_hex():
    import numpy as np

    out = to_hex(np.array([0, 2**64 - 1, 0x0123456789ABCDEF], dtype=np.uint64), 16)
    assert out.tolist() == ["0000000000000000", "ffffffffffffffff", "0123456789abcdef"]
    assert to_hex(np.array([0xABCDEF0123456789], dtype=np.uint64), 12, prefix="c").tolist() == ["cabcdef012345"]


def test_nearest_valid_matches_grouped_bfill_then_ffill():
    import numpy as np

    from csaudit.model.sessions import nearest_valid

    rng = np.random.default_rng(1)
    for _ in range(200):
        n = int(rng.integers(0, 30))
        valid, group = rng.random(n) < 0.5, rng.integers(0, 4, n)
        pos = pd.Series(np.where(valid, np.arange(n), np.nan))
        near = pos.groupby(group).bfill()
        near = near.where(near.notna(), pos.groupby(group).ffill())
        expected = np.nan_to_num(near.to_numpy(dtype=float), nan=-1).astype(int)
        assert nearest_valid(valid, group).tolist() == expected.tolist()


def test_stable_argsort_matches_numpy():
    import numpy as np

    from csaudit.model.sessions import stable_argsort

    rng = np.random.default_rng(3)
    keys = [np.zeros(0, np.int64), np.array([5]), np.arange(50), np.arange(50)[::-1].copy(),
            np.array([2**64 - 1, 2**64 - 5, 2**64 - 1, 0], dtype=np.uint64), np.array([-100, 100, 5, -100], dtype=np.int8)]
    for span in (3, 300, 70_000, 2**40, 2**50, 2**62):
        k = rng.integers(-span // 2, span // 2 + 1, 3000)
        keys += [k, np.sort(k), np.concatenate([np.sort(k[:1500]), np.sort(k[1500:])]), k.astype(np.int32) if span < 2**31 else k]
    for k in keys:
        assert stable_argsort(k).tolist() == np.argsort(k, kind="stable").tolist()


def _lexsort_reference(df, cfg, file_order):
    """The row order of conversation_order as one np.lexsort over independently computed keys."""
    import numpy as np

    n = len(df)
    order0 = np.arange(n) if file_order is None else np.asarray(file_order)
    shop_c, shop_u = pd.factorize(df["shop"], use_na_sentinel=False)
    cust_c, cust_u = pd.factorize(df["customer"], use_na_sentinel=False)
    party = shop_c.astype(np.int64) * (len(cust_u) + 1) + cust_c
    t = df["ts"].dt.tz_localize(None).to_numpy().view("int64").astype(float)
    t[df["ts"].isna().to_numpy()] = np.nan
    fo = np.argsort(order0, kind="stable")
    grp = pd.Series(party[fo]).astype(str) + "|" + df["source"].astype(str).to_numpy()[fo]
    s = pd.Series(t[fo])
    near = s.groupby(grp.to_numpy()).bfill()
    near = near.where(near.notna(), s.groupby(grp.to_numpy()).ffill())
    tk = np.empty(n)
    tk[fo] = near.to_numpy()
    sort_t = np.where(np.isnan(tk), np.inf, tk)
    if "conversation" in df.columns and df["conversation"].notna().any():
        ck = pd.factorize(df["conversation"])[0]
        return np.lexsort((order0, sort_t, ck, party))
    return np.lexsort((order0, sort_t, party))


def test_conversation_order_matches_a_lexsort_of_its_keys():
    import numpy as np

    from csaudit.model.sessions import conversation_order

    rng = np.random.default_rng(2)
    for trial in range(300):
        n = int(rng.integers(1, 80))
        t = rng.integers(0, 3, n) * 86_400 + rng.integers(0, 7_200, n) + 1_700_000_000
        ts = pd.Series(pd.to_datetime(np.sort(t) if trial % 2 else t, unit="s")).dt.tz_localize("Asia/Shanghai")
        ts[rng.random(n) < rng.choice([0.0, 0.2, 0.9])] = pd.NaT
        src = rng.choice(["f0", "f1", "f2"], n)
        df = pd.DataFrame({"shop": rng.choice(["a", "b"], n), "customer": rng.choice(["x", "y", "z"], n), "ts": ts,
                           "source": np.sort(src) if trial % 3 else src})
        if trial % 5 == 0:
            df["conversation"] = pd.Series(rng.choice(["k1", "k2", None], n), dtype="str")
        if trial % 2:
            df = df.astype({"shop": "category", "customer": "category", "source": "category"})
        file_order = rng.permutation(n) if trial % 4 == 1 else None
        order, cid = conversation_order(df, SessionConfig(idle_gap_min=30), file_order)
        ref = _lexsort_reference(df, SessionConfig(), file_order)
        # conversations are runs of the reference order, rows within in that order
        pos = np.empty(n, dtype=np.int64)
        pos[ref] = np.arange(n)
        key = pos[order]
        first = pd.Series(key).groupby(pd.factorize(cid)[0]).transform("min").to_numpy()
        assert order[np.lexsort((key, first))].tolist() == ref.tolist(), trial
        assert (np.diff(key)[cid.to_numpy()[1:] == cid.to_numpy()[:-1]] > 0).all()


def test_hash_strings_from_arrow_equals_the_object_path():
    import numpy as np
    import pyarrow as pa

    from csaudit.model.sessions import hash_strings

    vals = ["", "a", "中文", "😀x", "a\nb", "\x00", "é", "e\u0301"]
    expected = pd.util.hash_array(np.array(vals, dtype=object), categorize=False)
    for given in (pa.array(vals), pa.array(vals, pa.large_string()), pa.chunked_array([vals[:3], vals[3:]]),
                  pd.Series(vals, dtype="str"), pd.Index(vals, dtype="str"), np.array(vals, dtype=object)):
        assert hash_strings(given).tolist() == expected.tolist()
    with_na = pd.Index(vals + [None], dtype="str")  # missing values take the object path
    assert hash_strings(with_na).tolist() == pd.util.hash_array(np.asarray(with_na, dtype=object), categorize=False).tolist()
    assert len(hash_strings(pa.array([], pa.string()))) == 0


def test_mix_equals_its_formula():
    import numpy as np

    from csaudit.model.sessions import mix

    def reference(*parts):
        out = []
        for row in zip(*parts, strict=True):
            h = 0x9E3779B97F4A7C15
            for x in row:
                h ^= (int(x) + 0x9E3779B97F4A7C15 + (h << 6) + (h >> 2)) % 2**64
                h ^= h >> 30
                h = h * 0xBF58476D1CE4E5B9 % 2**64
                h ^= h >> 27
                h = h * 0x94D049BB133111EB % 2**64
                h ^= h >> 31
            out.append(h)
        return out

    rng = np.random.default_rng(6)
    parts = [rng.integers(0, 2**64 - 1, 50, dtype=np.uint64, endpoint=True) for _ in range(4)]
    for k in range(1, 5):
        assert mix(*parts[:k]).tolist() == reference(*parts[:k])
