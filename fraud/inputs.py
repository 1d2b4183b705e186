"""Reading inputs at the edge: files or globs of CSV(.gz) / Parquet / NDJSON(.gz) / JSON, mapped onto the
canonical columns, parsed into typed frames (:mod:`fraud.parsing`), with every unparseable row set aside (never
silently dropped).

A missing required column, an unreadable file or an unknown format raises :class:`~fraud.errors.InputError`
naming the file and the column. Rows with a bad timestamp, a missing required value, an unparseable
number/boolean or an out-of-range coordinate or score go to the rejected frame with the source file, the
1-based data row number (the header is not counted) and the reason.
"""
from __future__ import annotations

import errno
import glob as globmod
import gzip
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from fraud.columns import apply_mapping, first_names
from fraud.config import Config
from fraud.errors import InputError, first_line
from fraud.duplicates import extra_hash, split_duplicates
from fraud.encoding import (BOM, CP1252, UTF8, UTF8_LOSSY, cp1252_to_utf8, encoding_note, gunzip, is_gzip,
                            marked_encoding, no_bom_utf16, replacement_counts, sniff_separator, text_bytes,
                            text_encoding)
from fraud.parsing import decimal_comma_columns, float_text_ids, outcome_rows, split_rows, whole_number
from fraud.records import (EXTRA_HASH, INTERNAL, LINE_ERROR, NESTED, blank_csv_rows, blank_line_rows,
                           csv_records, csv_spans_lines, first_keys, ndjson_records, reserved_renames, short_lines)
from fraud.schema import INPUT_SCHEMAS, REJECTED_COLUMNS

# .json: an API export's array of records, NDJSON saved as .json, or one (pretty-printed) object
FORMATS = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "ndjson",
           ".ndjson": "ndjson", ".json": "ndjson"}
# Data formats a scan does not read: a folder's file named like an input in one of them is an error, never skipped
# (its rows would silently be missing); other suffixes (.bak, .orig, .swp ...) are no input and are skipped.
UNREAD_DATA_SUFFIXES = frozenset({".xlsx", ".xls", ".xml", ".txt", ".zip", ".bz2", ".xz", ".zst", ".7z",
                                  ".feather", ".arrow", ".ipc", ".avro", ".orc"})


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
    # per file that is not plain UTF-8, how it was read (:func:`encoding_note`): never silent
    encodings: dict[str, dict] = field(default_factory=dict)
    # optional columns some file gives only under a common other name, not read (:func:`unread_alias_columns`)
    unread_aliases: dict[str, str] = field(default_factory=dict)
    # per file, its number columns read with a decimal comma (``1.234,56``, ``12.000`` twelve thousand:
    # :func:`fraud.parsing.decimal_comma_columns`): never silent
    decimal_comma: dict[str, list[str]] = field(default_factory=dict)
    # a decisions file given by path that no review has written yet (:func:`fraud.decisions.not_written_yet`)
    not_written_yet: str | None = None

    @property
    def rows_rejected(self) -> int:
        return self.rejected.height

    @property
    def rows_used(self) -> int:
        return self.frame.height if self.used is None else self.used


# logrotate's names for older copies of a log: logins.csv.1, logins.csv.2.gz (and gzip's long suffix .gzip)
ROTATED = re.compile(r"\.[0-9]{1,4}(?=(?:\.gz)?$)")


def _plain_name(path: str | Path) -> tuple[str, bool]:
    """A file's name in lower case with gzip's long suffix ``.gzip`` as ``.gz`` and a rotated log's number
    (:data:`ROTATED`) left off, and whether it had that number."""
    name = Path(path).name.lower()
    name = name[:-5] + ".gz" if name.endswith(".gzip") else name
    plain = ROTATED.sub("", name)
    return plain, plain != name


def file_format(path: str | Path) -> str:
    """The format taken from the extension (``.csv``, ``.csv.gz``, ``.parquet``, ``.jsonl.gz`` ...); a rotated
    log's number after it (``.csv.1``, ``.csv.2.gz``) and ``.gzip`` for ``.gz`` are read too."""
    name = _plain_name(path)[0]
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
        raise InputError(f"{p}: file not found" + (f" ({_link_problem(p)})" if p.is_symlink() else ""))
    if not p.is_file():
        raise InputError(f"{p}: not a regular file")
    return [p]


def shown_path(p: str | Path) -> str:
    """A path as text for messages and outputs: bytes of the name that are not UTF-8 (a Latin-1 name from a Windows
    share or a zip, held by Python as surrogates) written as ``\\xe9``."""
    return str(p).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def utf8_name(p: Path) -> Path:
    """``p``, or an InputError when its name is not UTF-8: every output names its input files (rejected rows, the
    summary, the report), and they are UTF-8 text."""
    try:
        str(p).encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{shown_path(p)}: the file name is not valid UTF-8 (a name from another code page); "
                         "rename the file") from None
    return p


def _link_problem(p: Path) -> str:
    try:
        p.stat()
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "a symbolic link loop"
    return "a dangling link"


def resolve_specs(spec: str | Path | list) -> list[Path]:
    """A file, glob or folder, or a list of them -> the input files they name, in order, each file once: a
    recursive glob through a link back up the tree (``sub -> .``) or the same file named twice reads it once
    (41 times over, its rows were all rejected as duplicates but read and held)."""
    seen: set[tuple[int, int]] = set()
    out = []
    for p in (utf8_name(p) for s in (spec if isinstance(spec, list) else [spec]) for p in resolve_paths(s)):
        st = p.stat()
        if (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            out.append(p)
    return out


def _supported(path: Path) -> bool:
    try:
        file_format(path)
        return True
    except InputError:
        return False


def read_raw(path: Path, encoding: dict | None = None) -> pl.DataFrame:
    """One file's raw rows (text columns as text). ``encoding``, when given, receives a text file's
    :func:`text_encoding` under ``"encoding"``: a file of single-byte text (cp1252) is read as such."""
    fmt = file_format(path)
    try:
        if fmt == "parquet":
            df = pl.read_parquet(path)
            return df.rename(reserved_renames(df.columns))
        gz = is_gzip(path)
        data = path.read_bytes()
        if gz:
            data = gunzip(data, path)
        marked = data.startswith(BOM)  # UTF-8 named by its byte-order mark: never cp1252 (UTF-16/32: re-encoded)
        data = text_bytes(data)
        no_bom_utf16(data, path)
        found = marked_encoding(marked, text_encoding(data))
        if found == CP1252:
            data = cp1252_to_utf8(data)
        if encoding is not None:
            encoding["encoding"] = found
        if not data.strip():
            return pl.DataFrame()
        if fmt == "csv":
            sep = sniff_separator(data)
            try:
                df = pl.read_csv(io.BytesIO(data), infer_schema=False, encoding="utf8-lossy", separator=sep)
            except pl.exceptions.PolarsError:  # a stray quote, a row wider than the header: record by record
                return csv_records(data.decode("utf-8", errors="replace"), sep)
            if csv_spans_lines(data, df.height):  # a quoted field over line ends: no line may vanish into one
                return csv_records(data.decode("utf-8", errors="replace"), sep)
            # a record short of fields is padded at its end by the fast reader (its later fields shifted into the
            # wrong columns): only when the last column has gaps are the lines' separators counted
            if df.width > 1 and df[:, -1].null_count() and short_lines(data, sep, df.width):
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


def unreadable(path: Path, e: Exception) -> InputError:
    """The error for a file its format's reader cannot parse, quoting the reader's first line."""
    return InputError(f"{path}: cannot parse as {file_format(path)} ({first_line(e)})")


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
    # A column of text holding JSON true/false too reads both as "true": the record reader marks the literal
    # (fraud.records.JSON_LITERAL), so that an id column's true is no account "true".
    if texts and df.select(pl.any_horizontal(pl.col(texts).is_in(["true", "false"]).any())).item() \
            and re.search(r":\s*(?:true|false)\s*[,}]", text):
        return _ndjson_by_record(lines, path)
    if nested:
        df = df.with_columns((pl.lit(NESTED) + pl.col(c)).alias(c) for c in nested)
    # A whole JSON number is read without its fraction, as a Parquet float column is (pandas writes an integer id
    # column with gaps as 1001.0: the id 1001 of the other inputs); a column of numbers only, by the probe.
    floats = [c for c, t in probe.schema.items() if t.is_float()]
    if floats:
        whole = probe.select(pl.when(whole_number(pl.col(c)))
                             .then(pl.col(c).cast(pl.Int64, strict=False).cast(pl.String)).alias(c)
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
    """A JSON document that is one object: the records it holds under one key as NDJSON lines (row N is element N)
    when that key's list of objects is all it holds besides ``@``-metadata (CloudTrail's ``{"Records": [...]}``,
    Microsoft Graph's ``{"@odata.context": ..., "value": [...]}``, Takeout's ``{"locations": [...]}``); else,
    pretty-printed over many lines (a ``.json`` export), one NDJSON line, so it reads as the one record it is (a
    record list inside another object is named by the missing-column error, see :func:`_wrapped_records`).
    NDJSON, whose first line is a whole object and not the whole text, is returned as it is."""
    def loads(s: str):
        try:
            return json.loads(s, object_pairs_hook=first_keys)
        except (ValueError, RecursionError):
            return None  # (JSON null is no object either)

    body = text.strip()
    first = body.split("\n", 1)[0]
    if first != body and loads(first) is not None:
        return text
    doc = loads(body)  # not one document either: read line by line, each bad line rejected
    if not isinstance(doc, dict):
        return text
    lists = [k for k, v in doc.items() if isinstance(v, list) and v and all(isinstance(o, dict) for o in v)]
    if len(lists) == 1 and all(k == lists[0] or k.startswith("@") for k in doc):
        return "\n".join(json.dumps(o, ensure_ascii=False) for o in doc[lists[0]])
    return json.dumps(doc, ensure_ascii=False)


def _json_array_lines(text: str, path: Path) -> str:
    """A JSON array's elements as NDJSON lines (row N is element N); a file that is no JSON array is an error."""
    try:
        items = json.loads(text, object_pairs_hook=first_keys)
    except (ValueError, RecursionError) as e:
        raise InputError(f"{path}: starts like a JSON array but is no valid JSON ({first_line(e)}); give one JSON "
                         "object per line") from None
    if not isinstance(items, list):
        raise InputError(f"{path}: not NDJSON (one JSON object per line)")
    return "\n".join(json.dumps(o, ensure_ascii=False) for o in items)


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
    rows_read, placeholders, events, encodings, unread, commas = 0, Counter(), Counter(), {}, [], {}
    for path in paths:
        found: dict[str, str] = {}
        raw = read_raw(path, found)
        if raw.width == 0:  # empty file: nothing to read, no header to check
            continue
        headers: dict[str, str] = {}
        unread.append({})
        raw = apply_mapping(raw, schema, cfg, path, headers, unread[-1])
        note = encoding_note(found.get("encoding", UTF8), replacement_counts(raw, schema)
                             if found.get("encoding") == UTF8_LOSSY else None)
        if note:
            encodings[str(path)] = note
        extra = [c for c in raw.columns if c not in schema.columns and c not in INTERNAL]
        extras |= set(extra)
        raw = raw.with_columns(extra_hash(kind, extra, raw.schema))
        raw = raw.select([c for c in raw.columns if c in schema.columns or c in INTERNAL])
        rows_read += raw.height
        comma = decimal_comma_columns(raw, schema)
        if comma:
            commas[str(path)] = sorted(comma)
        good, bad, missing, names, valued = split_rows(raw, schema, cfg, path, kind, file_format(path) == "ndjson",
                                                       headers, float_text_ids(raw), comma)
        given |= valued
        placeholders.update(missing)
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
                       columns=given_columns(kind, given, events, cfg.reader_events()), events=dict(events),
                       encodings=encodings, unread_aliases=first_names(unread), decimal_comma=commas)


def given_columns(kind: str, names, events: dict[str, int], event_names: dict[str, str] | None = None) -> list[str]:
    """The canonical columns an input's files give: their own, and ``success`` when event names carried login
    outcomes (``LOGIN_FAILED``: the failure rules can tell a failure)."""
    given = set(names) | ({"success"} if outcome_rows(events, event_names) else set())
    return [c for c in INPUT_SCHEMAS[kind].columns if c in given]



# Inputs that are a snapshot, not a log: an older rotated copy (scores.csv.1) is superseded, never read beside it
SNAPSHOT_KINDS = frozenset({"scores", "decisions"})


def _read_in_folder(f: Path, stem: str) -> bool:
    """Whether a scan of a folder reads its file ``f`` named like input ``stem``: a supported format, and for a
    snapshot input (:data:`SNAPSHOT_KINDS`) not an older rotated copy."""
    return _supported(f) and not (stem in SNAPSHOT_KINDS and _plain_name(f)[1])


def skipped_files(folder: str | Path) -> list[str]:
    """The files of a scan folder named like an input that a scan of it does not read (backups such as
    ``logins.csv.bak``, an older ``scores.csv.1``), by name: listed in the summary, never passed over without a
    word."""
    d = Path(folder)
    return sorted(shown_path(f.name) for f in d.iterdir()
                  if (stem := f.name.split(".")[0].lower()) in INPUT_SCHEMAS and f.is_file()
                  and not _read_in_folder(f, stem))


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
        utf8_name(f)
        if not _read_in_folder(f, stem):  # a backup, an older copy of a snapshot input: listed by skipped_files
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
