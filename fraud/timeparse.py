"""Timestamp parsing as Polars expressions: ISO 8601 with or without offset, epoch s/ms/us/ns (detected), the
month-name notations of mail and web-server logs (RFC 2822, Common Log Format), and a config's own formats."""
from __future__ import annotations

from datetime import datetime, timezone

import polars as pl

# Timestamps outside this range are rejected as implausible (never clamped).
EARLIEST = datetime(1990, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2100, 1, 1, tzinfo=timezone.utc)

# a decimal number, or one in exponent form (a spreadsheet writes epoch milliseconds as 1.709280000123E12)
_NUMERIC = r"^[+-]?\d+(\.\d+)?([eE][+-]?\d+)?$"


def _epoch(v: pl.Expr, whole: pl.Expr | None = None) -> pl.Expr:
    """Epoch number -> UTC datetime; the unit is detected from the magnitude (s < 1e11 <= ms < 1e14 <= us < 1e17
    <= ns < 1e20: Go, Loki and ClickHouse write nanoseconds). ``whole``: the same value as an integer, when it is
    one, so nanoseconds are divided exactly (a float holds 1.7e18 only to 256 ns)."""
    a = v.abs()
    ns = (whole // 1000).cast(pl.Float64) if whole is not None else v / 1e3
    micros = (pl.when(a < 1e11).then(v * 1e6).when(a < 1e14).then(v * 1e3).when(a < 1e17).then(v)
              .when(a < 1e20).then(pl.coalesce(ns, v / 1e3)).otherwise(None))
    return micros.round(0).cast(pl.Int64, strict=False).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def rfc3339_timestamp(raw: pl.Expr, time_unit: str = "us") -> pl.Expr:
    """The common case only: RFC 3339 date-times with an offset or ``Z`` (null otherwise), not range-checked
    (apply :func:`plausible` to the result). About five times faster than :func:`parse_timestamp`; callers
    parse the values this leaves null with the full parser."""
    return raw.cast(pl.String).str.to_datetime("%+", time_zone="UTC", strict=False, time_unit=time_unit)


def naive_timestamp(raw: pl.Expr, tz: str) -> pl.Expr:
    """The second common case: a local date-time without offset (``2020-02-03 12:43:30.772``, ``T`` or a space,
    seconds required) in ``tz``, as UTC, range-checked; null for anything else and for a wall-clock time a
    daylight-saving change repeats or skips. Exactly what :func:`parse_timestamp` gives such text, at a
    fraction of its cost (no normalising regexes); callers parse what it leaves null with the full parser."""
    s = raw.cast(pl.String).str.strip_chars()
    naive = pl.coalesce(s.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=False, time_unit="us"),
                        s.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us"))
    return plausible(naive.dt.replace_time_zone(tz, ambiguous="null", non_existent="null")
                     .dt.convert_time_zone("UTC"))


def plausible(ts: pl.Expr) -> pl.Expr:
    """``ts`` where it lies in [1990, 2100), else null."""
    return pl.when(ts.is_between(pl.lit(EARLIEST), pl.lit(LATEST), closed="left")).then(ts).otherwise(None)


def fast_timestamp(raw: pl.Expr) -> pl.Expr:
    """:func:`rfc3339_timestamp` with the plausibility range applied."""
    return plausible(rfc3339_timestamp(raw))


def parse_timestamp(raw: pl.Expr, tz: str, formats: tuple[str, ...] | list[str] = (), bounded: bool = True
                    ) -> pl.Expr:
    """Parse a string column of timestamps into ``Datetime("us", "UTC")``; unparseable values become null.

    Accepts ISO 8601 date-times with ``T`` or a space, optional fractional seconds, an offset (``Z``,
    ``+08:00``, ``+0800``, ``+08``, a trailing ``UTC``/``GMT``) or none (then the value is local time in ``tz``),
    a bare date (midnight in ``tz``), integer or decimal epoch seconds, milliseconds, microseconds or nanoseconds
    (also in exponent form), and the month-name forms of :func:`month_name_timestamp`. ``formats``: the config's
    ``timestamp_formats`` (chrono/strftime patterns such as ``%m/%d/%Y %H:%M``), tried first, in order, for
    notations no parser can read unaided (a day/month order); one with ``%z`` reads the offset, one without
    reads local time in ``tz``. ``bounded=False`` keeps a time outside [1990, 2100) (:func:`plausible`).
    """
    s = raw.cast(pl.String).str.strip_chars()
    iso = _iso_text(s)
    # an ISO date-time with an offset (anchored on the date: the T of "Tue"/"Thu" in an RFC 2822 date is none)
    has_offset = iso.str.contains(r"^\d{4}-\d{2}-\d{2}T.*[+-]\d{2}:\d{2}$")
    aware = iso.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", time_zone="UTC", strict=False, time_unit="us")
    # A local time repeated or skipped by a daylight-saving change is null (rejected, see dst_problem): taking
    # either reading silently can put two fixes an hour apart at the same instant.
    local = _local(_naive(iso), tz)
    numeric = _epoch(s.cast(pl.Float64, strict=False), s.cast(pl.Int64, strict=False))
    out = (pl.when(s.str.contains(_NUMERIC)).then(numeric)
           .when(has_offset).then(aware)
           .otherwise(pl.coalesce(local, month_name_timestamp(s, tz))))
    if formats:
        out = pl.coalesce(*[custom_timestamp(s, f, tz) for f in formats], out)
    return plausible(out) if bounded else out  # unbounded: to say why a value outside the range is rejected


def _local(naive: pl.Expr, tz: str) -> pl.Expr:
    return naive.dt.replace_time_zone(tz, ambiguous="null", non_existent="null").dt.convert_time_zone("UTC")


def _reads_offset(fmt: str) -> bool:
    """Whether a chrono/strftime pattern reads a UTC offset (``%z``, ``%:z``, ``%#z``)."""
    return any(z in fmt for z in ("%z", "%:z", "%#z"))


def custom_timestamp(s: pl.Expr, fmt: str, tz: str) -> pl.Expr:
    """``s`` read with one chrono/strftime pattern (null where it does not match): with ``%z``/``%:z`` an
    aware time, else local time in ``tz``."""
    if _reads_offset(fmt):
        return s.str.to_datetime(fmt, time_zone="UTC", strict=False, time_unit="us")
    return _local(s.str.to_datetime(fmt, strict=False, time_unit="us"), tz)


# Month-name notations, rewritten to "23 Nov 2026 14:02:03 +0000" (offset optional) before one parse:
# RFC 2822 / HTTP dates ("Mon, 23 Nov 2026 14:02:03 GMT", seconds optional) and the Common Log Format of nginx
# and Apache ("[23/Nov/2026:14:02:03 +0000]").
_WEEKDAY = r"^[A-Za-z]{3,9},?\s+(\d)"
_ZONE_WORD = r"\s+(?:GMT|UTC|UT|Z)$"
_CLF = r"^\[?(\d{1,2})/([A-Za-z]{3,9})/(\d{4}):(\d{2}:\d{2}:\d{2})(?:\s*([+-]\d{4}))?\]?$"
_NO_SECONDS = r"^(\d{1,2} [A-Za-z]{3,9} \d{4} \d{2}:\d{2})(\s|$)"
# C's asctime / ctime (``Tue Jan  2 10:00:00 2024``: Python's time.ctime(), many daemons' logs) and Java's
# Date.toString() with a zone word that names UTC (``Tue Jan 02 10:00:00 UTC 2024``; CST, EST ... name more than one
# zone and stay unread)
_ASCTIME = r"^(?:[A-Za-z]{3,9},?\s+)?([A-Za-z]{3,9})\s+(\d{1,2})\s+(\d{2}:\d{2}:\d{2})\s+(?:(GMT|UTC|UT|Z)\s+)?(\d{4})$"


def month_name_timestamp(s: pl.Expr, tz: str) -> pl.Expr:
    """RFC 2822, Common Log Format and asctime timestamps (English month names, abbreviated or whole): with an
    offset or ``GMT``/``UTC`` read as given, without one as local time in ``tz``; null for anything else."""
    t = _month_name_text(s)
    parts = [t.str.to_datetime(f"%d {m} %Y %H:%M:%S %z", time_zone="UTC", strict=False, time_unit="us")
             for m in ("%b", "%B")]
    return pl.when(t.str.contains(_MONTH_NAME_DATE)).then(pl.coalesce(*parts, _local(_month_name_naive(t), tz)))


_MONTH_NAME_DATE = r"^\d{1,2} [A-Za-z]{3,9} \d{4} "


def _month_name_text(s: pl.Expr) -> pl.Expr:
    """RFC 2822 / CLF text as ``4 Mar 2024 10:00:00[ +0100]`` (no weekday, brackets or zone word)."""
    return (s.str.replace(_ASCTIME, "${2} ${1} ${5} ${3} ${4}").str.replace(_CLF, "${1} ${2} ${3} ${4} ${5}")
            .str.replace(_WEEKDAY, "${1}").str.strip_chars()
            .str.replace(_ZONE_WORD, " +0000").str.replace(_NO_SECONDS, "${1}:00${2}").str.strip_chars())


def _month_name_naive(t: pl.Expr) -> pl.Expr:
    """The wall-clock time of :func:`_month_name_text` text without an offset (null with one)."""
    return pl.coalesce([t.str.to_datetime(f"%d {m} %Y %H:%M:%S", strict=False, time_unit="us") for m in ("%b", "%B")])


def _naive(iso: pl.Expr) -> pl.Expr:
    return pl.coalesce(iso.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us"),
                       iso.str.to_datetime("%Y-%m-%d", strict=False, time_unit="us"))


def dst_problem(raw: pl.Expr, tz: str, formats: tuple[str, ...] | list[str] = ()) -> pl.Expr:
    """For text that is a valid local time without offset (ISO, RFC 2822 or a web server log's, or one of the
    config's ``formats`` without an offset): ``"repeated"`` when ``tz`` passes that wall-clock time twice (the
    hour a daylight-saving change repeats), ``"skipped"`` when it never shows it; else null. Used to word the
    reason of a rejected timestamp."""
    s = raw.cast(pl.String).str.strip_chars()
    local_formats = [f for f in formats if not _reads_offset(f)]
    month_named = _month_name_text(s)  # RFC 2822 and web-server log times without an offset (month_name_timestamp)
    naive = pl.coalesce(_naive(_iso_text(s)), *[s.str.to_datetime(f, strict=False, time_unit="us")
                                                 for f in local_formats],
                        pl.when(month_named.str.contains(_MONTH_NAME_DATE)).then(_month_name_naive(month_named)))
    early = naive.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
    strict = naive.dt.replace_time_zone(tz, ambiguous="null", non_existent="null")
    return (pl.when(naive.is_not_null() & early.is_null()).then(pl.lit("skipped"))
            .when(early.is_not_null() & strict.is_null()).then(pl.lit("repeated")))


# ISO 8601's other decimal sign: a comma before the fraction of the seconds (Python logging's asctime
# "2024-03-04 10:00:00,123", log4j's ISO8601 layout), only right after a whole date and time with seconds
_COMMA_FRACTION = r"^(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}),(\d+)"


def _iso_text(s: pl.Expr) -> pl.Expr:
    """Timestamp text normalised towards RFC 3339 (``T``, ``Z`` -> ``+00:00``, ``+0800``/``+08`` -> ``+08:00``, a
    decimal comma after the seconds -> ``.``, the zone name Java's ``ZonedDateTime`` writes after the offset off:
    ``2024-03-04T10:00+08:00[Asia/Shanghai]``, whose offset says the instant)."""
    return (s.str.replace(_COMMA_FRACTION, "${1}.${2}")
           .str.replace(r"([Zz]|[+-]\d{2}(?::?\d{2})?)\[[A-Za-z][A-Za-z0-9_/+\-]*\]$", "${1}")
           .str.replace(r"^(\d{4}-\d{2}-\d{2})[ T]", "${1}T")
           .str.replace(r"\s*(?:[Zz]|UTC|GMT)$", "+00:00")
           .str.replace(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*([+-]\d{2})(\d{2})$", "${1}${2}:${3}")
           .str.replace(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*([+-]\d{2})$", "${1}${2}:00")
           .str.replace(r"T(\d{2}:\d{2})([+-]|$)", "T${1}:00${2}"))


def timestamp_from_native(col: pl.Expr, dtype: pl.DataType, tz: str) -> pl.Expr:
    """A non-string timestamp column (Parquet datetime, integer epoch, date) -> UTC datetime."""
    if isinstance(dtype, pl.Datetime):
        out = col.dt.cast_time_unit("us")
        out = out.dt.convert_time_zone("UTC") if dtype.time_zone else out.dt.replace_time_zone(
            tz, ambiguous="null", non_existent="null").dt.convert_time_zone("UTC")
    elif dtype == pl.Date:
        out = col.cast(pl.Datetime("us")).dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null") \
            .dt.convert_time_zone("UTC")
    elif dtype.is_integer():
        out = _epoch(col.cast(pl.Float64), col.cast(pl.Int64, strict=False))
    elif dtype.is_numeric():
        out = _epoch(col.cast(pl.Float64))
    else:
        return parse_timestamp(col.cast(pl.String), tz)
    return plausible(out)
