"""Helpers shared by the shop-figure modules (issue 14)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from csaudit.arrays import lookup


def isin(values: pd.Series, members: pd.Series | Iterable[str]) -> np.ndarray:
    """``values.isin(members)`` compared as text, as a bool array: one Arrow hash probe (pandas'
    ``isin`` on Arrow strings converts every member to a Python object first)."""
    m = pd.Series(members if isinstance(members, pd.Series) else list(members), dtype="str").dropna()
    if not len(values) or not len(m):
        return np.zeros(len(values), dtype=bool)
    return lookup(pd.Series(pd.unique(m), dtype="str"), values) >= 0
