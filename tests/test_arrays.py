"""The shared numpy/Arrow helpers: each equals the plain pandas way it replaces."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csaudit.arrays import factorize_runs, lookup, one_chunk


@pytest.mark.parametrize(
    "values",
    [
        ["c1", "c1", "c2", "c2", "c2", "c3"],  # grouped: the fast path
        ["c1", "c2", "c1"],  # a value comes back: plain factorize
        ["c1", None, "c2"],  # missing: plain factorize
        ["only"],
        [],
    ],
)
def test_factorize_runs_equals_pd_factorize(values):
    s = pd.Series(values, dtype="str")
    want_codes, want_uniques = pd.factorize(s)
    codes, uniques = factorize_runs(s)
    np.testing.assert_array_equal(codes, want_codes)
    assert list(uniques) == list(want_uniques)


def test_lookup_positions_absent_and_missing():
    keys = pd.Series(["a", "b", "c"], dtype="str")
    values = pd.Series(["c", "x", None, "a", "a"], dtype="str")
    np.testing.assert_array_equal(lookup(keys, values), [2, -1, -1, 0, 0])
    # a missing key never matches a missing value, and positions stay positions
    np.testing.assert_array_equal(lookup(pd.Series(["a", None, "c"], dtype="str"), pd.Series(["c", None], dtype="str")), [2, -1])
    np.testing.assert_array_equal(lookup(pd.Series([1, 2, 3]), pd.Series([3, 7])), [2, -1])  # compared as text
    assert len(lookup(keys, pd.Series([], dtype="str"))) == 0


def test_one_chunk_keeps_values_and_index():
    s = pd.concat([pd.Series(["a", "b"], dtype="str"), pd.Series(["c"], dtype="str")])
    assert s.array._pa_array.num_chunks == 2
    out = one_chunk(s)
    assert out.array._pa_array.num_chunks == 1
    pd.testing.assert_series_equal(out, s)


def test_arrow_series_places_values_by_position():
    import pyarrow as pa

    from csaudit.arrays import arrow_series

    s = arrow_series(pa.array(["a", None, "c"]), pd.Index([7, 3, 9]), "str")
    assert s.index.tolist() == [7, 3, 9]
    assert s.iloc[0] == "a" and pd.isna(s.iloc[1]) and s.iloc[2] == "c"
    assert str(s.dtype) == "str"
