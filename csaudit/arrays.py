"""Small numpy helpers shared by the vectorised stages (rounds, latency, score, audit).

Timestamps are handled as int64 nanoseconds since the epoch (UTC) with :data:`NAT` for missing, so
group-wise minima, maxima and differences run on plain integer arrays.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NAT = np.iinfo(np.int64).min
"""The int64 value of a missing timestamp (NaT)."""


def ts_ns(ts: pd.Series) -> np.ndarray:
    """Timestamps as int64 nanoseconds since the epoch, UTC (naive values taken as UTC); NaT → :data:`NAT`."""
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    return ts.to_numpy(dtype="datetime64[ns]").view("int64")


def first_per_group(group: np.ndarray, rows: np.ndarray, n_groups: int) -> np.ndarray:
    """Row position of the first of ``rows`` (ascending) in each group; −1 where a group has none.

    ``group`` holds a group code per row and must be sorted (each group's rows contiguous)."""
    out = np.full(n_groups, -1, dtype=np.int64)
    if len(rows):
        g = group[rows]
        first = np.r_[True, g[1:] != g[:-1]]
        out[g[first]] = rows[first]
    return out


def arrow_strings(s: pd.Series):
    """The Arrow array behind a ``str`` Series (missing → null), in one chunk, as ``string`` (not
    ``large_string``); other Series are converted by ``pa.array``."""
    import pyarrow as pa

    arr = getattr(s.array, "_pa_array", None)
    if arr is None:
        arr = pa.array(s.array)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.string())
    return arr


def lookup(keys: pd.Series, values: pd.Series) -> np.ndarray:
    """Position in ``keys`` (unique) of each of ``values``; −1 where absent or missing. Compared as
    text; one Arrow hash table of the keys, probed by the values."""
    import pyarrow.compute as pc

    vals = arrow_strings(pd.Series(values, dtype="str"))
    if len(vals) == 0:
        return np.zeros(0, dtype=np.int64)
    pos = pc.index_in(vals, value_set=arrow_strings(pd.Series(keys, dtype="str")), skip_nulls=True)
    return np.asarray(pc.fill_null(pos, -1).to_numpy(zero_copy_only=False), dtype=np.int64)


def one_chunk(s: pd.Series) -> pd.Series:
    """``s`` with its Arrow data in one contiguous chunk (``concat`` and parquet leave several; Arrow's
    ``take`` is slow on many and some kernels want a plain ``Array``). Other Series are returned as is."""
    arr = getattr(s.array, "_pa_array", None)
    if arr is None or getattr(arr, "num_chunks", 1) <= 1:
        return s
    # an array, not a Series: a Series would be aligned on s's index labels (wrong for any index but 0..n-1)
    return pd.Series(pd.array(arr.combine_chunks(), dtype=s.dtype), index=s.index, copy=False)


def factorize_runs(s: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """``pd.factorize(s)`` — int64 codes in order of first appearance (−1 for missing) and the
    distinct values — computed faster when equal values sit in contiguous runs, as the ids of
    MESSAGES grouped by conversation do: one comparison of neighbours (Arrow) and a factorisation of
    the run heads only. Any other input (a value that comes back after a different one, missing
    values, non-Arrow data) gets plain ``pd.factorize``: the result is always the same."""
    arr = getattr(s.array, "_pa_array", None)
    n = len(s)
    if arr is None or n < 2 or arr.null_count:
        codes, uniques = pd.factorize(s)
        return codes, pd.Index(uniques)
    import pyarrow.compute as pc

    flat = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    change = pc.not_equal(flat.slice(1), flat.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    heads = np.flatnonzero(np.r_[True, change])
    head_values = s.iloc[heads]
    _, uniques = pd.factorize(head_values)
    if len(uniques) != len(heads):  # a value comes back later: not contiguous
        codes, uniques = pd.factorize(s)
        return codes, pd.Index(uniques)
    codes = np.repeat(np.arange(len(heads), dtype=np.intp), np.diff(np.r_[heads, n]))
    return codes, pd.Index(uniques)


def arrow_series(arr, index: pd.Index | None = None, dtype: object = None) -> pd.Series:
    """The pandas Series of Arrow array ``arr``, placed on ``index`` by position (``pd.Series(
    arr.to_pandas(), index=index)`` would align on labels: NaN for any index but 0..n-1)."""
    out = arr.to_pandas()
    if index is not None:
        out = out.set_axis(index)
    return out if dtype is None else out.astype(dtype)
