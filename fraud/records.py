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
import math
from pathlib import Path
from typing import BinaryIO

import polars as pl

from fraud.schema import RAW_PREVIEW_CHARS

csv.field_size_limit(2**31 - 1)  # Python's default (131,072 characters) is no limit the fast reader has

LINE_ERROR = "__line_error"
LINE_TEXT = "__line_text"
# A hash of a row's other (extra) columns: two rows equal on the canonical columns but not on a request id the
# file also holds are two events, not one line written twice (fraud.duplicates)
EXTRA_HASH = "__extra_hash"
# A sliced scan's mark of a CSV row with no value at all: only then are the file's empty lines looked for
EMPTY_ROW = "__empty_row"
# A sliced scan's mark of a CSV row whose last field is empty or missing: only then are the file's lines looked at
# for a record short of fields (:func:`short_lines`)
LAST_NULL = "__last_null"
INTERNAL = frozenset({"_row", LINE_ERROR, LINE_TEXT, EXTRA_HASH, EMPTY_ROW, LAST_NULL})
# Prefixes the JSON text of a nested NDJSON value (an object or a list): a text column holding one is a rejected
# row ("nested JSON value"), not an account named '{"id": "u1"}'. No scalar's text starts with NUL.
NESTED = "\x00"
# Prefixes the text of a JSON true/false or non-finite number (NaN, Infinity, 1e400) where a column also holds
# strings: no id ("user_id is a JSON true/false ..."), where a mixed column read as text made it the account
# "true" or "inf". Other columns read the text behind it as they read the same text from a CSV file.
JSON_LITERAL = "\x01"
# Names the reading pipeline adds itself; a file's own column of that name is renamed (then an ignored extra).
RESERVED = INTERNAL | {"_file", "_fi", "_shard"}


def reserved_renames(names: list[str]) -> dict[str, str]:
    """A file's own columns named like the reader's internal ones, renamed ``_row`` -> ``_row (input column)``."""
    return {c: f"{c} (input column)" for c in names if c in RESERVED}


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


_CR = "\ue000"  # stands in for a CR inside a line while Python's csv splits it (a private-use character)


def _csv_rows(lines: list[str], start: int, separator: str):
    """``(first line, last line, fields)`` of each CSV record from ``lines[start]`` on (a quoted field may span
    lines); the line numbers let a record that runs to the end of the file inside a quote be told apart."""
    consumed = [start]

    def feed():
        while consumed[0] < len(lines):
            consumed[0] += 1
            ln = lines[consumed[0] - 1]
            # a bare CR inside a field is a character (the fast reader keeps it); Python's csv refuses it
            body, end = (ln[:-1], "\r") if ln.endswith("\r") else (ln, "")
            yield body.replace("\r", _CR) + end + "\n"

    first = start
    for rec in csv.reader(feed(), delimiter=separator, strict=False):
        yield first, consumed[0] - 1, [v.replace(_CR, "\r") for v in rec]
        first = consumed[0]


def blank_csv_rows(data: bytes | BinaryIO) -> list[int]:
    """The data rows (1-based, the header apart, leading empty lines skipped as the readers do) that are empty
    lines, in a CSV file (its bytes, or a binary stream read in 16 MiB chunks) each of whose lines is one record:
    the fast reader reads an empty line as a row of nulls (rejected for its missing values), while it is no record
    at all (an editor's final empty line, a blank line between two exports). A chunk is split into lines only when
    an empty line may stand in it."""
    fh = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    rows: list[int] = []
    line, started, carry = 0, False, b""  # line: index of the next line (0 = the header); started: past leading
    while chunk := fh.read(1 << 24):       # empty lines; carry: the chunk's unfinished last line
        if not started:
            chunk = chunk.lstrip(b"\r\n")
            if not chunk:
                continue
            started = True
        data = carry + chunk
        cut = data.rfind(b"\n") + 1
        done, carry = data[:cut], data[cut:]
        if b"\n\n" in data or b"\n\r\n" in data or done.startswith((b"\n", b"\r\n")):
            for ln in done.split(b"\n")[:-1]:
                if line and ln in (b"", b"\r"):
                    rows.append(line)
                line += 1
        else:
            line += done.count(b"\n")
    if carry == b"\r" and line:  # a last line without its line end, empty but for a CR
        rows.append(line)
    return rows


def leading_empty_lines(head: bytes) -> int:
    """Empty lines before a text file's header (the readers skip them)."""
    return head[:len(head) - len(head.lstrip(b"\r\n"))].count(b"\n")


def last_line_quote_open(tail: bytes) -> bool:
    """Whether the last line of a text file (``tail``: its end) holds an odd number of quotes."""
    return tail.rstrip(b"\r\n").rsplit(b"\n", 1)[-1].count(b'"') % 2 == 1


def csv_spans_lines(data: bytes, records: int) -> bool:
    """Whether a CSV file read as ``records`` data records (header apart) has a record spanning lines or a last
    line whose quote is never closed: each line is one record for the fast reader (blank lines included) unless a
    quoted field runs over a line end, which in a log is nearly always a stray quote (``"okhttp/4.9`` copied from
    an nginx log) that swallowed the lines up to the next stray quote as one "field"."""
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1) - leading_empty_lines(data)
    return records + 1 < lines or last_line_quote_open(data)


def short_lines(source: bytes | Path, separator: str, width: int) -> bool:
    """Whether some non-empty line of a CSV text (bytes, or a file too large to hold) holds fewer separators than a
    ``width``-column record needs: a field is missing, and the fast reader would pad the record with nulls at its
    end, shifting the fields after the gap into the wrong columns. The lines are read by Polars as one column
    (0.13 s per 1M lines; splitting them in Python took 1.5-3 s); a quoted separator only adds to a line's count, so
    no whole record is ever taken for a short one (the header, the widest line, neither)."""
    if width < 2:
        return False
    lines = pl.scan_csv(io.BytesIO(source) if isinstance(source, bytes) else source, has_header=False,
                        separator="\x1f", quote_char=None, new_columns=["line"], infer_schema=False,
                        truncate_ragged_lines=True, encoding="utf8-lossy")
    line = pl.col("line")
    short = (line.str.count_matches(separator, literal=True) < width - 1) & (line.str.strip_chars("\r ") != "")
    return bool(lines.select(short.any()).collect(engine="streaming").item())


# Records of a file read for the shapes of its values (the first this many one-line records of the header's width)
SHAPE_SAMPLE_LINES = 10_000


def _shape(value: str) -> str:
    """A field's shape: each run of digits ``9`` and each run of letters ``a``, with the run's length as 1 (one), 2
    (two or three) or 3 (four or more); other characters as they are (``2024-03-01T08:00:00Z`` is
    ``93-92-92a192:92:92a1``, ``u17`` is ``a192``, ``Springfield`` is ``a3``, a note's ``b`` is ``a1``)."""
    out: list[str] = []
    kind, run = "", 0
    for ch in value + "\0":
        c = "9" if ch.isdigit() else "a" if ch.isalpha() else ch
        if c == kind and c in "9a":
            run += 1
            continue
        if kind in ("9", "a"):
            out.append(kind + ("1" if run == 1 else "2" if run <= 3 else "3"))
        elif kind:
            out.append(kind)
        kind, run = c, 1
    return "".join(out)


def _line_fields(line: str, separator: str) -> list[str]:
    """One line's fields read alone: as CSV when its quotes pair up, else split at every separator."""
    if line.count('"') % 2 == 0:
        return next(csv.reader([line.replace("\r", _CR)], delimiter=separator, strict=False), [])
    return line.split(separator)


def _column_shapes(lines: list[str], separator: str, width: int) -> list[set[str]]:
    """Per column, the shapes (:func:`_shape`) of its values in the file's records that lie on one line of their own
    with the header's width (the first :data:`SHAPE_SAMPLE_LINES` of them, among the first ten times as many records:
    the record reader's second pass over a file whose records are nearly all broken stops there). A line inside a
    field quoted over lines (``  "b": [1, 2, 3]`` of a JSON blob) is no sample, nor is one with a stray quote."""
    shapes: list[set[str]] = [set() for _ in range(width)]
    seen = 0
    for n, (first, last, rec) in enumerate(_csv_rows(lines, 1, separator)):
        if first == last and len(rec) == width and lines[first].count('"') % 2 == 0:
            for i, v in enumerate(rec):
                shapes[i].add(_shape(v))
            seen += 1
        # enough samples, or a file whose records are nearly all broken: not read twice to the end
        if seen == SHAPE_SAMPLE_LINES or n == 10 * SHAPE_SAMPLE_LINES:
            break
    return shapes


def _like_a_record(line: str, separator: str, shapes: list[set[str]], column: int | None = None,
                   whole: bool = False) -> bool:
    """Whether a line read alone has the header's width and most of its fields shaped as the file's records' (a
    record a stray quote swallowed, not a line of a note or a JSON blob that a CSV writer quoted over lines). With
    ``column``, the line is part of a record from that column on (0: the text before a closing quote; the quoted
    field's column: the text after an opening quote), two or more fields, at least half of them shaped as the file's
    values in those columns (``2024-03-01T08:02:00Z,u2,curl/8.1`` before a stray closing quote); with ``whole``, as
    many fields as columns from there on (the rest of a record after a stray opening quote)."""
    fields = _line_fields(line.rstrip("\r"), separator)
    if column is None:
        return len(fields) == len(shapes) and 2 * sum(_shape(v) in s for v, s in zip(fields, shapes)) > len(fields)
    if not 2 <= len(fields) <= len(shapes) - column or (whole and len(fields) != len(shapes) - column):
        return False
    return 2 * sum(_shape(v) in shapes[column + i] for i, v in enumerate(fields)) >= len(fields)


def _closing_quote(line: str) -> int:
    """Where the last line of a field quoted over lines closes it: its first quote that is no doubled ``""``
    (-1: none)."""
    at = 0
    while (at := line.find('"', at)) >= 0:
        if not line.startswith('""', at):
            return at
        at += 2
    return -1


def _swallowed(lines: list[str], field: str, column: int, separator: str, shapes: list[set[str]]) -> bool:
    """Whether ``field``, the value of ``column`` that a quote opened on the first of ``lines`` and ran over the
    others, swallowed records: the quote closing it is not followed by a separator or the line's end, as a CSV
    writer's is (a stray quote is "closed" by the next stray one, mostly at the start of a value: ``"okhttp``); the
    file has no one-line record to compare with (:func:`_column_shapes`: no sample, no benefit of the doubt); or a
    line between, the end of the first after the opening quote (the rest of a record: as many fields as columns
    left) or the start of the last before the closing quote is shaped like the file's records
    (:func:`_like_a_record`)."""
    last = lines[-1].rstrip("\r")
    close = _closing_quote(last)
    rest = last[close + 1:] if close >= 0 else None
    if rest is None or (rest != "" and not rest.startswith(separator)) or not all(shapes):
        return True
    parts = field.split("\n")
    return (any(_like_a_record(ln, separator, shapes) for ln in lines[1:-1])
            or _like_a_record(parts[0], separator, shapes, column, whole=True)
            or _like_a_record(parts[-1], separator, shapes, 0))


def csv_records(text: str, separator: str) -> pl.DataFrame:
    """A CSV file read record by record with Python's lenient ``csv`` reader: a quote inside an unquoted field is a
    character; a record with fewer fields than the header (a missing separator: its later fields would land in the wrong
    columns) or more (an unquoted separator or a broken quote: shifted too) is a :data:`LINE_ERROR`, and so is a line
    whose opening quote is never closed (it would swallow the rest of the file) or whose quoted field runs over line
    ends holding a record's worth of separators and lines shaped as the file's records (a stray quote that a later stray
    quote "closes": :func:`_swallowed`): the reading resumes on the next line. A quoted field over lines that are no
    records (a note or an address written over two lines, a JSON blob) stays one field. Empty fields are null. When
    every record is one empty field wider than the header (a separator ending each line), that field is no field."""
    lines = text.lstrip("\r\n").split("\n")  # leading empty lines are skipped, as the fast reader does
    if lines and lines[-1] == "":
        lines.pop()
    header = next(csv.reader([lines[0]] if lines else [], delimiter=separator), [])
    columns, width = _unique_names(header), len(header)
    columns = [reserved_renames([c]).get(c, c) for c in columns]
    rows, rownums, errors, texts = [], [], [], []
    shapes: list[set[str]] | None = None  # the records' shapes, read once the first field over lines needs them

    record = [0]  # records so far, empty lines included: row N is the Nth record, as the fast reader counts
    whole = 0  # records of the header's width
    trailing: list[tuple[int, list]] = []  # records one empty field wider: (row index, the header's fields)

    def reject(reason: str, text: str) -> None:
        record[0] += 1
        rows.append([None] * width)
        errors.append(reason)
        texts.append(text[:RAW_PREVIEW_CHARS])
        rownums.append(record[0])

    at = 1
    while at < len(lines):
        resume = None
        for first, last, rec in _csv_rows(lines, at, separator):
            # (on the last line alone, a quote that opens a field and leaves the record short of fields; a quote
            # inside an unquoted field is a character)
            if (last == len(lines) - 1 and "\n".join(lines[first:last + 1]).count('"') % 2
                    and (last > first or len(rec) < width)):
                reject("a quote opened on this line is never closed", lines[first])
                resume = first + 1
                break
            # a quoted field over line ends that holds a whole record's separators may have swallowed records: the
            # tail of one line and the head of the next (a stray quote on two adjacent lines), or whole lines between,
            # or up to a later field's opening quote. A field a CSV writer quoted over lines (a note, an address, a
            # JSON blob) ends with its closing quote, and its lines are shaped like no record of the file
            # ("Springfield, IL, 62701" beside "2024-03-04T10:01:00Z,u2,plain"): it was rejected, with a phantom
            # row (:func:`_swallowed`).
            wide = [(v, i) for i, v in enumerate(rec) if "\n" in v and v.count(separator) >= width - 1]
            if last > first and width > 1 and wide and shapes is None:
                shapes = _column_shapes(lines, separator, width)
            if (last > first and width > 1 and wide
                    and _swallowed(lines[first:last + 1], *wide[0], separator, shapes)):
                reject("a quote opened on this line runs over the next lines, which are records of their own "
                       "(a stray quote)", lines[first])
                resume = first + 1
                break
            # a separator ending the line, as some exporters end every record (read as such when every record of
            # the file ends so; one such record among whole ones is an unquoted separator)
            ends_in_separator = len(rec) == width + 1 and rec[-1].strip(" \r") == "" and width > 0
            if last > first and len(rec) != width and width > 1 and not ends_in_separator:
                # a record over several lines that is no whole record: a stray quote's field ran on until some later
                # quote closed it. Only its first line is rejected and the lines after it are read again (they
                # vanished into its rejected text, cut at RAW_PREVIEW_CHARS)
                reject(f"a quote opened on this line runs over the next lines, ending in a record of {len(rec)} "
                       f"field{'s' * (len(rec) != 1)} where the header has {width} (a stray quote)", lines[first])
                resume = first + 1
                break
            if ends_in_separator:
                reject(f"{len(rec)} fields where the header has {width} (an unquoted separator or a broken quote)",
                       separator.join(rec))
                trailing.append((len(rows) - 1, [v if v != "" else None for v in rec[:-1]]))
                continue
            if len(rec) > width:
                reject(f"{len(rec)} fields where the header has {width} (an unquoted separator or a broken quote)",
                       separator.join(rec))
                continue
            if not rec and first == last and lines[first].strip("\r") == "":
                record[0] += 1
                continue  # an empty line is no record (it keeps its number, as in NDJSON)
            if len(rec) < width and width > 1:
                reject(f"{len(rec)} field{'s' * (len(rec) != 1)} where the header has {width} (a missing "
                       "separator, or fields left off the end)", separator.join(rec))
                continue
            record[0] += 1
            rows.append([v if v != "" else None for v in rec] + [None] * (width - len(rec)))
            errors.append(None)
            texts.append(None)
            rownums.append(record[0])
            whole += 1
        if resume is None:
            break
        at = resume
    if trailing and not whole:
        for i, values in trailing:
            rows[i], errors[i], texts[i] = values, None, None
    return _frame(columns, rows, rownums, errors, texts)


def first_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """A JSON object whose key repeats keeps the key's first value (``json.loads``' ``object_pairs_hook``), as
    Polars' NDJSON reader does: one record reads alike whichever reader a file takes (Python's keeps the last)."""
    out: dict[str, object] = {}
    for k, v in pairs:
        out.setdefault(k, v)
    return out


def _text_value(v: object) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return JSON_LITERAL + ("true" if v else "false")
    if isinstance(v, (dict, list)):
        return NESTED + json.dumps(v, ensure_ascii=False)
    if isinstance(v, float) and not math.isfinite(v):
        return JSON_LITERAL + str(v)  # nan, inf, -inf
    if isinstance(v, float) and v.is_integer() and abs(v) < 2.0 ** 53:
        return str(int(v))  # 1001.0 is the id 1001, as the fast reader and Parquet float columns read it
    return str(v)


def ndjson_records(lines: list[str]) -> pl.DataFrame:
    """NDJSON lines parsed one by one: each object's values as text (nested values as JSON text behind
    :data:`NESTED`, so a list where a number belongs is a bad number and an object where an id belongs a rejected
    row, not a failed file); a line that is no JSON object is a
    :data:`LINE_ERROR`, and so is a line nested deeper than Python's recursion limit (thousands of ``[``: the
    JSON decoder raises :class:`RecursionError`, which must not fail the other lines). ``_row`` is the line
    number (blank lines are no records but keep the count)."""
    objs, rownums, errors, texts = [], [], [], []
    keys: dict[str, None] = {}
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line, object_pairs_hook=first_keys)
            if isinstance(obj, dict):  # as text here: re-encoding a deep nested value may recurse too far as well
                obj, err = {k: _text_value(v) for k, v in obj.items()}, None
            else:
                err = f"line is JSON but not an object ({type(obj).__name__})"
        except ValueError as e:
            obj, err = None, f"line is not valid JSON ({str(e).split(':')[0]})"
        except RecursionError:
            obj, err = None, "line is not valid JSON (nested too deeply)"
        if err is None:
            keys.update(dict.fromkeys(obj))
            objs.append(obj)
            texts.append(None)
        else:
            objs.append({})
            texts.append(line[:RAW_PREVIEW_CHARS])
        errors.append(err)
        rownums.append(n)
    keys_in = list(keys)
    rows = [[o.get(c) for c in keys_in] for o in objs]
    return _frame([reserved_renames([c]).get(c, c) for c in keys_in], rows, rownums, errors, texts)


def blank_line_rows(lines: list[str]) -> list[int] | None:
    """Line numbers of the non-blank lines when some line is blank (else None: record k is line k)."""
    if all(line.strip() for line in lines):
        return None
    return [n for n, line in enumerate(lines, start=1) if line.strip()]
