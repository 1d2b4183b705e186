"""Reading inputs at the edge: files or globs of CSV(.gz) / Parquet / NDJSON(.gz) / JSON, mapped onto the
canonical columns, parsed into typed frames (:mod:`fraud.parsing`), with every unparseable row set aside (never
silently dropped).

A missing required column, an unreadable file or an unknown format raises :class:`~fraud.errors.InputError`
naming the file and the column. Rows with a bad timestamp, a missing required value, an unparseable
number/boolean or an out-of-range coordinate or score go to the rejected frame with the source file, the
1-based data row number (the header is not counted) and the reason.
"""
from __future__ import annotations

import codecs
import errno
import glob as globmod
import gzip
import io
import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from fraud.config import Config
from fraud.errors import InputError, first_line
from fraud.duplicates import extra_hash, split_duplicates
from fraud.parsing import decimal_comma_columns, float_text_ids, outcome_rows, split_rows, whole_number
from fraud.records import (EXTRA_HASH, INTERNAL, LINE_ERROR, NESTED, RESERVED, blank_csv_rows, blank_line_rows,
                           csv_records, csv_spans_lines, first_keys, ndjson_records, reserved_renames, short_lines)
from fraud.schema import INPUT_SCHEMAS, REJECTED_COLUMNS, InputSchema, squashed

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


# A log file compresses 3-30x; gzip's limit is ~1030x. A file that expands more than GZIP_MAX_RATIO times, past
# GZIP_FREE_BYTES of text, is a decompression bomb (a few MB that would fill the machine's memory or disk), not read.
GZIP_MAX_RATIO = 200
GZIP_FREE_BYTES = 256 << 20


def expansion_limit(compressed_bytes: int) -> int:
    """The most text a gzip file of ``compressed_bytes`` may expand to (:data:`GZIP_MAX_RATIO`)."""
    return max(GZIP_FREE_BYTES, GZIP_MAX_RATIO * compressed_bytes)


class BoundedGzip(gzip.GzipFile):
    """A gzip stream (several members too) that refuses to expand past :func:`expansion_limit`: every reader of a
    ``.gz`` input (in memory, the sliced scan's working copy, its blank-file test) reads through it."""

    def __init__(self, path: Path, fileobj=None, compressed_bytes: int | None = None) -> None:
        super().__init__(filename=None if fileobj is not None else path, mode="rb", fileobj=fileobj)
        self.path, self.compressed = path, compressed_bytes if compressed_bytes is not None else path.stat().st_size
        self.limit, self.expanded = expansion_limit(self.compressed), 0

    def read(self, size: int = -1) -> bytes:
        chunk = super().read(size)
        self.expanded += len(chunk)
        if self.expanded > self.limit:
            raise InputError(f"{self.path}: expands more than {GZIP_MAX_RATIO} times when decompressed "
                             f"({self.compressed:,} bytes to over {self.limit:,}): a decompression bomb, not read "
                             "(decompress it yourself if it holds real data)")
        return chunk


GZIP_MAGIC = b"\x1f\x8b"
# Compressed data a text reader must not see as text: Polars' CSV reader decompresses gzip and zstd content on its
# own, past the decompression-bomb guard (a 400 KB gzip named .csv took 6 GB and aborted the process).
PARQUET_MAGIC = b"PAR1"
OTHER_COMPRESSION = {b"\x28\xb5\x2f\xfd": "zstd", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"PK\x03\x04": "zip"}


def is_gzip(path: Path) -> bool:
    """Whether a text input holds gzip data: named ``.gz``, or starting with gzip's magic bytes whatever its name
    (then read through :class:`BoundedGzip` too). Other compressed data is an error naming the format."""
    if path.name.lower().endswith(".gz"):
        return True
    with open(path, "rb") as fh:
        head = fh.read(6)
    if head.startswith(GZIP_MAGIC):
        return True
    if head.startswith(PARQUET_MAGIC):  # a Parquet file saved under a text name: one line, not its bytes escaped
        raise InputError(f"{path}: Parquet data in a file named {Path(path).suffix or 'without a suffix'}; rename it "
                         ".parquet")
    for magic, name in OTHER_COMPRESSION.items():
        if head.startswith(magic):
            raise InputError(f"{path}: holds {name}-compressed data; decompress it (or name a gzip file .gz)")
    return False


def gunzip(data: bytes, path: Path) -> bytes:
    """``data`` (a gzip file) decompressed through :class:`BoundedGzip`, in chunks."""
    with BoundedGzip(path, io.BytesIO(data), len(data)) as fh:
        return b"".join(iter(lambda: fh.read(1 << 24), b""))


BOM = b"\xef\xbb\xbf"
WIDE_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")  # UTF-16 and UTF-32 (text_bytes re-encodes them)

# A text file's encoding (text_encoding): UTF-8; Windows-1252 (what Excel on Windows saves as "CSV", a superset of
# Latin-1's printable characters), read as such; or UTF-8 holding bytes that are not, read as U+FFFD.
UTF8, CP1252, UTF8_LOSSY = "utf-8", "cp1252", "utf-8 with invalid bytes"
# A valid multi-byte UTF-8 sequence (RFC 3629's table): a file holding one is UTF-8 with some bytes broken, not a
# single-byte encoding (cp1252 text almost never forms one: an upper-case accented letter before a symbol).
UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
                            rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
                            rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}")
# cp1252's decoding table; its five unassigned bytes (0x81, 0x8d, 0x8f, 0x90, 0x9d) as Latin-1 reads them (C1
# controls: an id holding one is rejected as holding a control character)
CP1252_TABLE = "".join(bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in range(256))
ENCODING_CHUNK = 1 << 24


def text_encoding(data: bytes | Iterable[bytes]) -> str:
    """The encoding of a text file's bytes (one buffer, or a file's chunks in order): :data:`UTF8` when they are
    valid UTF-8 (ASCII included); :data:`CP1252` when they are not and hold no valid multi-byte UTF-8 sequence at all
    (plainly a single-byte encoding: Excel's "CSV" on Windows); else :data:`UTF8_LOSSY` (UTF-8 with some invalid
    bytes, read as U+FFFD). Read in pieces of :data:`ENCODING_CHUNK` bytes: never the file as one string."""
    chunks = [data] if isinstance(data, (bytes, bytearray, memoryview)) else data
    decoder = codecs.getincrementaldecoder("utf-8")()
    valid, multibyte, tail = True, False, b""
    for chunk in chunks:
        view = memoryview(chunk)
        for i in range(0, len(view), ENCODING_CHUNK):
            piece = bytes(view[i:i + ENCODING_CHUNK])
            ascii_only = piece.isascii()
            if valid and not (ascii_only and not decoder.getstate()[0]):
                try:  # valid so far: a piece that decodes to more than ASCII holds a multi-byte sequence
                    multibyte = not decoder.decode(piece).isascii() or multibyte
                except UnicodeDecodeError:
                    valid = False
            if not valid and not multibyte and not ascii_only:
                # (the last piece's end before it: a sequence cut in two)
                multibyte = UTF8_MULTIBYTE.search(tail + piece) is not None
            if not valid and multibyte:
                return UTF8_LOSSY
            tail = piece[-3:]
    if valid:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:  # a sequence cut at the end of the file
            valid = False
    return UTF8 if valid else UTF8_LOSSY if multibyte else CP1252


def marked_encoding(utf8_bom: bool, found: str) -> str:
    """:func:`text_encoding`'s answer for a file that starts with UTF-8's byte-order mark or not: with it, bytes that
    are not UTF-8 are invalid bytes in UTF-8 text, never a cp1252 file."""
    return UTF8_LOSSY if utf8_bom and found == CP1252 else found


def encoding_note(found: str, replaced: dict[str, int] | None = None) -> dict | None:
    """What the summary says of a text file read as :data:`CP1252` or :data:`UTF8_LOSSY` (``replaced``: values per
    column read with U+FFFD, :func:`replacement_counts`); None for UTF-8."""
    if found == CP1252:
        return {"encoding": CP1252, "note": "not UTF-8, and no UTF-8 multi-byte sequence in it: read as Windows-1252 "
                                            "(cp1252, Latin-1's letters included); re-encode it as UTF-8 if that is "
                                            "wrong"}
    if found == UTF8_LOSSY:
        return {"encoding": UTF8, "note": "UTF-8 with bytes that are not UTF-8: they read as U+FFFD (a user_id holding "
                                          "one is rejected); re-encode the file as UTF-8",
                "values_with_replacement_character": dict(replaced or {})}
    return None


def replacement_counts(df: pl.DataFrame | pl.LazyFrame, schema: InputSchema) -> dict[str, int]:
    """Per canonical text column but ``user_id`` (whose rows are rejected, each with its reason), the values holding
    U+FFFD, where a file's bytes that are not UTF-8 went (:data:`UTF8_LOSSY`); columns with none left out."""
    types = df.collect_schema()
    cols = [c for c in schema.columns if c in types and types[c] == pl.String and c != "user_id"]
    if not cols:
        return {}
    row = df.select(pl.col(c).str.contains("\ufffd", literal=True).sum().alias(c) for c in cols)
    row = (row.collect(engine="streaming") if isinstance(row, pl.LazyFrame) else row).row(0, named=True)
    return {c: int(n) for c, n in row.items() if n}


def cp1252_to_utf8(data: bytes) -> bytes:
    """Windows-1252 bytes as UTF-8, a piece at a time (one byte is one character: pieces cut anywhere)."""
    view = memoryview(data)
    return b"".join(codecs.charmap_decode(view[i:i + ENCODING_CHUNK], "strict", CP1252_TABLE)[0].encode("utf-8")
                    for i in range(0, len(view), ENCODING_CHUNK))
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


def no_bom_utf16(head: bytes, path: Path) -> None:
    """An InputError for text whose first line has a NUL byte beside every character (``t\\x00s\\x00``): UTF-16
    without a byte-order mark (with one it is re-encoded), which read as a header of NUL-laced names."""
    line = head[:head.find(b"\n") if b"\n" in head[:400] else 400]
    line = line[:len(line) // 2 * 2]
    if len(line) >= 4 and (line[1::2].count(0) == len(line) // 2 or line[0::2].count(0) == len(line) // 2) \
            and line.count(0) == len(line) // 2:
        raise InputError(f"{path}: looks like UTF-16 text without a byte-order mark (a NUL byte beside every character "
                         "of the header); re-encode it as UTF-8")


def cr_to_lf(data: bytes) -> bytes:
    """Text whose lines end in a bare CR (classic Mac OS exports) with LF line ends; other text unchanged (the
    readers split on LF and take CRLF as well, but read a CR-only file as one header line). The header line's end
    decides: a bare CR there makes every CR a line end (also when something appended a final LF: that file was
    read as one header line, 0 rows); after an LF or CRLF header a bare CR is a character of its field."""
    cr = data.find(b"\r")
    if cr < 0 or -1 < data.find(b"\n") < cr or data[cr + 1:cr + 2] == b"\n":
        return data
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def unreadable(path: Path, e: Exception) -> InputError:
    """The error for a file its format's reader cannot parse, quoting the reader's first line."""
    return InputError(f"{path}: cannot parse as {file_format(path)} ({first_line(e)})")


def sniff_separator(data: bytes) -> str:
    """The CSV field separator: a comma unless the header line has none and uses ``;``, tab or ``|``
    (spreadsheet exports in many locales write ``;``)."""
    # a quoted column name may hold any separator ("amount (USD, net)" in a ';' file): count outside quotes
    header = re.sub(rb'"[^"]*"', b"", data.split(b"\n", 1)[0])
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


def apply_mapping(df: pl.DataFrame | pl.LazyFrame, schema: InputSchema, cfg: Config, path: Path,
                  headers: dict[str, str] | None = None, unread: dict[str, str] | None = None):
    """Rename mapped and loosely written header names onto the canonical columns (eager or lazy frame);
    a missing required column is an :class:`InputError` naming the file. ``headers``, when given, receives the
    file's own header (or nested path) of each canonical column it renamed: rejection reasons name those.
    ``unread``, when given, receives the optional columns the file gives under another name only
    (:func:`unread_alias_columns`), which are not read as them (several files' together: :func:`first_names`)."""
    types = df.collect_schema()
    names = types.names()
    given = list(names)  # the file's own header, for the error of a missing column
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
    paths: dict[str, str] = {}  # canonical column -> the nested path it is read from
    mapping = cfg.columns_for(schema.kind)
    for canon, srcs in mapping.items():
        if canon not in schema.columns:
            continue
        alts = srcs if isinstance(srcs, list) else [srcs]
        if len(alts) > 1:
            texts = _text_alternatives(alts, header, types)
            if len(texts) > 1:
                # alternatives the file has side by side, all text: each row takes the first that holds a value
                # (Keycloak's userId, null for an unknown account, then details.username: a spray on made-up names)
                nested[canon] = pl.coalesce([pl.when(e.str.strip_chars() != "").then(e) for _, e in texts])
                paths[canon] = texts[0][0]
                continue
        for src in alts:  # alternatives: the first the file has
            found = header(src)
            if found is None and "." in src:  # a path into a JSON object or Parquet struct: "actor.alternateId"
                value = _nested_value(src, header, types)
                if value is not None:
                    nested[canon] = value[0]
                    paths[canon] = src
                    break
            elif found is not None:
                if found != canon:
                    rename[found] = canon
                break
    if headers is not None:
        headers.update({canon: found for found, canon in rename.items()})
        headers.update(paths)
    if nested:
        df = df.with_columns(v.alias(f"__nested_{c}") for c, v in nested.items())
        rename.update({f"__nested_{c}": c for c in nested})
    if rename:
        names = df.collect_schema().names()
        df = df.drop([c for c in rename.values() if c in names and c not in rename]).rename(rename)
        names = df.collect_schema().names()
    # Tolerate surrounding spaces and case in header names, as long as two headers do not become one column; a
    # header written in another style (userId, User-Agent, "Accuracy (m)") reads as the column it spells, unless
    # the file also has that column under its own name.
    def undup(c: str) -> str:  # the CSV reader renames a repeated header name "user_id" to "user_id_duplicated_0"
        m = re.fullmatch(r"(.+)_duplicated_\d+", c)
        return m.group(1) if m else c

    loosely = {c: c if c in schema.columns else undup(c).strip().lower() for c in names}
    taken = {t for t in loosely.values() if t in schema.columns}
    for c in names:
        styled = None if loosely[c] in schema.columns else squashed_column(undup(c), schema)
        if styled is not None and styled not in taken:
            loosely[c] = styled
    # an optional column under the one name every common export gives it, in the same unit (an accuracy radius in
    # metres): without it a 2 km cell fix would count as a precise one
    for canon, aliases in UNIT_ALIASES.items():
        if canon in schema.columns and canon not in loosely.values() and canon not in mapping:
            like = [c for c in names if c not in schema.columns and squashed(c) in aliases]
            if len(like) == 1:
                loosely[like[0]] = canon
    reads_as: dict[str, list[str]] = {}
    for c in names:
        if loosely[c] in schema.columns:
            reads_as.setdefault(loosely[c], []).append(c)
    for canon, sources in reads_as.items():
        shown = [re.sub(r"_duplicated_\d+$", "", c) for c in sources]
        if len(set(shown)) == 1 < len(shown):
            raise InputError(f"{path}: the header names column {shown[0]!r} {len(shown)} times; rename or drop all "
                             "but one")
        if len(sources) > 1:
            raise InputError(f"{path}: columns {', '.join(repr(c) for c in shown)} all read as {canon!r}; "
                             "rename or drop all but one")
    norm = {c: loosely[c] for c in names if loosely[c] in schema.columns and c not in schema.columns}
    if headers is not None:
        headers.update({canon: src for src, canon in norm.items()})
    if norm:
        df = df.rename(norm)
        names = df.collect_schema().names()
    for col in schema.required:
        if col not in names:
            mapped = mapping.get(col)
            mapped = mapped if isinstance(mapped, list) else [mapped] if mapped else []
            hint = f" (mapped from {' or '.join(repr(m) for m in mapped)})" if mapped else ""
            wrapped = _wrapped_records(df)
            like = [] if mapped or wrapped else [c for c in given if squashed(c) in COLUMN_ALIASES.get(col, ())]
            if len(like) == 1:
                hint = f" ({alias_hint(schema.kind, col, like[0])})"
            raise InputError(f"{path}: missing required column {col!r}{hint}{wrapped or _header_read(given)}")
    if unread is not None:
        unread.update(unread_alias_columns(schema, names, mapping))
    return _scalar_columns(df, schema, path)


def squashed_column(name: str, schema: InputSchema) -> str | None:
    """The canonical column a header spells in another style (``userId``, ``User-Agent``, ``Accuracy (m)``), else
    None."""
    found = [c for c in schema.columns if squashed(c) == squashed(name)]
    return found[0] if len(found) == 1 else None


# Names an optional column has in common exports, with its unit: read as it when the file has no such column.
# Android's Location.getAccuracy(), iOS' horizontalAccuracy, the W3C Geolocation API's coords.accuracy and Google
# Takeout's location history all give the accuracy radius in metres.
# (Not u-blox's hAcc: millimetres.)
UNIT_ALIASES = {"accuracy_m": ("accuracy", "horizontalaccuracy", "horizontalaccuracymeters",
                               "accuracymeters", "accuracymetres", "gpsaccuracy", "locationaccuracy")}

# Other names logs give a required column: never read as it (a "time" may be local, an "account" a bank account
# number), only named in the error's hint, with the config line that maps it.
COLUMN_ALIASES = {
    "ts": ("time", "timestamp", "datetime", "date", "eventtime", "eventtimestamp", "createdat", "created", "logintime",
           "occurredat", "loggedat", "when"),
    "user_id": ("user", "uid", "username", "account", "accountid", "customer", "customerid", "memberid", "member",
                "principal", "login", "actor", "subject", "sub"),
    "device_id": ("device", "deviceuuid", "did", "devicefingerprint", "fingerprint", "udid", "idfv", "androidid"),
    "lat": ("latitude",),
    "lon": ("lng", "long", "longitude"),
    "score": ("creditscore", "riskscore", "points"),
}


# Other names exports give an optional column (beside COLUMN_ALIASES'): like those, never read as it (the contract
# keeps an unknown column and ignores it; a "status" may be an account's), only named in a warning.
OPTIONAL_COLUMN_ALIASES = {
    "ip": ("ipaddress", "clientip", "clientipaddress", "ipaddr", "remoteaddr", "remoteip", "sourceip", "srcip"),
    "event": ("eventtype", "eventname", "action"),
    "success": ("status", "result", "outcome"),
}


def alias_hint(kind: str, canon: str, header: str) -> str:
    """The config line that reads ``header`` as ``canon``, as the hints name it (the kind's own table: ``[columns]``
    would rename that header in every input kind)."""
    hint = (f"{ascii(header)} looks like it: map it in the config's [columns.{kind}] table, "
            f"{canon} = {json.dumps(header)}")
    if canon == "success":  # a status column is often a code: 200/401, Entra's errorCode 0
        hint += "; a code there (an HTTP status, an error code) also needs [outcomes] to say which values succeed"
    return hint


def unread_alias_columns(schema: InputSchema, names: list[str], mapping: dict) -> dict[str, str]:
    """Per optional canonical column a file's columns ``names`` (after the mapping) lack and the config does not map,
    the one header that is a common other name for it (:data:`COLUMN_ALIASES`, :data:`OPTIONAL_COLUMN_ALIASES`:
    ``latitude`` for ``lat``, ``ip_address`` for ``ip``, ``event_type`` for ``event``); none when two are."""
    aliases = {**COLUMN_ALIASES, **OPTIONAL_COLUMN_ALIASES}
    out = {}
    for canon in schema.columns:
        if canon in schema.required or canon in names or canon in mapping or canon not in aliases:
            continue
        like = [c for c in names if c not in schema.columns and c not in INTERNAL and squashed(c) in aliases[canon]]
        if len(like) == 1:
            out[canon] = like[0]
    return out


def first_names(per_file) -> dict[str, str]:
    """Files' :func:`unread_alias_columns` together, in file order: a column's first file names its header."""
    out: dict[str, str] = {}
    for unread in per_file:
        for canon, header in unread.items():
            out.setdefault(canon, header)
    return out


def _header_read(names: list[str], n: int = 8) -> str:
    """What the reader took for the header, quoted with escapes (a title line, a BOM or an invisible character in a
    name, a separator not detected: the cause of a "missing required column" is then visible)."""
    given = [c for c in names if c not in RESERVED]
    if not given:
        return ""
    more = f" and {len(given) - n} more" if len(given) > n else ""
    return f"; the header read: {', '.join(ascii(c) for c in given[:n])}{more}"


def _text_alternatives(alts: list[str], header, types: pl.Schema) -> list[tuple[str, pl.Expr]]:
    """The alternatives of a list mapping that the file has, as (the file's name or path, its value), when every
    one of them is text (a header of strings, a path into JSON text or to a struct's string field); else []: other
    types keep the first alternative the file has."""
    out = []
    for src in alts:
        found = header(src)
        if found is not None:
            if types[found] != pl.String:
                return []
            out.append((found, pl.col(found)))
        elif "." in src and (value := _nested_value(src, header, types)) is not None:
            if value[1] != pl.String:
                return []
            out.append((src, value[0]))
    return out


def _nested_value(src: str, header, types: pl.Schema) -> tuple[pl.Expr, pl.DataType] | None:
    """The value at a dotted path (``client.geographicalContext.city``) in a column of JSON objects (NDJSON's nested
    values, or JSON text in a CSV cell) or of Parquet structs, and its type (a struct field's; text from JSON): the
    longest prefix that is a column, the rest the path inside it. None when no prefix is a column (or a struct
    lacks the field): the mapping then misses."""
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
            return e, dtype
        if dtype == pl.String:
            path = "$" + "".join("['" + p.replace("\\", "\\\\").replace("'", "\\'") + "']" for p in rest)
            return pl.col(col).str.strip_prefix(NESTED).str.json_path_match(path).map_batches(
                _mark_containers, return_dtype=pl.String, is_elementwise=True), pl.String
    return None


def _mark_containers(s: pl.Series) -> pl.Series:
    """``json_path_match`` gives an object or a list at the path as its JSON text, like a string: such a value
    gets the nested mark (:data:`fraud.records.NESTED`), so that the parser rejects it ("nested JSON value")
    instead of reading the account ``{"id":"mallory"}``. Tested once per distinct value that starts like one."""
    cand = s.filter(s.str.contains(r"^\s*[\[{]")).unique().to_list()
    containers = [v for v in cand if _is_container(v)]
    if not containers:
        return s
    return s.to_frame("v").select(pl.when(pl.col("v").is_in(containers)).then(pl.lit(NESTED) + pl.col("v"))
                                  .otherwise(pl.col("v"))).to_series().alias(s.name)


def _is_container(text: str) -> bool:
    try:
        return isinstance(json.loads(text), (dict, list))
    except (ValueError, RecursionError):
        return False


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
