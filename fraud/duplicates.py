"""Exact repeats of input rows: a log line written twice (an exporter's retry, overlapping daily files in a glob)
would count twice in every count-based rule (remote logins, away-from-home shares, behaviour counts, places'
weights), so the first copy is used and each repeat is a rejected row naming it."""
from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from fraud.parsing import native_text
from fraud.records import EXTRA_HASH, JSON_LITERAL
from fraud.schema import INPUT_SCHEMAS, RAW_PREVIEW_CHARS, REJECTED_COLUMNS, squashed
from fraud.timeparse import rfc3339_timestamp

DEDUPLICATED_KINDS = frozenset({"logins", "devices", "locations"})


# Columns a log pipeline adds on each delivery, not the event (squashed: see fraud.schema.squashed): an
# at-least-once pipeline that delivers an event twice writes two rows equal but for when each copy was ingested,
# received or loaded, or the broker's offset. Left out of the comparison, so the copies are one event.
DELIVERY_COLUMNS = frozenset({
    "ingestedat", "ingesttime", "ingestiontime", "ingesttimestamp", "ingestiontimestamp", "receivedat",
    "receivetime", "receivedtime", "receivedtimestamp", "loadedat", "loadtime", "etlloadedat", "etlloadtime",
    "kafkaoffset", "kafkapartition", "kafkatimestamp", "enqueuedtime", "eventhubenqueuedtime",
    "deliveryattempt", "deliverycount", "redeliverycount", "sqsreceivecount", "approximatereceivecount"})


def extra_hash(kind: str, extras: list[str], schema: Mapping[str, pl.DataType]) -> list[pl.Expr]:
    """The :data:`fraud.records.EXTRA_HASH` column of a file of ``kind`` with other columns ``extras`` of
    ``schema``'s types (in name order: the same value in memory and in a sliced scan's working files), or none
    when the kind is not deduplicated or the file has no other column. A delivery's own columns
    (:data:`DELIVERY_COLUMNS`: ``ingested_at``, ``kafka_offset`` ...) are left out.

    Each value is hashed in one form whichever way the file stores it (:func:`extra_text`), so one export written
    as CSV and again as Parquet (a request id as the text ``11`` and as the integer 11 or the float 11.0, pandas'
    ``True`` and a boolean, ISO text and a timestamp) repeats its rows."""
    extras = [c for c in extras if squashed(c) not in DELIVERY_COLUMNS]
    if kind not in DEDUPLICATED_KINDS or not extras:
        return []
    return [pl.struct([extra_text(c, schema[c]) for c in sorted(extras)]).hash(seed=20_261_123).alias(EXTRA_HASH)]


def extra_text(col: str, dtype: pl.DataType) -> pl.Expr:
    """An extra column's value in a comparable form, whichever way a file stores it: text trimmed (a JSON literal's
    mark dropped), ``True``/``TRUE`` as ``true`` (and ``false``) as a boolean column reads; numbers as their text
    (a whole float without its fraction: :func:`fraud.parsing.native_text`); a date-time, typed or written as
    ISO text (``2024-03-01 08:00:01+00:00``, ``T`` or a space, an offset or none: UTC), as its instant; a date as
    ``2024-03-01``; other types (nested values) as they are."""
    c = pl.col(col)
    if dtype == pl.String:
        return c.str.strip_prefix(JSON_LITERAL).str.strip_chars().map_batches(
            _canonical_text, return_dtype=pl.String, is_elementwise=True).alias(col)
    if isinstance(dtype, pl.Datetime):
        stamp = c.dt.convert_time_zone("UTC") if dtype.time_zone else c.dt.replace_time_zone("UTC")
        return _instant(stamp.dt.cast_time_unit("ns")).alias(col)
    if dtype == pl.Null:  # a column of no values (pyarrow's type for an all-None pandas column): no text
        return c.cast(pl.String).alias(col)
    if isinstance(dtype, pl.Decimal):  # 1.50 is the float 1.5, as decimal text reads
        return native_text(c.cast(pl.Float64), pl.Float64).alias(col)
    if dtype.is_numeric() or dtype in (pl.Boolean, pl.Date) or isinstance(dtype, (pl.Categorical, pl.Enum)):
        return native_text(c, dtype).alias(col)
    return c


def _canonical_text(s: pl.Series) -> pl.Series:
    """Trimmed text with the values that may be a boolean word, a decimal number or an ISO date-time (by their
    length, dot and dashes: a request id or a user agent is never parsed, which cost 0.3-0.6 s per 1.5M rows and
    column) read as such; blank text is no value (an empty CSV cell, Parquet's ``""``)."""
    s = pl.select(pl.when(pl.lit(s) != "").then(pl.lit(s))).to_series().alias(s.name)
    n = s.str.len_bytes()
    words = (n == 4) | (n == 5)
    stamps = n.is_between(16, 40) & (s.str.slice(4, 1) == "-") & (s.str.slice(7, 1) == "-")
    # pandas writes a float column with gaps as 11.0: the float's text (a whole one without its fraction), as a
    # typed column's; digits without a dot stay text (an id of 20 digits is no float)
    decimals = s.str.contains(r"^-?(?:0|[1-9][0-9]{0,14})\.[0-9]{1,15}$")
    out = s
    if decimals.any():
        num = s.filter(decimals).cast(pl.Float64)
        out = out.scatter(decimals.arg_true(), pl.select(native_text(pl.lit(num), pl.Float64)).to_series())
    if words.any():
        low = s.filter(words).str.to_lowercase()
        out = out.scatter(words.arg_true(), pl.select(pl.when(low.is_in(["true", "false"])).then(low)
                                                       .otherwise(s.filter(words))).to_series())
    if stamps.any():
        t = s.filter(stamps)
        out = out.scatter(stamps.arg_true(), pl.select(pl.coalesce(_instant(_text_stamp(pl.lit(t))), pl.lit(t)))
                          .to_series())
    return out


def _text_stamp(t: pl.Expr) -> pl.Expr:
    """ISO date-time text as a UTC datetime to the nanosecond (an offset or ``Z`` read, none taken as UTC), else
    null."""
    naive = pl.coalesce(*[t.str.to_datetime(f, strict=False, time_unit="ns")
                          for f in ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f")])
    return pl.coalesce(rfc3339_timestamp(t, "ns"), naive.dt.replace_time_zone("UTC"))


INSTANT_MARK = "\x02"  # before an instant's nanoseconds: no text a log writes starts with it


def _instant(stamp: pl.Expr) -> pl.Expr:
    return pl.lit(INSTANT_MARK) + stamp.dt.epoch("ns").cast(pl.String)


def split_duplicates(frame: pl.DataFrame, kind: str, file_col: str = "_file", files: list[str] | None = None
                     ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``frame`` (parsed rows in input order, with ``file_col`` and ``_row``) without rows equal to an earlier row
    on every canonical column and on the file's other columns (their :data:`fraud.records.EXTRA_HASH`, when the
    frame has it), and those repeats as rejected rows ("duplicate of FILE row N": the first copy,
    which is kept), plus ``_src``: the repeat's own ``file_col`` value. Equality is on parsed values, so the same
    instant written in two notations, or a row repeated across two files of a glob, is a repeat. ``files`` names
    the files when ``file_col`` holds their index."""
    none = pl.DataFrame(schema={**REJECTED_COLUMNS, "_src": frame.schema[file_col]})
    if kind not in DEDUPLICATED_KINDS or frame.height < 2:
        return frame, none
    cols = list(INPUT_SCHEMAS[kind].columns)
    # the file's other columns too (a request id apart makes two events of one second), compared by their hash
    same = cols + ([EXTRA_HASH] if EXTRA_HASH in frame.columns else [])
    # Candidates first (same user/device and instant): the full-row comparison then runs on few rows.
    key = [c for c in ("user_id", "device_id", "ts") if c in cols]
    is_cand = frame.select(pl.struct(key).is_duplicated()).to_series()
    if not is_cand.any():
        return frame, none
    cand = frame.filter(is_cand).with_columns(is_cand.arg_true().alias("_i"))
    whole = pl.struct(same)
    dups = cand.with_columns(pl.col(file_col, "_row").first().over(whole).name.prefix("_first")).filter(
        ~whole.is_first_distinct())

    def name(col: str) -> pl.Expr:
        if files is None:
            return pl.col(col)
        return pl.col(col).cast(pl.Int64).replace_strict(list(range(len(files))), files, return_dtype=pl.String)

    rejected = dups.select(
        pl.lit(kind).alias("input"), name(file_col).alias("file"), pl.col("_row").alias("row"),
        pl.format("duplicate of {} row {} (every column equal)", name(f"_first{file_col}"), pl.col("_first_row"))
        .alias("reason"),
        pl.struct(pl.col(cols).cast(pl.String)).struct.json_encode().str.slice(0, RAW_PREVIEW_CHARS).alias("raw"),
        pl.col(file_col).alias("_src"))
    keep = pl.repeat(True, frame.height, eager=True).scatter(dups["_i"], False)
    return frame.filter(keep), rejected
