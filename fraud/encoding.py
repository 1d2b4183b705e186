"""The bytes of text inputs before a reader sees them: gzip (with a decompression-bomb guard) and other compressed
data, byte-order marks, the text's encoding (UTF-8, Windows-1252, UTF-16/32), line ends and the CSV separator.
:mod:`fraud.inputs` (in memory) and :mod:`fraud.spool` (the sliced scan's working copy) read through them alike.
"""
from __future__ import annotations

import codecs
import gzip
import io
import re
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from fraud.errors import InputError
from fraud.schema import InputSchema


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
