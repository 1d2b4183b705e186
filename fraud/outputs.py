"""Writing a scan's outputs (contract section 2) atomically: each file is written under a temporary name in
the output folder and renamed into place, so an interrupted scan leaves the previous outputs intact."""
from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import polars as pl

from fraud.errors import FraudError
from fraud.leftovers import owned_prefix, remove_abandoned

FORMULA_RE = r"^[=+\-@\t\r]"
# A plain number (``+8613800000001``, ``-1001``, ``-2.5e3``) is no formula: a spreadsheet reads it as a number.
# Left as it is, so an E.164 phone number or a negative numeric id is the same string in the CSV and Parquet forms.
PLAIN_NUMBER_RE = r"^[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$"
# Nor is a bare word after a leading + - @ (a handle ``@alice``, an id ``-bob`` or ``@dev-1``): at worst a
# spreadsheet shows #NAME? for it. What runs something (a call, DDE, a reference to another sheet, arithmetic)
# needs a character outside this set: ( | ! = + space ; ...
BARE_WORD_RE = r"^[+\-@][\w.@\-]*$"


# The exemptions for Python's re: its $ also matches before a final line break, Polars' (Rust's) does not.
_NOT_FORMULA = [re.compile(p.removesuffix("$") + r"\Z") for p in (PLAIN_NUMBER_RE, BARE_WORD_RE)]


def csv_text(s: str) -> str:
    """One text cell in its CSV form by :func:`csv_safe`'s rule (for files written row by row: decisions.csv)."""
    live = re.match(FORMULA_RE, s) and not any(w.match(s) for w in _NOT_FORMULA)
    return "'" + s if live else s


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; outputs are meant to be shared with reviewers
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def csv_safe(df: pl.DataFrame) -> pl.DataFrame:
    """CSV form of a frame: UTC timestamps as ISO 8601 with ``Z``, and text cells that a spreadsheet would run
    as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) prefixed with a single
    quote, unless the cell is a plain number (``+8613800000001``, ``-1001``) or a bare word (``@alice``,
    ``-bob``): ids, not formulas, written as the Parquet form holds them. JSON evidence is left as is (it always
    starts with ``{``)."""
    exprs = []
    for c, t in df.schema.items():
        if isinstance(t, pl.Datetime):
            e = pl.col(c)
            if t.time_zone is None:
                e = e.dt.replace_time_zone("UTC")
            exprs.append(e.dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S%.fZ")
                         .str.replace(r"\.000000Z$", "Z").alias(c))
        elif t == pl.String:
            formula = (pl.col(c).str.contains(FORMULA_RE) & ~pl.col(c).str.contains(PLAIN_NUMBER_RE)
                       & ~pl.col(c).str.contains(BARE_WORD_RE))
            exprs.append(pl.when(formula).then(pl.lit("'") + pl.col(c))
                         .otherwise(pl.col(c)).alias(c))
        else:
            exprs.append(pl.col(c))
    return df.select(exprs)


def write_table(df: pl.DataFrame, out: Path, stem: str) -> None:
    """``stem.parquet`` and ``stem.csv`` in ``out``."""
    _atomic(out / f"{stem}.parquet", lambda p: df.write_parquet(p, statistics=False, compression="zstd"))
    _atomic(out / f"{stem}.csv", lambda p: csv_safe(df).write_csv(p))


def write_csv(df: pl.DataFrame, path: Path) -> None:
    _atomic(path, lambda p: csv_safe(df).write_csv(p))


def write_text(path: Path, text: str) -> None:
    _atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_json(path: Path, obj: object) -> None:
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def prepare_out(out: str | Path) -> Path:
    p = Path(out)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FraudError(f"{p}: cannot create output folder ({e.strerror})") from None
    if not os.access(p, os.W_OK):
        raise FraudError(f"{p}: output folder is not writable")
    return p


STAGE_PREFIX = ".staging-"


class staged_output:  # noqa: N801 - used as a context manager
    """Write a scan's files into a hidden staging folder inside ``out`` and move them into place only when
    all were written: an interrupted scan leaves the previous outputs as they were.

        with staged_output(out) as stage:
            write_table(df, stage, "findings")
    """

    def __init__(self, out: Path) -> None:
        self.out = out

    def __enter__(self) -> Path:
        remove_abandoned(self.out, STAGE_PREFIX)  # a scan killed while writing its outputs left it
        self.stage = Path(tempfile.mkdtemp(prefix=owned_prefix(STAGE_PREFIX), dir=self.out))
        return self.stage

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                for f in sorted(self.stage.iterdir()):
                    os.replace(f, self.out / f.name)
        finally:
            for f in self.stage.iterdir():
                f.unlink(missing_ok=True)
            self.stage.rmdir()
