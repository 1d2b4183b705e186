"""Record-by-record readers for the text files Polars' fast readers refuse as a whole.

One malformed record (a stray quote inside an unquoted CSV field, a CSV row with more fields than the header, a
truncated or non-object NDJSON line, a JSON value whose type differs from the other lines') must not make a
whole log unreadable: the contract wants such a row in ``rejected.csv`` and the rest scanned. These readers take
over only when the fast reader fails, so their Python loop over records costs nothing on well-formed files.

Both return every field as text (as the fast readers are asked to), the 1-based record number in ``_row`` and,
for a record that could not be split into fields, its reason in :data:`LINE_ERROR` and its text in
:data:`LINE_TEXT` (the parser rejects those rows with that reason).
"""
from __future__ import annotations

import csv
import io
import json

import polars as pl

from fraud.schema import RAW_PREVIEW_CHARS

LINE_ERROR = "__line_error"
LINE_TEXT = "__line_text"
INTERNAL = frozenset({"_row", LINE_ERROR, LINE_TEXT})


def _frame(columns: list[str], rows: list[list[str | None]], rownums: list[int], errors: list[str | None],
           texts: list[str | None]) -> pl.DataFrame:
    data = {c: [r[i] for r in rows] for i, c in enumerate(columns)}
    data.update({"_row": rownums, LINE_ERROR: errors, LINE_TEXT: texts})
    return pl.DataFrame(data, schema={**dict.fromkeys(columns, pl.String), "_row": pl.Int64,
                                      LINE_ERROR: pl.String, LINE_TEXT: pl.String})


def _unique_names(header: list[str]) -> list[str]:
    """Header names made unique as Polars does (``ts``, ``ts_duplicated_0``)."""
    seen: dict[str, int] = {}
    out = []
    for name in header:
        if name in seen:
            out.append(f"{name}_duplicated_{seen[name]}")
            seen[name] += 1
        else:
            seen[name] = 0
            out.append(name)
    return out


def csv_records(text: str, separator: str) -> pl.DataFrame:
    """A CSV file read record by record with Python's lenient ``csv`` reader: a quote inside an unquoted field
    is a character; a record with fewer fields than the header is padded with nulls, one with more is a
    :data:`LINE_ERROR` (its fields are shifted: an unquoted separator or a broken quote). Empty fields are null."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator, strict=False)
    header = next(reader, None) or []
    columns, width = _unique_names(header), len(header)
    rows, rownums, errors, texts = [], [], [], []
    for n, rec in enumerate(reader, start=1):
        if len(rec) > width:
            rows.append([None] * width)
            errors.append(f"{len(rec)} fields where the header has {width} (an unquoted separator or a broken "
                          "quote)")
            texts.append(separator.join(rec)[:RAW_PREVIEW_CHARS])
        else:
            rows.append([v if v != "" else None for v in rec] + [None] * (width - len(rec)))
            errors.append(None)
            texts.append(None)
        rownums.append(n)
    return _frame(columns, rows, rownums, errors, texts)


def _text_value(v: object) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False)
    return str(v)


def ndjson_records(lines: list[str]) -> pl.DataFrame:
    """NDJSON lines parsed one by one: each object's values as text (nested values as JSON text, so a list
    where a number belongs is a bad number, not a failed file); a line that is no JSON object is a
    :data:`LINE_ERROR`. ``_row`` is the line number (blank lines are no records but keep the count)."""
    objs, rownums, errors, texts = [], [], [], []
    keys: dict[str, None] = {}
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            err = None if isinstance(obj, dict) else f"line is JSON but not an object ({type(obj).__name__})"
        except ValueError as e:
            obj, err = None, f"line is not valid JSON ({str(e).split(':')[0]})"
        if err is None:
            keys.update(dict.fromkeys(obj))
            objs.append(obj)
            texts.append(None)
        else:
            objs.append({})
            texts.append(line[:RAW_PREVIEW_CHARS])
        errors.append(err)
        rownums.append(n)
    columns = list(keys)
    rows = [[_text_value(o.get(c)) for c in columns] for o in objs]
    return _frame(columns, rows, rownums, errors, texts)


def blank_line_rows(lines: list[str]) -> list[int] | None:
    """Line numbers of the non-blank lines when some line is blank (else None: record k is line k)."""
    if all(line.strip() for line in lines):
        return None
    return [n for n, line in enumerate(lines, start=1) if line.strip()]
