"""Reading inputs at the edge: files or globs of CSV(.gz) / Parquet / NDJSON(.gz), mapped onto the canonical
columns, parsed into typed frames, with every unparseable row set aside (never silently dropped).

A missing required column, an unreadable file or an unknown format raises :class:`~fraud.errors.InputError`
naming the file and the column. Rows with a bad timestamp, a missing required value, an unparseable
number/boolean or an out-of-range coordinate or score go to the rejected frame with the source file, the
1-based data row number (the header is not counted) and the reason.
"""
from __future__ import annotations

import glob as globmod
import gzip
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from fraud.exprs import NO_VALUE_WORDS, fmt, ip_address, is_missing, per_distinct, placeholder_id

from fraud.config import EVENT_NAME_GAPS, Config
from fraud.errors import InputError, first_line
from fraud.duplicates import DEDUPLICATED_KINDS, split_duplicates
from fraud.records import (EXTRA_HASH, INTERNAL, LINE_ERROR, LINE_TEXT, NESTED, blank_csv_rows, blank_line_rows,
                           csv_records, csv_spans_lines, extra_hash, ndjson_records, reserved_renames)
from fraud.schema import (BOOL, FLOAT, INPUT_SCHEMAS, INT, RAW_PREVIEW_CHARS, REJECTED_COLUMNS, TIMESTAMP,
                          InputSchema)
from fraud.timeparse import (dst_problem, naive_timestamp, parse_timestamp, plausible, rfc3339_timestamp,
                             timestamp_from_native)

# .json: an API export's array of records, NDJSON saved as .json, or one (pretty-printed) object
FORMATS = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "ndjson",
           ".ndjson": "ndjson", ".json": "ndjson"}
# Data formats a scan does not read: a folder's file named like an input in one of them is an error, never skipped
# (its rows would silently be missing); other suffixes (.bak, .orig, .swp ...) are no input and are skipped.
UNREAD_DATA_SUFFIXES = frozenset({".xlsx", ".xls", ".xml", ".txt", ".zip", ".bz2", ".xz", ".zst", ".7z",
                                  ".feather", ".arrow", ".ipc", ".avro", ".orc"})
# Also a login outcome as exports write it (Okta SUCCESS/FAILURE, Entra Success/Failure, ALLOW/DENY) and a whole
# number written with a fraction (1.0: a spreadsheet's or pandas' 0/1 flag), as Parquet and JSON 1.0 already read.
TRUE_WORDS = ("true", "1", "1.0", "yes", "y", "t", "success", "succeeded", "successful", "allow", "allowed")
FALSE_WORDS = ("false", "0", "0.0", "no", "n", "f", "failure", "failed", "fail", "deny", "denied")
# Columns whose values are keywords: compared lower-case, with spaces and hyphens as underscores.
KEYWORD_COLUMNS = frozenset({"event"})
# Event names of auth logs and SIEM exports that carry a login's outcome (after the keyword normalisation): read
# as ``event = login`` with ``success`` false (a failed name wins over a success column) or as the login they
# are (``success`` as given, else true). Otherwise a ``LOGIN_FAILED`` event is a kind no rule reads, and the
# failure rules would see no failure at all.
FAILED_LOGIN_EVENTS = ("login_failed", "login_failure", "failed_login", "login_fail", "logon_failed",
                       "logon_failure", "failed_logon", "signin_failed", "sign_in_failed", "failed_signin",
                       "failed_sign_in", "authentication_failed", "authentication_failure", "auth_failed",
                       "auth_failure", "login_error", "logon_error", "signin_error", "sign_in_error")  # Keycloak
LOGIN_EVENTS = ("login_success", "login_succeeded", "login_successful", "successful_login", "logon",
                "logon_success", "signin", "sign_in", "signed_in", "logged_in", "authentication_success",
                "auth_success")
OUTCOME_EVENT_NAMES = frozenset(FAILED_LOGIN_EVENTS + LOGIN_EVENTS)
# Identifier columns whose placeholder values (:func:`fraud.exprs.placeholder_id`) are read as missing: clients
# that cannot read a device id send "unknown" or all zeros, and thousands of devices would share that "id".
PLACEHOLDER_ID_COLUMNS = frozenset({"device_id"})
# Network address columns: read in one written form (:func:`fraud.exprs.ip_address`: no port, brackets, zone or
# IPv4-mapped prefix); placeholders, unspecified addresses and text that is no address are read as missing.
ADDRESS_COLUMNS = frozenset({"ip"})
# Account id columns: a "no value" word (``-``, ``NULL``, ``unknown`` ...) is missing (required: a rejected row).
NO_VALUE_ID_COLUMNS = frozenset({"user_id"})
IDENTIFIER_COLUMNS = PLACEHOLDER_ID_COLUMNS | ADDRESS_COLUMNS | NO_VALUE_ID_COLUMNS
# Place-name columns: what GeoIP and analytics exports write for "not known" (``-``, ``Unknown``, ``(not set)``
# ...) names no place: read as missing, or "-" would be a city every user visits (outside their home city).
# ``NA`` stays a name (Namibia's code); CLDR's ``ZZ`` and Cloudflare's ``XX`` name no country.
NAME_NO_VALUE_WORDS = (*(w for w in NO_VALUE_WORDS if w != "na"), "--", "?", "(not set)", "not set", "(null)")
NO_VALUE_NAME_COLUMNS = {"city": NAME_NO_VALUE_WORDS, "registered_city": NAME_NO_VALUE_WORDS,
                         "country": (*NAME_NO_VALUE_WORDS, "xx", "zz"),
                         "registered_country": (*NAME_NO_VALUE_WORDS, "xx", "zz")}
# What a number column holds for "no value": NaN (pandas writes every missing float as NaN, in Parquet too) and
# the no-value words (``null``, ``NA``, ``-`` ...). Read as missing, like an empty cell: an optional number is then
# unknown (counted), a required one is a missing required value.
NUMBER_NO_VALUE_WORDS = (*NO_VALUE_WORDS, "nan")


def absent_columns(kind: str, given) -> frozenset[str]:
    """The canonical columns of ``kind`` that none of the ``given`` column names is (read as defaults or nulls)."""
    given = set(given)
    return frozenset(c for c in INPUT_SCHEMAS[kind].columns if c not in given)


@dataclass
class LoadedInput:
    """One input kind after parsing: valid rows (canonical columns + ``_file``/``_row``), rejected rows, counts."""

    kind: str
    frame: pl.DataFrame
    rejected: pl.DataFrame
    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    extra_columns: list[str] = field(default_factory=list)
    used: int | None = None  # rows used when ``frame`` does not hold them all (a partitioned scan)
    # per column, the rows used whose value was read as missing: an identifier placeholder (``unknown``, zeros), an
    # address that names none, a number column's "no value" marker (NaN, ``NA``)
    placeholders: dict[str, int] = field(default_factory=dict)
    # the canonical columns some file of this kind gives (the others are defaults or nulls in ``frame``)
    columns: list[str] = field(default_factory=list)
    # rows used per event name as read (normalised, before outcome names such as LOGIN_FAILED become logins): the
    # summary lists the names no rule reads, so a vocabulary the toolkit does not know is seen, not ignored
    events: dict[str, int] = field(default_factory=dict)

    @property
    def rows_rejected(self) -> int:
        return self.rejected.height

    @property
    def rows_used(self) -> int:
        return self.frame.height if self.used is None else self.used


def event_outcomes(event_names: dict[str, str] | None = None) -> tuple[list[str], list[str], dict[str, str]]:
    """The event names read as a failed login, as a login, and as another contract kind: the built-in outcome
    names (:data:`FAILED_LOGIN_EVENTS`, :data:`LOGIN_EVENTS`) and the config's ``[events]`` (which win over a
    built-in name they list)."""
    names = event_names or {}
    failed = [n for n in FAILED_LOGIN_EVENTS if n not in names] + [n for n, k in names.items() if k == "failed_login"]
    ok = [n for n in LOGIN_EVENTS if n not in names] + [n for n, k in names.items() if k == "login"]
    return failed, ok, {n: k for n, k in names.items() if k not in ("login", "failed_login")}


def outcome_rows(events: dict[str, int], event_names: dict[str, str] | None = None) -> int:
    """Rows whose event name gave a login's outcome (:func:`event_outcomes`), from the event name counts."""
    failed, ok, _ = event_outcomes(event_names)
    outcome = {*failed, *ok}
    return sum(n for name, n in events.items() if name in outcome)


def file_format(path: str | Path) -> str:
    """The format taken from the extension (``.csv``, ``.csv.gz``, ``.parquet``, ``.jsonl.gz`` ...)."""
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
        fmt = FORMATS.get(Path(name).suffix)
        if fmt == "parquet":
            fmt = None
    else:
        fmt = FORMATS.get(Path(name).suffix)
    if fmt is None:
        raise InputError(f"{path}: unknown input format (expected .csv, .tsv, .csv.gz, .parquet, .jsonl, .ndjson, "
                         ".json or one of them .gz)")
    return fmt


def resolve_paths(spec: str | Path) -> list[Path]:
    """A file, a glob or a folder -> the sorted list of input files it names."""
    s = str(spec)
    p = Path(s)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and _supported(f))
        if not files:
            raise InputError(f"{p}: folder holds no .csv, .parquet or .jsonl files")
        return files
    if any(ch in s for ch in "*?[") and not p.exists():  # an existing "logins[1].csv" is a file, not a pattern
        files = sorted(Path(f) for f in globmod.glob(s, recursive=True) if Path(f).is_file())
        if not files:
            raise InputError(f"{s}: no file matches this pattern")
        return files
    if not p.exists():
        raise InputError(f"{p}: file not found" + (" (a dangling link)" if p.is_symlink() else ""))
    if not p.is_file():
        raise InputError(f"{p}: not a regular file")
    return [p]


def resolve_specs(spec: str | Path | list) -> list[Path]:
    """A file, glob or folder, or a list of them -> the input files they name, in order."""
    return [p for s in (spec if isinstance(spec, list) else [spec]) for p in resolve_paths(s)]


def _supported(path: Path) -> bool:
    try:
        file_format(path)
        return True
    except InputError:
        return False


def _read_raw(path: Path) -> pl.DataFrame:
    fmt = file_format(path)
    try:
        if fmt == "parquet":
            df = pl.read_parquet(path)
            return df.rename(reserved_renames(df.columns))
        data = path.read_bytes()
        if path.name.lower().endswith(".gz"):
            data = gunzip(data, path)
        data = text_bytes(data)
        if not data.strip():
            return pl.DataFrame()
        if fmt == "csv":
            sep = _sniff_separator(data)
            try:
                df = pl.read_csv(io.BytesIO(data), infer_schema=False, encoding="utf8-lossy", separator=sep)
            except pl.exceptions.PolarsError:  # a stray quote, a row wider than the header: record by record
                return csv_records(data.decode("utf-8", errors="replace"), sep)
            if csv_spans_lines(data, df.height):  # a quoted field over line ends: no line may vanish into one
                return csv_records(data.decode("utf-8", errors="replace"), sep)
            df = df.rename(reserved_renames(df.columns))
            # an empty line reads as a row of nulls: the text is searched for empty lines only when one is there
            if df.width and df.select(pl.all_horizontal(pl.all().is_null()).any()).item():
                df = _without_blank_rows(df, blank_csv_rows(data))
            return df
        return _read_ndjson(data, path)
    except InputError:
        raise
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise InputError(f"{path}: cannot read file ({e})") from None
    except Exception as e:  # noqa: BLE001 - any parser failure is an unreadable file
        raise unreadable(path, e) from None


def _without_blank_rows(df: pl.DataFrame, blank: list[int]) -> pl.DataFrame:
    """``df`` without the rows that are empty lines (:func:`fraud.records.blank_csv_rows`); the others keep their
    numbers (``_row``), as NDJSON's do."""
    if not blank:
        return df
    return df.with_row_index("_row", offset=1).with_columns(pl.col("_row").cast(pl.Int64)).filter(
        ~pl.col("_row").is_in(blank))


# A log file compresses 3-30x; gzip's limit is ~1030x. A file that expands more than GZIP_MAX_RATIO times, past
# GZIP_FREE_BYTES of text, is a decompression bomb (a few MB that would fill the machine's memory or disk), not read.
GZIP_MAX_RATIO = 200
GZIP_FREE_BYTES = 256 << 20


def expansion_limit(compressed_bytes: int) -> int:
    """The most text a gzip file of ``compressed_bytes`` may expand to (:data:`GZIP_MAX_RATIO`)."""
    return max(GZIP_FREE_BYTES, GZIP_MAX_RATIO * compressed_bytes)


def bomb(path: Path, compressed_bytes: int) -> InputError:
    return InputError(f"{path}: expands more than {GZIP_MAX_RATIO} times when decompressed ({compressed_bytes:,} "
                      f"bytes to over {expansion_limit(compressed_bytes):,}): a decompression bomb, not read "
                      "(decompress it yourself if it holds real data)")


def gunzip(data: bytes, path: Path) -> bytes:
    """``data`` (a gzip file, several members too) decompressed, chunk by chunk up to :func:`expansion_limit`."""
    limit, parts, size = expansion_limit(len(data)), [], 0
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
        while chunk := fh.read(1 << 24):
            size += len(chunk)
            if size > limit:
                raise bomb(path, len(data))
            parts.append(chunk)
    return b"".join(parts)


BOM = b"\xef\xbb\xbf"
EXCEL_SEP = re.compile(rb"sep=.\r?(?:\n|$)", re.IGNORECASE)  # Excel's "sep=," first line names the separator


def text_bytes(data: bytes) -> bytes:
    """A text file's bytes as UTF-8 with LF line ends: UTF-16 or UTF-32 (by its byte-order mark) re-encoded, UTF-8
    byte-order marks dropped (also a doubled one), bare-CR line ends made LF (:func:`cr_to_lf`), and an Excel ``sep=;``
    first line dropped (the header after it was read as data: "missing required column 'ts'"; the separator is
    sniffed from the header as in any file)."""
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):  # UTF-32 (before UTF-16: the same two bytes)
        data = data.decode("utf-32", errors="replace").encode("utf-8")
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        data = data.decode("utf-16", errors="replace").encode("utf-8")
    while data.startswith(BOM):
        data = data[3:]
    data = cr_to_lf(data)
    if EXCEL_SEP.match(data):
        data = data.split(b"\n", 1)[1] if b"\n" in data else b""
    return data


def cr_to_lf(data: bytes) -> bytes:
    """Text whose lines end in a bare CR (classic Mac OS exports) with LF line ends; other text unchanged (the
    readers split on LF and take CRLF as well, but read a CR-only file as one header line)."""
    return data.replace(b"\r", b"\n") if b"\r" in data and b"\n" not in data else data


def unreadable(path: Path, e: Exception) -> InputError:
    """The error for a file its format's reader cannot parse, quoting the reader's first line."""
    return InputError(f"{path}: cannot parse as {file_format(path)} ({first_line(e)})")


def _sniff_separator(data: bytes) -> str:
    """The CSV field separator: a comma unless the header line has none and uses ``;``, tab or ``|``
    (spreadsheet exports in many locales write ``;``)."""
    header = data.split(b"\n", 1)[0]
    if b"," in header:
        return ","
    counts = {sep: header.count(sep.encode()) for sep in (";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _read_ndjson(data: bytes, path: Path) -> pl.DataFrame:
    """NDJSON with every field as text (one file's mixed types, epoch ints and ISO strings, parse uniformly);
    ``_row`` holds line numbers when blank lines would shift them. A line the fast reader refuses (not JSON, not
    an object, a nested value among scalars) sends the file to :func:`fraud.records.ndjson_records`, which
    rejects just that line."""
    text = data.decode("utf-8", errors="replace")
    if text.lstrip().startswith("["):  # a JSON array of records saved as .jsonl: one record per element
        text = _json_array_lines(text, path)
    elif text.lstrip().startswith("{"):
        text = _one_document(text)
    lines = text.split("\n")  # not splitlines(): U+2028 and friends may stand inside JSON strings
    if lines and not lines[-1].strip():
        lines.pop()
    try:
        probe = pl.read_ndjson(io.StringIO(text), infer_schema_length=None, ignore_errors=True)
        # every field as text, but a column of JSON true/false keeps its type: a flag reads as one, and an id
        # column of them is no id ("user_id is true/false"), as in Parquet, not the account "true"
        df = pl.read_ndjson(io.StringIO(text), ignore_errors=True, schema={
            c: pl.Boolean if t == pl.Boolean else pl.String for c, t in probe.schema.items()})
    except pl.exceptions.PolarsError:
        return _ndjson_by_record(lines, path)
    rownums = blank_line_rows(lines)
    if df.height != (len(lines) if rownums is None else len(rownums)):
        return _ndjson_by_record(lines, path)
    # The fast reader gives a nested value (an object, a list) as its JSON text. A column of nested values only
    # (the probe's type) is marked as such (fraud.records.NESTED); in a column of text, a string such as a braced
    # GUID "{6F9619FF-...}" can look like one: where a value starts like one, the record reader tells them apart.
    nested = [c for c, t in probe.schema.items() if isinstance(t, (pl.Struct, pl.List, pl.Array))]
    texts = [c for c in df.columns if c not in nested and df.schema[c] == pl.String]
    if texts and df.select(pl.any_horizontal(pl.col(texts).str.contains(r"^[\[{]").any())).item():
        return _ndjson_by_record(lines, path)
    if nested:
        df = df.with_columns((pl.lit(NESTED) + pl.col(c)).alias(c) for c in nested)
    # A whole JSON number is read without its fraction, as a Parquet float column is (pandas writes an integer id
    # column with gaps as 1001.0: the id 1001 of the other inputs); a column of numbers only, by the probe.
    floats = [c for c, t in probe.schema.items() if t.is_float()]
    if floats:
        whole = probe.select(pl.when(_whole(pl.col(c))).then(pl.col(c).cast(pl.Int64, strict=False).cast(pl.String))
                             .alias(c)
                             for c in floats)
        df = df.with_columns(pl.coalesce(whole[c], df[c]).alias(c) for c in floats)
    df = df.rename(reserved_renames(df.columns))
    return df if rownums is None else df.with_columns(pl.Series("_row", rownums, dtype=pl.Int64))


def _ndjson_by_record(lines: list[str], path: Path) -> pl.DataFrame:
    """:func:`fraud.records.ndjson_records`; a file none of whose lines is a JSON object (a CSV saved as .jsonl)
    is no NDJSON: an error naming the first line's problem, not a "missing column" or every line rejected."""
    df = ndjson_records(lines)
    if df.height and LINE_ERROR in df.columns and df[LINE_ERROR].null_count() == 0:
        raise InputError(f"{path}: not NDJSON: no line is a JSON object (line {df['_row'][0]}: {df[LINE_ERROR][0]})")
    return df


def _one_document(text: str) -> str:
    """A pretty-printed JSON object over many lines (a ``.json`` export) as one NDJSON line, so it reads as the
    one record it is (a record list inside it is then named by the missing-column error, see
    :func:`_wrapped_records`); NDJSON, whose first line is a whole object, is returned as it is."""
    first = text.lstrip().split("\n", 1)[0]
    try:
        json.loads(first)
        return text
    except ValueError:
        pass
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return text  # not one document either: read line by line, each bad line rejected
    return json.dumps(doc, ensure_ascii=False) if isinstance(doc, dict) else text


def _json_array_lines(text: str, path: Path) -> str:
    """A JSON array's elements as NDJSON lines (row N is element N); a file that is no JSON array is an error."""
    try:
        items = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise InputError(f"{path}: starts like a JSON array but is no valid JSON ({first_line(e)}); give one JSON "
                         "object per line") from None
    if not isinstance(items, list):
        raise InputError(f"{path}: not NDJSON (one JSON object per line)")
    return "\n".join(json.dumps(o, ensure_ascii=False) for o in items)


def _apply_mapping(df: pl.DataFrame | pl.LazyFrame, schema: InputSchema, cfg: Config, path: Path):
    """Rename mapped and loosely written header names onto the canonical columns (eager or lazy frame);
    a missing required column is an :class:`InputError` naming the file."""
    types = df.collect_schema()
    names = types.names()
    rename = {}
    loose: dict[str, list[str]] = {}
    for c in names:
        loose.setdefault(c.strip().lower(), []).append(c)

    def header(src: str) -> str | None:
        # the header as the config writes it, else the one header that differs from it in case or spaces only
        # ("Login successful" for "Login Successful": a silent miss would read every failure as a success)
        matches = loose.get(src.strip().lower(), [])
        return src if src in names else (matches[0] if len(matches) == 1 else None)

    nested: dict[str, pl.Expr] = {}
    mapping = cfg.columns_for(schema.kind)
    for canon, srcs in mapping.items():
        if canon not in schema.columns:
            continue
        for src in srcs if isinstance(srcs, list) else [srcs]:  # alternatives: the first the file has
            found = header(src)
            if found is None and "." in src:  # a path into a JSON object or Parquet struct: "actor.alternateId"
                value = _nested_value(src, header, types)
                if value is not None:
                    nested[canon] = value
                    break
            elif found is not None:
                if found != canon:
                    rename[found] = canon
                break
    if nested:
        df = df.with_columns(v.alias(f"__nested_{c}") for c, v in nested.items())
        rename.update({f"__nested_{c}": c for c in nested})
    if rename:
        names = df.collect_schema().names()
        df = df.drop([c for c in rename.values() if c in names and c not in rename]).rename(rename)
        names = df.collect_schema().names()
    # Tolerate surrounding spaces and case in header names, as long as two headers do not become one column.
    reads_as: dict[str, list[str]] = {}
    for c in names:
        t = c if c in schema.columns else c.strip().lower()
        # the CSV reader renames a repeated header name "user_id" to "user_id_duplicated_0"
        dup = re.fullmatch(r"(.+)_duplicated_\d+", c)
        if dup and dup.group(1).strip().lower() in schema.columns:
            t = dup.group(1).strip().lower()
        if t in schema.columns:
            reads_as.setdefault(t, []).append(c)
    for canon, sources in reads_as.items():
        shown = [re.sub(r"_duplicated_\d+$", "", c) for c in sources]
        if len(set(shown)) == 1 < len(shown):
            raise InputError(f"{path}: the header names column {shown[0]!r} {len(shown)} times; rename or drop all "
                             "but one")
        if len(sources) > 1:
            raise InputError(f"{path}: columns {', '.join(repr(c) for c in shown)} all read as {canon!r}; "
                             "rename or drop all but one")
    norm = {c: c.strip().lower() for c in names if c.strip().lower() in schema.columns and c not in schema.columns}
    if norm:
        df = df.rename(norm)
        names = df.collect_schema().names()
    for col in schema.required:
        if col not in names:
            mapped = mapping.get(col)
            mapped = mapped if isinstance(mapped, list) else [mapped] if mapped else []
            hint = f" (mapped from {' or '.join(repr(m) for m in mapped)})" if mapped else ""
            raise InputError(f"{path}: missing required column {col!r}{hint}{_wrapped_records(df)}")
    return _scalar_columns(df, schema, path)


def _nested_value(src: str, header, types: pl.Schema) -> pl.Expr | None:
    """The value at a dotted path (``client.geographicalContext.city``) in a column of JSON objects (NDJSON's nested
    values, or JSON text in a CSV cell) or of Parquet structs: the longest prefix that is a column, the rest the
    path inside it. None when no prefix is a column (or a struct lacks the field): the mapping then misses."""
    parts = src.split(".")
    for i in range(len(parts) - 1, 0, -1):
        col = header(".".join(parts[:i]))
        if col is None:
            continue
        rest, dtype = parts[i:], types[col]
        if isinstance(dtype, pl.Struct):
            e = pl.col(col)
            for p in rest:
                fields = {f.name: f.dtype for f in dtype.fields} if isinstance(dtype, pl.Struct) else {}
                if p not in fields:
                    return None
                e, dtype = e.struct.field(p), fields[p]
            return e
        if dtype == pl.String:
            path = "$" + "".join("['" + p.replace("\\", "\\\\").replace("'", "\\'") + "']" for p in rest)
            return pl.col(col).str.strip_prefix(NESTED).str.json_path_match(path)
    return None


def _wrapped_records(df: pl.DataFrame | pl.LazyFrame) -> str:
    """A hint for a JSON file that is one object holding its records in a list (CloudTrail's ``{"Records": [...]}``,
    Takeout's ``{"locations": [...]}``, GeoJSON's ``features``): read as one record, it lacks every column."""
    if not isinstance(df, pl.DataFrame) or df.height != 1:
        return ""
    lists = [c for c, t in df.schema.items() if t == pl.String and str(df[c][0] or "").startswith(NESTED + "[{")]
    if not lists:
        return ""
    n = len(json.loads(df[lists[0]][0][len(NESTED):]))
    return (f"; the file is one JSON object whose {lists[0]!r} holds {n:,} records: give one record per line "
            f"(e.g. jq -c '.{lists[0]}[]' FILE > records.jsonl)")


def _scalar_columns(df: pl.DataFrame | pl.LazyFrame, schema: InputSchema, path: Path):
    """Canonical columns must hold scalars: a nested Parquet/JSON column (list, struct) or a duration column is
    an InputError naming it; a binary column is read as UTF-8 text (an error when it is not)."""
    types = df.collect_schema()
    for col in (c for c in schema.columns if c in types):
        if types[col].is_nested() or types[col] == pl.Object or isinstance(types[col], pl.Duration):
            raise InputError(f"{path}: column {col!r} holds {types[col]} values; expected text, numbers, booleans "
                             "or timestamps")
    binary = [c for c in schema.columns if c in types and types[c] == pl.Binary]
    if not binary:
        return df
    try:
        return df.with_columns(pl.col(c).cast(pl.String) for c in binary)
    except pl.exceptions.PolarsError:
        raise InputError(f"{path}: column(s) {', '.join(binary)} hold bytes that are not UTF-8 text") from None


def _coordinate_text(df: pl.DataFrame, col: str) -> pl.Expr:
    """Coordinates written as text (``31.23 N``, ``31°13'48"N``): each distinct non-numeric value is parsed
    once with geopy and mapped back; plain numbers never reach Python."""
    from fraud.geo.positions import parse_coordinate_text

    text = pl.col(col).str.strip_chars()
    odd = df.select(text.filter(text.cast(pl.Float64, strict=False).is_null() & (text != "")).unique().sort())
    if odd.height == 0:
        return pl.lit(None, pl.Float64)
    parsed = odd.select(pl.col(col), parse_coordinate_text(pl.col(col), part=col).alias("v")).drop_nulls()
    return text.replace_strict(parsed[col], parsed["v"], default=None, return_dtype=pl.Float64)


def _vref(col: str) -> pl.Expr:
    return pl.col(f"__v_{col}")


def _tref(col: str) -> pl.Expr:
    return pl.col(f"__t_{col}")


def _text(df: pl.DataFrame, col: str) -> pl.Expr:
    """The trimmed text of a column: computed once per text column (``__t_<col>``), cast for native ones. A
    native float that is a whole number reads without its fraction (pandas writes an integer id column with
    gaps as float64: ``1001.0`` is the id ``1001`` of the other inputs), NaN as no text."""
    dtype = df.schema[col]
    return _tref(col) if dtype == pl.String else native_text(pl.col(col), dtype)


def _whole(c: pl.Expr) -> pl.Expr:
    """A float that is a whole number an id can be written as (finite, below 2**53)."""
    return (c == c.round(0)) & (c.abs() < 2.0 ** 53)


def native_text(c: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """The trimmed text of a column of ``dtype`` as the parser reads it (a whole float without its fraction,
    NaN as no text): also the key that puts a user's rows in one slice of a sliced scan (:mod:`fraud.spool`)."""
    if dtype.is_float():
        return (pl.when(c.is_nan()).then(None).when(_whole(c)).then(c.cast(pl.Int64).cast(pl.String))
                .otherwise(c.cast(pl.String)))
    return c.cast(pl.String).str.strip_chars()


def _present(df: pl.DataFrame, col: str, nan_is_value: bool = False) -> pl.Expr:
    """Whether a row gives ``col`` a value: non-blank text; a native (Parquet/JSON) value needs no text round
    trip, and NaN in a float column is none (pandas writes every gap of a float column, a 0/1 flag or an epoch
    column included, as NaN) unless ``nan_is_value`` (number columns: their "no value" marker counts it)."""
    if df.schema[col] == pl.String:
        return _tref(col).is_not_null() & (_tref(col) != "")
    c = pl.col(col)
    return c.is_not_null() & ~c.is_nan().fill_null(False) if df.schema[col].is_float() and not nan_is_value \
        else c.is_not_null()


def _no_number(df: pl.DataFrame, col: str) -> pl.Expr:
    """A number column's "no value" marker (:data:`NUMBER_NO_VALUE_WORDS`; NaN in a native float column)."""
    dtype = df.schema[col]
    if dtype == pl.String:
        return _tref(col).str.to_lowercase().is_in(NUMBER_NO_VALUE_WORDS).fill_null(False)
    if dtype.is_float():
        return pl.col(col).is_nan().fill_null(False)
    return pl.lit(False)


def _control_check(col: str, present: pl.Expr, text: pl.Expr, shown: pl.Expr, nested: bool
                   ) -> tuple[pl.Expr, pl.Expr]:
    """An id holding a control character (NUL, ESC, a tab or line break inside it): rejected. ``u1`` and ``u<NUL>1``
    would be two accounts that look the same everywhere, and the second cannot be typed on a command line. (With
    ``nested``, a nested JSON value's mark is not one: that value has its own reason.)"""
    bad = present & text.str.contains(r"[\x00-\x1f\x7f]")
    return (bad & ~text.str.starts_with(NESTED) if nested else bad,
            fmt(f"{col} holds a control character (U+0000-U+001F, U+007F): {{}}", shown))


def _native_id_checks(col: str, dtype: pl.DataType, shown: pl.Expr) -> list[tuple[pl.Expr, pl.Expr]]:
    """An account or device id column typed by its file (Parquet, NDJSON) that holds true/false, or an infinite
    float (JSON's ``1e400``): no id. They read as the accounts ``true`` and ``inf``; rejected instead."""
    if dtype == pl.Boolean:
        return [(pl.col(col).is_not_null(), fmt(f"{col} is true/false, not an id: {{}}", shown))]
    if dtype.is_float():
        return [(pl.col(col).is_infinite().fill_null(False), fmt(f"{col} is an infinite number, not an id: {{}}",
                                                                   shown))]
    return []


def _parse(df: pl.DataFrame, schema: InputSchema, tz: str, nested: bool = False,
           ts_formats: tuple[str, ...] = ()
           ) -> tuple[list[pl.Expr], list[pl.Expr], list[pl.Expr], list[pl.Expr], list[tuple[pl.Expr, pl.Expr]],
                      list[str], dict[str, pl.Expr], dict[str, pl.Expr]]:
    """The parsing steps of one raw frame, each a list of expressions evaluated together: the trimmed text of
    each text column (``__t_<col>``), the per-row pieces that the values, checks and placeholder counts all read
    (a number's cast, a "no value" marker: ``__x_<col>_<piece>``, computed once instead of in each), the parsed
    value per canonical column (``__v_<col>``), the range masks applied to parsed values, the (is-bad, reason)
    checks written on them, and the string timestamp columns that need the slow parser for what the fast one left
    null; last, per optional identifier column, which rows had a placeholder value read as missing. ``nested``:
    the frame comes from NDJSON, whose readers mark a nested value's text (:data:`fraud.records.NESTED`)."""
    texts = [pl.col(c).str.strip_chars().alias(f"__t_{c}") for c in schema.columns
             if c in df.columns and df.schema[c] == pl.String]
    pre: list[pl.Expr] = []

    def once(e: pl.Expr, name: str) -> pl.Expr:
        pre.append(e.alias(name))
        return pl.col(name)

    values: list[pl.Expr] = []
    masks: list[pl.Expr] = []
    checks: list[tuple[pl.Expr, pl.Expr]] = []
    slow_ts: list[str] = []
    placeholders: dict[str, pl.Expr] = {}
    given: dict[str, pl.Expr] = {}  # per column, whether a row gives a value (no "no value" marker)
    for col, kind in schema.columns.items():
        if col not in df.columns:
            values.append(pl.lit(schema.defaults.get(col), dtype=schema.polars_schema()[col]).alias(f"__v_{col}"))
            continue
        dtype = df.schema[col]
        raw = pl.col(col)
        text = _text(df, col)
        # the value as read; a native one the text leaves null (NaN) as its own text, so no reason reads blank
        shown = pl.coalesce(text.str.strip_prefix(NESTED) if nested else text,
                            *([] if dtype == pl.String else [raw.cast(pl.String)])).str.slice(0, 40)
        present = _present(df, col)
        vref = _vref(col)
        if kind == TIMESTAMP:
            if dtype == pl.String:
                v = rfc3339_timestamp(text)
                masks.append(plausible(vref).alias(f"__v_{col}"))
                slow_ts.append(col)
            else:
                v = timestamp_from_native(raw, dtype, tz)
            dst = dst_problem(text, tz, ts_formats)
            # 03/04/2026: March or April? No reader can tell; the config says (timestamp_formats)
            numeric_date = text.str.contains(r"^\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}(?:\D|$)").fill_null(False)
            hint = (" (matches none of timestamp_formats)" if ts_formats else
                    ' (day/month order unknown: set timestamp_formats in the config, e.g. ["%m/%d/%Y %H:%M:%S"])')
            checks.append((present & vref.is_null(), pl.when(dst.is_not_null()).then(
                fmt(f"local time {{}} in column {col} is {{}} by a daylight-saving change in {tz} (give an offset)",
                    shown, dst)).when(numeric_date).then(fmt(f"bad timestamp in column {col}: {{}}{hint}", shown))
                .otherwise(fmt(f"bad timestamp in column {col}: {{}}", shown))))
        elif kind in (FLOAT, INT):
            present = _present(df, col, nan_is_value=True)  # NaN: a "no value" marker, counted below
            f = raw.cast(pl.Float64, strict=False) if dtype != pl.String else text.cast(pl.Float64, strict=False)
            if col in ("lat", "lon") and dtype == pl.String:
                f = pl.coalesce(f, _coordinate_text(df, col))
            f = once(f, f"__x_{col}_f")
            marker = once(present & _no_number(df, col), f"__x_{col}_m")
            if col not in schema.required:
                placeholders[col] = marker
            present = present & ~marker
            bad = present & (f.is_null() | f.is_nan() | f.is_infinite())
            if kind == INT:  # a fraction, or beyond the 64-bit range (it would cast to null and pass unseen)
                bad = bad | (present & ((f != f.round(0)) | (f.abs() >= 2.0 ** 63)))
            word = "number" if kind == FLOAT else "integer"
            checks.append((bad, fmt(f"bad {word} in column {col}: {{}}", shown)))
            v = pl.when(bad | marker).then(None).otherwise(f)
            v = v.cast(pl.Int64, strict=False) if kind == INT else v
            if col in schema.ranges:
                lo, hi = schema.ranges[col]
                message = fmt(f"{col} out of range {lo:g}..{hi:g}: {{}}", vref)
                if col in ("lat", "lon"):  # Google Takeout writes latitudeE7 / longitudeE7: degrees x 1e7, whole
                    e7 = (vref.abs() > 1000) & (vref / 1e7).is_between(lo, hi) & (vref == vref.round(0))
                    hint = pl.lit(" (degrees x 1e7, as in Takeout's latitudeE7? divide by 1e7)")
                    message = pl.when(e7).then(message + hint).otherwise(message)
                checks.append((vref.is_not_null() & ~vref.is_between(lo, hi), message))
        elif kind == BOOL:
            if dtype == pl.Boolean:
                v = raw
            else:
                low = text.str.to_lowercase()
                v = pl.when(low.is_in(TRUE_WORDS)).then(True).when(low.is_in(FALSE_WORDS)).then(False) \
                    .otherwise(None)
                checks.append((present & vref.is_null(), fmt(f"bad boolean in column {col}: {{}}", shown)))
        elif col in KEYWORD_COLUMNS:  # "Login", "PASSWORD CHANGE", "bind-card" name the contract's event kinds
            # once per distinct value: a handful of event kinds over millions of rows
            v = pl.when(present).then(per_distinct(
                text, lambda t: t.str.to_lowercase().str.replace_all(EVENT_NAME_GAPS, "_"), pl.String)).otherwise(None)
        elif col in PLACEHOLDER_ID_COLUMNS:  # a placeholder ("unknown", all zeros) names no device: missing
            named = once(per_distinct(text, lambda t: ~placeholder_id(t), pl.Boolean).fill_null(False),
                         f"__x_{col}_n")
            v = pl.when(present & named).then(text).otherwise(None)
            checks.append(_control_check(col, present & named, text, shown, nested))
            if col in schema.required:
                checks.append((present & ~named, fmt(f"placeholder {col} (names no device): {{}}", shown)))
            else:
                placeholders[col] = present & ~named
        elif col in ADDRESS_COLUMNS:
            v = pl.when(present).then(ip_address(text)).otherwise(None)
            placeholders[col] = present & vref.is_null()  # read after the values: the address is parsed once
        else:  # STRING
            if col in NO_VALUE_ID_COLUMNS:  # "-", "NULL", "unknown" name no account: missing, never one pooled user
                marker = once(present & is_missing(text), f"__x_{col}_m")
                if col not in schema.required:
                    placeholders[col] = marker
                present = present & ~marker
                # bytes that are no UTF-8 (a Latin-1 export) are read as U+FFFD: "jürgen" and "jörgen" would both
                # be "j�rgen", one account; such an id is rejected, never merged
                checks.append((present & text.str.contains("\ufffd", literal=True),
                               fmt(f"{col} is not UTF-8 text (re-encode the file as UTF-8): {{}}", shown)))
                checks.append(_control_check(col, present, text, shown, nested))
            elif col in NO_VALUE_NAME_COLUMNS:  # "-", "Unknown", "(not set)" name no place: missing, counted
                words = list(NO_VALUE_NAME_COLUMNS[col])
                marker = once(present & per_distinct(text, lambda t, w=words: t.str.to_lowercase().is_in(w),
                                                     pl.Boolean).fill_null(False), f"__x_{col}_m")
                placeholders[col] = marker
                present = present & ~marker
            v = pl.when(present).then(text).otherwise(None)
        if col in NO_VALUE_ID_COLUMNS | PLACEHOLDER_ID_COLUMNS:
            checks.extend(_native_id_checks(col, dtype, shown))
        if nested and dtype == pl.String and kind not in (TIMESTAMP, FLOAT, INT, BOOL):  # those: "bad number" ...
            # an object or a list where text belongs (NDJSON, see fraud.records.NESTED): no id, name or agent
            checks.append((_tref(col).str.starts_with(NESTED).fill_null(False),
                           fmt(f"nested JSON value (object or list) in column {col}: {{}}", shown)))
        if col in schema.required:
            checks.append((~present, pl.lit(f"missing required value {col}")))
        given[col] = present
        values.append(v.alias(f"__v_{col}"))
    if "lat" in schema.columns and "lon" in schema.columns and "lat" in df.columns and "lon" in df.columns:
        checks.append((given["lat"] != given["lon"], pl.lit("only one of lat/lon given")))
    return texts, pre, values, masks, checks, slow_ts, placeholders, given


def _split(raw: pl.DataFrame, schema: InputSchema, tz: str, path: Path, kind: str,
           event_names: dict[str, str] | None = None, ts_formats: tuple[str, ...] = ()
           ) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, int], dict[str, int], frozenset[str]]:
    """Parse one file's raw frame: (valid typed rows with ``_file``/``_row``, rejected rows with reasons, per
    identifier column the valid rows whose placeholder value was read as missing, rows per event name, and the
    canonical columns with a value in some valid row: a column whose every cell is blank gives nothing, as a
    missing column does). ``event_names``: the config's ``[events]`` names (:func:`event_outcomes`).

    Values are parsed once; timestamps in other notations than the common ISO form, and the reason strings,
    are computed only for the rows that need them."""
    # Categorical and Enum columns (Parquet from pandas or Arrow dictionaries) are read as the text they hold
    coded = [c for c, t in raw.schema.items() if isinstance(t, (pl.Categorical, pl.Enum))]
    if coded:
        raw = raw.with_columns(pl.col(coded).cast(pl.String))
    nested = file_format(path) == "ndjson"
    texts, pre, values, masks, checks, slow_ts, placeholders, given = _parse(raw, schema, tz, nested, ts_formats)
    # a partitioned scan (and a record-by-record reader) brings each row's number along
    cols = [c for c in raw.columns if c not in INTERNAL]
    if LINE_ERROR in raw.columns:  # a record that could not be split into fields: that is its only reason
        checks = [(pl.col(LINE_ERROR).is_not_null(), pl.col(LINE_ERROR))] + [
            (pl.col(LINE_ERROR).is_null() & b, m) for b, m in checks]
    df = raw if "_row" in raw.columns else raw.with_row_index("_row", offset=1)
    df = df.with_columns(pl.col("_row").cast(pl.Int64), *texts)
    if pre:
        df = df.with_columns(*pre)
    df = df.with_columns(*values)
    if masks:
        df = df.with_columns(*masks)
    for col in slow_ts:  # the rows the fast parser left null, parsed on their own and put back in place
        need = df.select(_vref(col).is_null() & _present(raw, col)).to_series().arg_true()
        if need.len():
            # local times without offset (whole files of them, in some exports) by their own fast path first
            parsed = df[need].select(naive_timestamp(pl.col(col), tz)).to_series()
            rest = parsed.is_null().arg_true()
            if rest.len():
                full = df[need.gather(rest)].select(parse_timestamp(pl.col(col), tz, ts_formats)).to_series()
                parsed = parsed.scatter(rest, full)
            df = df.with_columns(df[f"__v_{col}"].scatter(need, parsed))
    df = df.with_columns(pl.any_horizontal([b.fill_null(False) for b, _ in checks]).alias("_bad") if checks
                         else pl.lit(False).alias("_bad"))
    typed = {c: pl.col(f"__v_{c}").fill_null(schema.defaults[c]) if c in schema.defaults else pl.col(f"__v_{c}")
             for c in schema.columns}
    if "event" in schema.columns and "event" in raw.columns:
        ev = pl.col("__v_event")
        failed_names, ok_names, kinds = event_outcomes(event_names)
        failed, ok = ev.is_in(failed_names).fill_null(False), ev.is_in(ok_names).fill_null(False)
        # the config's [events] names of other kinds (a blank event keeps its default, login)
        renamed = typed["event"].replace(kinds) if kinds else typed["event"]
        typed["event"] = pl.when(failed | ok).then(pl.lit("login")).otherwise(renamed)
        typed["success"] = pl.when(failed).then(False).otherwise(typed["success"])
    good = df.select(  # the typed columns first: filtering the raw and trimmed texts too costs as much again
        *[e.alias(c) for c, e in typed.items()],
        pl.lit(str(path)).alias("_file"), "_row", *([EXTRA_HASH] if EXTRA_HASH in df.columns else []), "_bad"
    ).filter(~pl.col("_bad")).drop("_bad")
    found = (df.select([(e & ~pl.col("_bad")).sum().alias(c) for c, e in placeholders.items()])
             .row(0, named=True) if placeholders else {})
    events = {} if "event" not in raw.columns else dict(
        # two columns, not the whole wide frame, go through the filter
        df.select("__v_event", "_bad").filter(~pl.col("_bad") & pl.col("__v_event").is_not_null())
        .group_by("__v_event").len().iter_rows())
    bad_rows = df.filter(pl.col("_bad"))
    # a message that came out null (a value with no text) still says something: a rejected row never has no reason
    reason = pl.concat_str([pl.when(b.fill_null(False)).then(pl.coalesce(m, pl.lit("bad value"))) for b, m in checks],
                           separator="; ", ignore_nulls=True)
    as_text = [pl.col(c).cast(pl.String) for c in cols]
    if nested:  # the raw value without the nested mark
        as_text = [t.str.strip_prefix(NESTED) for t in as_text]
    bad = bad_rows.select(
        pl.lit(kind).alias("input"), pl.lit(str(path)).alias("file"), pl.col("_row").alias("row"),
        reason.alias("reason"),
        pl.coalesce(*([pl.col(LINE_TEXT)] if LINE_TEXT in raw.columns else []),
                    pl.struct(as_text).struct.json_encode()).str.slice(0, RAW_PREVIEW_CHARS)
        .alias("raw"))
    valued = (df.select([(e & ~pl.col("_bad")).any().alias(c) for c, e in given.items()]).row(0, named=True)
              if given else {})
    return good, bad, {c: int(n) for c, n in found.items()}, events, frozenset(c for c, v in valued.items() if v)


def in_file_order(rejected: pl.DataFrame, files: list[str]) -> pl.DataFrame:
    """Rejected rows sorted file by file (in the order of ``files``; others last), row by row."""
    order = {f: i for i, f in enumerate(files)}
    return rejected.sort(pl.col("file").replace_strict(order, default=len(order), return_dtype=pl.Int64), "row",
                         maintain_order=True)


def read_input(kind: str, spec: str | Path | list, cfg: Config) -> LoadedInput:
    """Read one input kind from a file, glob or folder (or a list of them) and parse it.

    Returns the valid rows with canonical typed columns (plus ``_file`` and ``_row`` for provenance),
    the rejected rows (``input, file, row, reason, raw``) and row counts.
    """
    schema = INPUT_SCHEMAS[kind]
    paths = resolve_specs(spec)
    frames, rejects, extras, given = [], [], set(), set()
    rows_read, placeholders, events = 0, Counter(), Counter()
    for path in paths:
        raw = _read_raw(path)
        if raw.width == 0:  # empty file: nothing to read, no header to check
            continue
        raw = _apply_mapping(raw, schema, cfg, path)
        extra = [c for c in raw.columns if c not in schema.columns and c not in INTERNAL]
        extras |= set(extra)
        if extra and kind in DEDUPLICATED_KINDS:
            raw = raw.with_columns(extra_hash(extra))
        raw = raw.select([c for c in raw.columns if c in schema.columns or c in INTERNAL])
        rows_read += raw.height
        good, bad, found, names, valued = _split(raw, schema, cfg.timezone, path, kind, cfg.events,
                                                  cfg.timestamp_formats)
        given |= valued
        placeholders.update(found)
        events.update(names)
        frames.append(good)
        if bad.height:
            rejects.append(bad)
    empty = pl.DataFrame(schema={**schema.polars_schema(), "_file": pl.String, "_row": pl.Int64})
    frame = pl.concat([empty, *frames], how="diagonal_relaxed") if frames else empty  # a file's extras: its own
    frame, dups = split_duplicates(frame, kind)
    frame = frame.drop(EXTRA_HASH, strict=False)
    if dups.height:  # in input order, as a sliced scan lists them
        rejects = [in_file_order(pl.concat([*rejects, dups.drop("_src")]), [str(p) for p in paths])]
    rejected = pl.concat(rejects) if rejects else pl.DataFrame(schema=REJECTED_COLUMNS)
    return LoadedInput(kind=kind, frame=frame, rejected=rejected, files=[str(p) for p in paths],
                       rows_read=rows_read, extra_columns=sorted(extras), placeholders=dict(placeholders),
                       columns=given_columns(kind, given, events, cfg.events), events=dict(events))


def given_columns(kind: str, names, events: dict[str, int], event_names: dict[str, str] | None = None) -> list[str]:
    """The canonical columns an input's files give: their own, and ``success`` when event names carried login
    outcomes (``LOGIN_FAILED``: the failure rules can tell a failure)."""
    given = set(names) | ({"success"} if outcome_rows(events, event_names) else set())
    return [c for c in INPUT_SCHEMAS[kind].columns if c in given]



def find_inputs(folder: str | Path) -> dict[str, list[Path]]:
    """In a scan folder, the files named ``logins.*``, ``devices.*``, ``locations.*``, ``scores.*``, ``decisions.*``."""
    d = Path(folder)
    if not d.is_dir():
        raise InputError(f"{d}: not a folder")
    found: dict[str, list[Path]] = {}
    for f in sorted(d.iterdir()):
        stem = f.name.split(".")[0].lower()
        if stem not in INPUT_SCHEMAS:
            continue
        if not _supported(f):
            suffix = Path(f.name.lower().removesuffix(".gz")).suffix
            if suffix in UNREAD_DATA_SUFFIXES or f.name.lower().endswith(".parquet.gz"):
                raise InputError(f"{f}: named like the {stem} input, in a format a scan does not read (expected "
                                 ".csv, .tsv, .csv.gz, .parquet, .jsonl, .ndjson or .json); convert it, or move it "
                                 "out of the folder")
            continue
        if not f.is_file():  # a dangling link, a folder or a pipe named like an input: never skipped silently
            raise InputError(f"{f}: " + ("a dangling link" if f.is_symlink() and not f.exists()
                                         else "not a regular file") + f" where the {stem} input was expected")
        found.setdefault(stem, []).append(f)
    return found
