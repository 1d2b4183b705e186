"""Sizing and spooling for partitioned scans (:mod:`fraud.shards`): how many slices a memory budget needs,
and streaming each input file once into Parquet slices by ``hash(user_id) % shards``.
"""
from __future__ import annotations

import errno
import gzip
import math
import os
import shutil
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from fraud.allocator import allocator_retains
from fraud.config import Config
from fraud.errors import FraudError, InputError
from fraud.exprs import ACCOUNT_NO_VALUE_WORDS, is_missing
from fraud.columns import apply_mapping
from fraud.encoding import (BOM, CP1252, ENCODING_CHUNK, UTF8, UTF8_LOSSY, WIDE_BOMS, BoundedGzip, cp1252_to_utf8,
                            is_gzip, marked_encoding, no_bom_utf16, replacement_counts, sniff_separator, text_bytes,
                            text_encoding)
from fraud.inputs import file_format, read_raw, unreadable
from fraud.parsing import decimal_comma_columns, float_id_text, float_text_ids, native_text, nfc_text
from fraud.duplicates import extra_hash
from fraud.records import (EMPTY_ROW, INTERNAL, LAST_NULL, blank_csv_rows, last_line_quote_open,
                           leading_empty_lines, reserved_renames, short_lines)
from fraud.schema import INPUT_SCHEMAS

SHARD = "_shard"
HASH_SEED = 20_261_122
# Peak working memory per input row, by kind, fitted to bench/run.py scans of two data shapes (README): an
# account event carries a dozen columns and long user agents, a location ping five numbers.
BYTES_PER_ROW = {"logins": 2000, "devices": 2000, "locations": 450, "scores": 500}
# The same when the allocator keeps freed memory for reuse (the ``fraud`` command sets that up: see
# :mod:`fraud.allocator`): fitted to the peaks of the same two shapes with a 30 s hold (1.3-1.4x higher), so
# conservative for the command's 10 s (10M events: 7 slices, 5.4 GiB).
RETAINING_BYTES_PER_ROW = {"logins": 2800, "devices": 2800, "locations": 900, "scores": 700}
# Peak working memory per byte of input data: the id and text columns are copied into every table a scan derives
# (positions, places, user-days ...). Fitted to a skewed-data audit's sets of 0.25-4 kB user ids (5.9 GiB for
# 0.79 GB of data, 200k rows of 4 kB ids); the usual shapes' ~300 MB per 1.6M rows stay sized by their rows.
BYTES_PER_DATA_BYTE = 8
FIXED_GB = 1.0  # interpreter, libraries and per-scan tables that do not shrink with the slices


def shard_of(e: pl.Expr, shards: int) -> pl.Expr:
    """The slice (0 .. shards-1) of a key expression: a seeded hash of its text, modulo ``shards``."""
    return (e.cast(pl.String).hash(seed=HASH_SEED) % shards).cast(pl.Int32)


def _user_key(schema: pl.Schema, float_ids: frozenset[str] = frozenset()) -> pl.Expr:
    # The raw value's text as the parser reads it, so " u1" and "u1" land in one slice, and so do the id 7 of a
    # CSV file and the 7.0 of a Parquet float column (pandas writes an integer id column with gaps as float64), or
    # the text 7.0 of a file whose every user_id is written so (float_ids: fraud.parsing.float_text_ids).
    # What it reads as no user (blank, "unknown", "NULL" ...) is one key too: device snapshots may name no user,
    # and two that differ only there are duplicates, found only among the rows of one slice.
    if "user_id" not in schema:
        return pl.lit(None, pl.String)
    text = nfc_text(native_text(pl.col("user_id"), schema["user_id"]))
    text = float_id_text(text) if "user_id" in float_ids else text
    return pl.when(is_missing(text, ACCOUNT_NO_VALUE_WORDS)).then(None).otherwise(text)


def device_key() -> pl.Expr:
    # Device-less rows stay with their user (the emulator check reads a user's device-less agents together).
    return pl.coalesce(pl.col("device_id"), pl.lit("\x00") + pl.col("user_id").cast(pl.String))


# --------------------------------------------------------------------------------------------- sizing


def _gzipped(path: Path) -> bool:
    return file_format(path) != "parquet" and is_gzip(path)


def _open_bytes(path: Path):
    """The file's (decompressed, within :func:`fraud.encoding.expansion_limit`) bytes as a binary stream."""
    return BoundedGzip(path) if _gzipped(path) else open(path, "rb")


def _text_size(p: Path) -> tuple[int, bytes] | None:
    """A text file's (uncompressed) size and its first MiB; None when it cannot be read."""
    size = p.stat().st_size
    try:
        with _open_bytes(p) as fh:
            head = fh.read(1 << 20)
        if _gzipped(p):
            with open(p, "rb") as fh:  # ISIZE: the uncompressed size modulo 2**32
                fh.seek(-4, os.SEEK_END)
                isize = int.from_bytes(fh.read(4), "little")
            size = max(isize, size * 4)
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error):
        return None
    return size, head


SAMPLE_ROWS = 20_000


def estimate_input(paths: list[Path]) -> tuple[int, int]:
    """(rows, data bytes) of the input files, each file opened once. Rows: exact for Parquet (metadata), for text
    files from the line length of their first MiB and their (uncompressed) size. Data bytes: a text file's
    (uncompressed) size; a Parquet file's rows times the in-memory size of its first :data:`SAMPLE_ROWS` rows per
    row (compression hides long repeated strings: a 25 MB file of 10 kB user agents holds 11 GB of text)."""
    rows = data = 0
    for p in paths:
        if file_format(p) == "parquet":
            try:
                n = pl.scan_parquet(p).select(pl.len()).collect().item()
                head = pl.scan_parquet(p).head(SAMPLE_ROWS).collect()
            except Exception:  # noqa: BLE001 - unreadable files are reported by the scan itself
                continue
            rows += n
            data += int(n * head.estimated_size() / max(head.height, 1))
            continue
        text = _text_size(p)
        if text is not None:
            size, head = text
            rows += int(size * max(head.count(b"\n"), 1) / max(len(head), 1))
            data += size
    return rows, data


def estimate_rows(paths: list[Path]) -> int:
    """The rows of :func:`estimate_input`."""
    return estimate_input(paths)[0]


def estimate_bytes(paths: list[Path]) -> int:
    """The data bytes of :func:`estimate_input`."""
    return estimate_input(paths)[1]


CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def machine_memory_gb(cgroup_files: tuple[str, ...] = CGROUP_LIMITS) -> float:
    """Memory this process may use, GiB: the physical memory, or a container's (cgroup) limit when lower."""
    try:
        gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        gb = 16.0
    for f in cgroup_files:
        try:
            text = Path(f).read_text().strip()
        except OSError:
            continue
        if text.isdigit():  # "max" (v2) means no limit; v1 reports a huge number instead
            gb = min(gb, int(text) / 2**30)
    return gb


def default_memory_gb() -> float:
    """The default memory budget: 6 GiB, or 40% of the memory this process may use when that is less (at least
    1.5 GiB)."""
    return max(1.5, round(min(6.0, 0.4 * machine_memory_gb()), 1))


def working_gb(rows: dict[str, int], data_bytes: int = 0) -> float:
    """The working memory (GiB) an in-memory scan needs for ``rows`` input rows per kind, and at least
    :data:`BYTES_PER_DATA_BYTE` times the input's ``data_bytes`` (:func:`estimate_bytes`): rows of long strings
    weigh more than their count says (1 kB user ids: 3x the memory of the same rows with short ones)."""
    per_row = RETAINING_BYTES_PER_ROW if allocator_retains() else BYTES_PER_ROW
    by_rows = sum(n * per_row.get(kind, per_row["logins"]) for kind, n in rows.items())
    return max(by_rows, data_bytes * BYTES_PER_DATA_BYTE) / 2**30


def choose_shards(need_gb: float, memory_gb: float | None = None) -> int:
    """How many slices keep a scan whose in-memory working set is ``need_gb`` within ``memory_gb`` (1 when it
    fits whole)."""
    memory_gb = memory_gb or default_memory_gb()
    budget = memory_gb - FIXED_GB
    if budget <= 0:
        raise InputError(f"a memory budget of {memory_gb} GiB leaves nothing for the data (at least "
                         f"{FIXED_GB + 0.5} GiB)")
    return max(1, math.ceil(need_gb / budget))


# --------------------------------------------------------------------------------------------- spool


@dataclass
class SpooledFile:
    path: str
    rows_read: int = 0
    extra_columns: list[str] = field(default_factory=list)
    blank: bool = False
    blank_rows: list[int] = field(default_factory=list)  # a CSV file's empty lines: no rows (left out when parsed)
    headers: dict[str, str] = field(default_factory=dict)  # the file's own name of each renamed canonical column
    float_ids: frozenset[str] = frozenset()  # id columns written as 1001.0 throughout (parsing.float_text_ids)
    # number columns written with a decimal comma, 12.000 twelve thousand (parsing.decimal_comma_columns)
    decimal_comma: frozenset[str] = frozenset()
    # what the summary says of the file: its encoding (inputs.text_encoding, "encoding") and, when UTF-8 with
    # invalid bytes, the values read with U+FFFD ("replaced"); its optional columns under other names ("unread")
    notes: dict = field(default_factory=dict)


BLANK_WHOLE_BYTES = 1 << 24  # text files up to this size are tested whole, by the in-memory reader's own rule


def _is_blank(path: Path) -> bool:
    """A text file with no content, as :func:`fraud.inputs.read_raw` decides it (an in-memory scan and a sliced
    one end the same way): nothing but whitespace once :func:`fraud.encoding.text_bytes` has decoded it (byte-order
    marks, UTF-16 or UTF-32, an Excel ``sep=;`` line alone). A file of NUL bytes is content (no header), not blank.
    Larger files are read in chunks, NULs counting as blank only in a UTF-16/32 file (its blank lines)."""
    try:
        with _open_bytes(path) as fh:
            head = fh.read(BLANK_WHOLE_BYTES + 1)
            if len(head) <= BLANK_WHOLE_BYTES:
                return not text_bytes(head).strip()
            wide = head.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff"))
            chunk = head
            while chunk:  # (a bomb of blank lines is refused by the bounded stream, not read to its end)
                for mark in (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", *((b"\x00",) if wide else ())):
                    chunk = chunk.replace(mark, b"")
                if chunk.strip():
                    return False
                chunk = fh.read(1 << 16)
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise InputError(f"{path}: cannot read file ({e})") from None
    return True


def _raw_lazy(path: Path, tmp: Path, encoding: dict) -> tuple[pl.LazyFrame | pl.DataFrame, Path | None, str]:
    """The file's raw rows as a lazy scan with the reading rules of :func:`fraud.inputs.read_raw` (NDJSON: the
    frame read whole), the plain CSV file it scans (None for other formats) and its separator. ``encoding``
    receives the text file's encoding (:func:`fraud.encoding.text_encoding`, the whole file read in pieces): a
    cp1252 file is scanned through a UTF-8 copy."""
    fmt = file_format(path)
    if fmt == "parquet":
        lf = pl.scan_parquet(path)
        return lf.rename(reserved_renames(lf.collect_schema().names())), None, ","
    if fmt == "ndjson":  # mixed-type JSON fields are read whole (see README: prefer CSV/Parquet for huge inputs)
        return read_raw(path, encoding), None, ","  # eager: the column mapping's errors can look at its records
    src = path
    if _gzipped(path):
        src = tmp / f"{len(list(tmp.iterdir()))}.csv"
        try:
            with _open_bytes(path) as fin, open(src, "wb") as fout:
                shutil.copyfileobj(fin, fout, 1 << 22)
        except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as e:
            raise InputError(f"{path}: cannot read file ({e})") from None
    with open(src, "rb") as fh:  # the whole file, in pieces (as read_raw decides it on the text in memory)
        mark = fh.read(4)
        fh.seek(0)
        encoding["encoding"] = UTF8 if mark.startswith(WIDE_BOMS) else marked_encoding(
            mark.startswith(BOM), text_encoding(iter(lambda: fh.read(ENCODING_CHUNK), b"")))
    if encoding["encoding"] == CP1252:  # single-byte text (Excel's "CSV" on Windows): a UTF-8 copy, piece by piece
        fixed = tmp / f"{len(list(tmp.iterdir()))}.csv"
        with open(src, "rb") as fin, open(fixed, "wb") as fout:
            for chunk in iter(lambda: fin.read(ENCODING_CHUNK), b""):
                fout.write(cp1252_to_utf8(chunk))
        src = fixed
    with open(src, "rb") as fh:
        head = fh.read(1 << 20)
    # decided on the whole first MiB: a CR-only file whose header line is longer than a few KiB has no line end
    # in a shorter head, and was read as one header line (no rows)
    if text_bytes(head) != head.removeprefix(BOM):
        # UTF-16, a doubled byte-order mark, bare-CR line ends (see inputs.text_bytes): a translated copy
        fixed = tmp / f"{len(list(tmp.iterdir()))}.csv"
        fixed.write_bytes(text_bytes(src.read_bytes()))
        src = fixed
        with open(src, "rb") as fh:
            head = fh.read(1 << 20)
    no_bom_utf16(head.removeprefix(BOM), path)
    sep = sniff_separator(head.removeprefix(BOM))
    lf = pl.scan_csv(src, infer_schema=False, encoding="utf8-lossy", separator=sep)
    return lf.rename(reserved_renames(lf.collect_schema().names())), src, sep


def _spans_lines(src: Path, records: int) -> bool:
    """:func:`fraud.records.csv_spans_lines` on a file, read in chunks (a memchr count: about 1 s per 2 GB)."""
    lines, tail, head = 0, b"", b""
    with open(src, "rb") as fh:
        while chunk := fh.read(1 << 24):
            head = head or chunk
            lines += chunk.count(b"\n")
            tail = (tail + chunk)[-(1 << 20):]
    lines += (0 if not tail or tail.endswith(b"\n") else 1) - leading_empty_lines(head)
    return records + 1 < lines or last_line_quote_open(tail)


def _blank_rows(src: Path) -> list[int]:
    """:func:`fraud.records.blank_csv_rows` of a file too large to hold, read in chunks."""
    with open(src, "rb") as fh:
        return blank_csv_rows(fh)


def _raise_if_disk_full(e: BaseException, work: Path, path: Path) -> None:
    """A write into the working folder that failed for want of space is the folder's problem, not the input's
    (it read as "cannot parse as csv (... No space left on device)")."""
    if (isinstance(e, OSError) and e.errno == errno.ENOSPC) or "No space left on device" in str(e):
        raise FraudError(f"{work}: no space left on the device of the sliced scan's working folder while spooling "
                         f"{path} (free some, or give --work-dir a folder on a larger disk)") from None


def spool_file(kind: str, path: Path, cfg: Config, dest: Path, tmp: Path, shards: int) -> SpooledFile:
    """Stream one input file into ``dest/_shard=k/*.parquet`` (raw canonical columns plus ``_row``)."""
    schema = INPUT_SCHEMAS[kind]
    if _is_blank(path):
        return SpooledFile(str(path), blank=True)
    notes: dict = {}
    try:
        lf, src, sep = _raw_lazy(path, tmp, notes)
        names = lf.collect_schema().names()
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - any reader failure is an unreadable file
        raise unreadable(path, e) from None
    if not names:
        return SpooledFile(str(path), blank=True)
    try:
        extras, headers, float_ids, comma = _sink(lf, schema, cfg, path, dest, shards, notes,
                                                  mark_empty=src is not None)
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - a record the streaming reader refuses: read record by record instead
        shutil.rmtree(dest, ignore_errors=True)
        _raise_if_disk_full(e, tmp.parent, path)
        try:
            extras, headers, float_ids, comma = _sink(read_raw(path, notes).lazy(), schema, cfg, path, dest, shards,
                                               notes)
        except InputError:
            raise
        except Exception as e:  # noqa: BLE001
            _raise_if_disk_full(e, tmp.parent, path)
            raise unreadable(path, e) from None
    rows = _rows_in(dest)
    if src is not None and (_spans_lines(src, rows)
                            or (_any_marked(dest, LAST_NULL) and short_lines(src, sep, len(names)))):
        # a quoted field over line ends swallowed lines, or a record is short of fields (padded by the reader, its
        # later fields shifted): read record by record, as in memory
        shutil.rmtree(dest, ignore_errors=True)
        extras, headers, float_ids, comma = _sink(read_raw(path, notes).lazy(), schema, cfg, path, dest, shards,
                                           notes)
        rows = _rows_in(dest)
    # the CSV reader reads an empty line as a row of nulls: such rows are looked up in the file's text, and its
    # empty lines left out when the slices are parsed (no row, as in memory)
    blank = _blank_rows(src) if src is not None and _any_marked(dest, EMPTY_ROW) else []
    return SpooledFile(str(path), rows_read=rows - len(blank), extra_columns=extras, blank_rows=blank,
                       headers=headers, float_ids=float_ids, decimal_comma=comma, notes=notes)


def _any_marked(dest: Path, mark: str) -> bool:
    """Whether a slice file under ``dest`` holds a row marked ``mark`` (:data:`fraud.records.EMPTY_ROW`,
    :data:`fraud.records.LAST_NULL`: one boolean column read)."""
    files = sorted(dest.rglob("*.parquet"))
    if not files or mark not in pl.read_parquet_schema(files[0]):
        return False
    return bool(pl.scan_parquet(files).select(pl.col(mark).any()).collect().item())


def _rows_in(dest: Path) -> int:
    """Rows in the slice files under ``dest``, from their metadata in one scan (one scan per file cost ~15 ms
    each: 2 s for 4 inputs in 32 slices)."""
    files = sorted(dest.rglob("*.parquet"))
    return pl.scan_parquet(files).select(pl.len()).collect().item() if files else 0


def _sink(lf: pl.LazyFrame | pl.DataFrame, schema, cfg: Config, path: Path, dest: Path, shards: int,
          notes: dict | None = None, mark_empty: bool = False
          ) -> tuple[list[str], dict[str, str], frozenset[str], frozenset[str]]:
    """Write ``lf``'s canonical columns (and the record readers' row numbers and line errors) into the slices,
    with ``mark_empty`` a CSV scan's rows of nulls marked (:data:`fraud.records.EMPTY_ROW`); returns the extra
    column names (the columns given are those with a value, found when the slices are parsed), the file's own
    header of each renamed canonical column and its id columns written as ``1001.0`` throughout
    (:func:`fraud.parsing.float_text_ids`: decided on the whole file, before its rows are split into slices), and
    its number columns written with a decimal comma (:func:`fraud.parsing.decimal_comma_columns`: decided on the
    whole file too, before any slice is parsed; they do not change a row's slice, so the test reads the written
    slices, one column each, not the source text once more).
    ``notes``: :attr:`SpooledFile.notes`, its encoding given (:func:`_raw_lazy`); of UTF-8 with invalid bytes, the
    values read with U+FFFD are counted into it (``replaced``), in one more streaming pass over such a file; the
    optional columns it gives under another name only go under ``unread``."""
    headers: dict[str, str] = {}
    raw_names = lf.collect_schema().names()
    if mark_empty and len(raw_names) > 1:
        lf = lf.with_columns(pl.col(raw_names[-1]).is_null().alias(LAST_NULL))
    unread: dict[str, str] = {}
    lf = apply_mapping(lf, schema, cfg, path, headers, unread).lazy()
    float_ids = float_text_ids(lf)
    if notes is not None:
        notes["unread"] = unread
        if notes.get("encoding") == UTF8_LOSSY:
            notes["replaced"] = replacement_counts(lf, schema)
    names = lf.collect_schema().names()
    extras = sorted(c for c in names if c not in schema.columns and c not in INTERNAL)
    keep = [c for c in names if c in schema.columns]
    internal = [c for c in names if c in INTERNAL and c != "_row"]
    if "_row" not in names:
        lf = lf.with_row_index("_row", offset=1)
    hashed = extra_hash(schema.kind, extras, lf.collect_schema())
    empty = [pl.all_horizontal([pl.col(c).is_null() for c in names if c not in INTERNAL]).alias(EMPTY_ROW)] \
        if mark_empty else []
    lf = lf.select(pl.col("_row").cast(pl.Int64), *keep, *internal, *hashed, *empty)
    lf = lf.with_columns(shard_of(_user_key(lf.collect_schema(), float_ids), shards).alias(SHARD))
    lf.sink_parquet(pl.PartitionBy(dest, key=SHARD, include_key=False), mkdir=True, compression="lz4",
                    statistics=False, engine="streaming")  # working files: read whole, never filtered
    files = sorted(dest.rglob("*.parquet"))
    comma = decimal_comma_columns(pl.scan_parquet(files), schema) if files else frozenset()
    return extras, headers, float_ids, comma


def read_parts(files: list[Path], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """The rows of some Parquet slice files (in file-name order), or an empty frame with ``schema``."""
    files = sorted(files)
    return pl.read_parquet(files) if files else pl.DataFrame(schema=schema)
