"""Helpers shared by the golden-file reader tests: read a variant, compare with ``expected.csv``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from csaudit.io.base import Parsed, RawFile, ReadContext

GOLDEN = Path(__file__).resolve().parent.parent / "data" / "golden"
TZ = "Asia/Shanghai"


def variants(fmt: str) -> list[Path]:
    """Every golden input of format folder ``fmt`` except ``expected.csv``."""
    return sorted(p for p in (GOLDEN / fmt).iterdir() if p.name != "expected.csv")


def expected(fmt: str) -> pd.DataFrame:
    """``expected.csv`` of ``fmt`` as strings ('' = missing) with ``ts`` as tz-aware local time."""
    df = pd.read_csv(GOLDEN / fmt / "expected.csv", dtype=str, keep_default_na=False)
    for c in ("ts", "created", "paid"):
        if c in df.columns:
            df[c] = pd.to_datetime(df[c].replace("", None)).dt.tz_localize(TZ).dt.as_unit("ns")
    return df


def comparable(messages: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``messages[columns]`` with missing text as '' and ``ts`` tz-aware in :data:`TZ`."""
    out = pd.DataFrame(index=messages.index)
    for c in columns:
        s = messages[c]
        if c == "ts":
            s = pd.to_datetime(s)
            s = s.dt.tz_localize(TZ) if s.dt.tz is None else s.dt.tz_convert(TZ)
            out[c] = s.dt.as_unit("ns")
        else:
            out[c] = s.astype("str").fillna("")
    return out.reset_index(drop=True)


def parse_file(module, path: Path, **ctx) -> Parsed:
    """Run ``module.parse`` on the bytes of ``path`` (source = ``<folder>/<name>``)."""
    raw = RawFile(f"{path.parent.name}/{path.name}", path.read_bytes())
    return module.parse(raw, ReadContext(**ctx))


def raw_of(name: str, text: str, encoding: str = "utf-8") -> RawFile:
    return RawFile(name, text.encode(encoding))
