"""Typed parsing of one input file's raw rows: every canonical column's value read once per row (timestamps,
numbers, booleans, ids, addresses, names, event kinds), the rows that cannot be read set aside with their reasons
(:func:`split_rows`), and the vocabularies that reading uses (boolean words, login-outcome event names, "no value"
words of ids, names and numbers).

:mod:`fraud.inputs` reads files into raw frames and calls :func:`split_rows`; the sliced scan (:mod:`fraud.shards`)
calls it on each raw slice.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl

from fraud.config import EVENT_CAMEL_CASE, EVENT_NAME_GAPS, Config, Outcomes
from fraud.exprs import (ACCOUNT_NO_VALUE_WORDS, NO_VALUE_WORDS, fmt, ip_address, is_missing, per_distinct,
                         placeholder_id, thousands, visible)
from fraud.records import EXTRA_HASH, INTERNAL, JSON_LITERAL, LINE_ERROR, LINE_TEXT, NESTED
from fraud.schema import (BOOL, EVENT_KINDS, FLOAT, INT, RAW_PREVIEW_CHARS, REJECTED_COLUMNS, TIMESTAMP,
                          InputSchema)
from fraud.timeparse import (EARLIEST, LATEST, dst_problem, naive_timestamp, parse_timestamp, plausible,
                             rfc3339_timestamp, timestamp_from_native)

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
                "auth_success", "log_in", "log_on", "logged_on")
OUTCOME_EVENT_NAMES = frozenset(FAILED_LOGIN_EVENTS + LOGIN_EVENTS)
# Identifier columns whose placeholder values (:func:`fraud.exprs.placeholder_id`) are read as missing: clients
# that cannot read a device id send "unknown" or all zeros, and thousands of devices would share that "id".
PLACEHOLDER_ID_COLUMNS = frozenset({"device_id"})
# device ids read in lower case: UUIDs and runs of 16+ hex digits (hex is case-free; other ids keep their case)
HEX_DEVICE_ID = r"^(?:[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}|[0-9A-Fa-f]{16,})$"
# Network address columns: read in one written form (:func:`fraud.exprs.ip_address`: no port, brackets, zone or
# IPv4-mapped prefix); placeholders, unspecified addresses and text that is no address are read as missing.
ADDRESS_COLUMNS = frozenset({"ip"})
# Account id columns: a "no value" word (``-``, ``NULL``, ``unknown`` ...) is missing (required: a rejected row).
NO_VALUE_ID_COLUMNS = frozenset({"user_id"})
IDENTIFIER_COLUMNS = PLACEHOLDER_ID_COLUMNS | ADDRESS_COLUMNS | NO_VALUE_ID_COLUMNS
# Digit-string ids that a number column (Parquet int64) writes without their leading zeros: read back to their
# fixed width. (NDJSON reads a JSON number as its text, so its lost zero cannot be told from a short id.)
DIGIT_ID_COLUMNS = {"imei": 15}
# Place-name columns: what GeoIP and analytics exports write for "not known" (``-``, ``Unknown``, ``(not set)``
# ...) names no place: read as missing, or "-" would be a city every user visits (outside their home city).
# ``NA`` stays a name (Namibia's code), and ``Nan`` (a Thai city); CLDR's ``ZZ`` and Cloudflare's ``XX`` name no
# country.
NAME_NO_VALUE_WORDS = (*(w for w in NO_VALUE_WORDS if w not in ("na", "nan")), "--", "?", "(not set)", "not set")
NO_VALUE_NAME_COLUMNS = {"city": NAME_NO_VALUE_WORDS, "registered_city": NAME_NO_VALUE_WORDS,
                         "country": (*NAME_NO_VALUE_WORDS, "xx", "zz"),
                         "registered_country": (*NAME_NO_VALUE_WORDS, "xx", "zz")}
# What a number column holds for "no value": NaN (pandas writes every missing float as NaN, in Parquet too) and
# the no-value words (``null``, ``NA``, ``-`` ...). Read as missing, like an empty cell: an optional number is then
# unknown (counted), a required one is a missing required value.
NUMBER_NO_VALUE_WORDS = NO_VALUE_WORDS


def event_keyword(t: pl.Expr) -> pl.Expr:
    """An event name as a keyword: CamelCase words apart (``PasswordChange``, ``bindCard``), lower case, runs of
    spaces and hyphens one underscore (``PASSWORD CHANGE``, ``bind-card``)."""
    return t.str.replace_all(EVENT_CAMEL_CASE, "${1}_${2}").str.to_lowercase().str.replace_all(EVENT_NAME_GAPS, "_")


def squashed_onto(t: pl.Expr, vocabulary: frozenset[str]) -> pl.Expr:
    """An event keyword that is no name of ``vocabulary`` but one of them without its underscores (CamelCase split
    where the name has none: ``PassWordChange`` read as ``pass_word_change``; ``ResetPassword`` against a config's
    ``resetpassword``) read as that name; others as they are. Names that collide so are taken in sort order."""
    if not vocabulary:
        return t
    onto: dict[str, str] = {}
    for name in sorted(vocabulary):
        onto.setdefault(name.replace("_", ""), name)
    return (pl.when(t.is_in(list(vocabulary))).then(t)
            .otherwise(t.str.replace_all("_", "", literal=True).replace_strict(
                list(onto), list(onto.values()), default=t, return_dtype=pl.String)))


def event_outcomes(event_names: dict[str, str] | None = None) -> tuple[list[str], list[str], dict[str, str]]:
    """The event names read as a failed login, as a login, and as another contract kind: the built-in outcome
    names (:data:`FAILED_LOGIN_EVENTS`, :data:`LOGIN_EVENTS`) and ``event_names``: the config's
    :meth:`fraud.config.Config.reader_events` (its ``[events]`` and the built-in synonyms; they win over a built-in
    name they list)."""
    names = event_names or {}
    failed = [n for n in FAILED_LOGIN_EVENTS if n not in names] + [n for n, k in names.items() if k == "failed_login"]
    ok = [n for n in LOGIN_EVENTS if n not in names] + [n for n, k in names.items() if k == "login"]
    return failed, ok, {n: k for n, k in names.items() if k not in ("login", "failed_login")}


def outcome_rows(events: dict[str, int], event_names: dict[str, str] | None = None) -> int:
    """Rows whose event name gave a login's outcome (:func:`event_outcomes`), from the event name counts."""
    failed, ok, _ = event_outcomes(event_names)
    outcome = {*failed, *ok}
    return sum(n for name, n in events.items() if name in outcome)


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


def whole_number(c: pl.Expr) -> pl.Expr:
    """A float that is a whole number an id can be written as (finite, below 2**53)."""
    return (c == c.round(0)) & (c.abs() < 2.0 ** 53)


def native_text(c: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """The trimmed text of a column of ``dtype`` as the parser reads it (a whole float without its fraction,
    NaN as no text): also the key that puts a user's rows in one slice of a sliced scan (:mod:`fraud.spool`)."""
    if dtype.is_float():
        return (pl.when(c.is_nan()).then(None).when(whole_number(c)).then(c.cast(pl.Int64).cast(pl.String))
                .otherwise(c.cast(pl.String)))
    return c.cast(pl.String).str.strip_chars()


# pandas writes an integer id column with gaps as float64, and ``to_csv`` (or ``to_json`` of it as text) writes
# every value as ``1001.0``: the id 1001 of the other inputs, as a Parquet float 1001.0 already reads. Read so only
# when every value of the column in the file that names something is written so (:func:`float_text_ids`): a
# single ``v1.0`` or ``1001.5`` among them keeps the column as written (genuine text ids).
TEXT_ID_COLUMNS = ("user_id", "device_id")  # also read in Unicode's composed form (:func:`nfc_text`)
FLOAT_TEXT_ID = r"^-?\d+\.0+$"
FLOAT_TEXT_SAMPLE_ROWS = 10_000


def nfc_text(t: pl.Expr) -> pl.Expr:
    """Text in Unicode's composed form (NFC) when it holds more than ASCII: ``josé`` typed as ``e`` and a combining
    accent (NFD: macOS file names, some exports) is the id ``josé`` of the other inputs, not a second account."""
    # more bytes than characters: not ASCII (a twentieth of the time of the regular expression [^\x00-\x7F])
    return pl.when(t.str.len_bytes() != t.str.len_chars()).then(t.str.normalize("NFC")).otherwise(t)


def float_id_text(t: pl.Expr) -> pl.Expr:
    """Trimmed id text ``1001.0`` (:data:`FLOAT_TEXT_ID`) as ``1001``; other text unchanged."""
    return t.str.replace(r"^(-?\d+)\.0+$", "${1}")


def float_text_ids(frame: pl.DataFrame | pl.LazyFrame) -> frozenset[str]:
    """The id columns (:data:`TEXT_ID_COLUMNS`) of one file's raw frame held as text in which every value
    that is not missing (blank, ``-``, ``NULL`` ...) is a whole number written with a fraction (``1001.0``, as
    pandas writes a float column), and at least one is; decided on the whole file (:func:`_file_columns`)."""
    types = frame.collect_schema()
    cols = [c for c in TEXT_ID_COLUMNS if c in types and types[c] == pl.String]

    def evidence(t: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
        # a value that names something and is no such number; one that is
        counted, match = ~is_missing(t, ACCOUNT_NO_VALUE_WORDS), t.str.contains(FLOAT_TEXT_ID)
        return counted & ~match, counted & match

    return _file_columns(frame, cols, evidence)


def _file_columns(frame: pl.DataFrame | pl.LazyFrame, cols: list[str],
                  evidence: Callable[[pl.Expr], tuple[pl.Expr, pl.Expr]]) -> frozenset[str]:
    """The text columns of ``cols`` of one file's raw frame with no value against a reading and some value for it
    (``evidence`` of a column's trimmed text: the rows against, the rows for). The first
    :data:`FLOAT_TEXT_SAMPLE_ROWS` rows are tested first, where one value against decides a column; the others are
    read whole (a lazy frame, a sliced scan's file, too): the answer is the whole file's."""
    def tally(f: pl.DataFrame | pl.LazyFrame, cols: list[str], sample: bool = False) -> list[str]:
        exprs = []
        for c in cols:
            against, for_ = evidence(pl.col(c).str.strip_chars())
            exprs += [against.fill_null(False).any().alias(f"against_{c}"),
                      for_.fill_null(False).any().alias(f"for_{c}")]
        row = f.select(exprs)
        row = (row.collect(engine="streaming") if isinstance(row, pl.LazyFrame) else row).row(0, named=True)
        # a sample without a value against leaves the column open: the whole file decides
        return [c for c in cols if not row[f"against_{c}"] and (sample or row[f"for_{c}"])]

    if cols and (isinstance(frame, pl.LazyFrame) or frame.height > FLOAT_TEXT_SAMPLE_ROWS):
        # (in memory too: a regular expression over a million ids took 0.3 s to learn what the first rows say)
        cols = tally(frame.head(FLOAT_TEXT_SAMPLE_ROWS), cols, sample=True)
    return frozenset(tally(frame, cols)) if cols else frozenset()


# A European-locale export (a ``;`` file from Excel or SAP) writes numbers with a decimal comma and ``.`` between
# groups of thousands: ``1.234,56``, ``12,5``, and ``12.000`` for twelve thousand, which a plain cast reads as 12.0.
# A number column held as text (coordinates aside: :func:`_coordinate_text` reads their decimal comma) is read so
# when some value of it in the file is written with a decimal comma and none with a decimal point that cannot be a
# group of thousands (``12.5``, ``1234.56``, ``0.25``): :func:`decimal_comma_columns`. Otherwise ``12.000`` stays
# 12.0 (a file without a comma value cannot tell), and a file mixing both keeps rejecting its comma values.
THOUSANDS_GROUPED = r"[1-9]\d{0,2}(?:\.\d{3})+"  # 1.234, 12.000, 1.234.567 (not 0.250: no thousands group)
DECIMAL_COMMA = rf"^[+-]?(?:{THOUSANDS_GROUPED}|\d+),\d+$"  # 1.234,56, 12,5
DECIMAL_POINT = r"^[+-]?(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?$"  # 12.5, 0.25, 1.5e3, and 12.000 (told apart below)
NO_DECIMAL_COMMA_COLUMNS = frozenset({"lat", "lon"})


def decimal_comma_number(t: pl.Expr) -> pl.Expr:
    """Trimmed number text of a decimal-comma column as a plain cast reads it: ``1.234,56`` as ``1234.56``,
    ``12.000`` as ``12000``, ``12,5`` as ``12.5``; other text unchanged."""
    return (pl.when(t.str.contains(rf"^[+-]?(?:{THOUSANDS_GROUPED}(?:,\d+)?|\d+,\d+)$"))
            .then(t.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True)).otherwise(t))


def decimal_comma_columns(frame: pl.DataFrame | pl.LazyFrame, schema: InputSchema) -> frozenset[str]:
    """The number columns of ``schema`` (not lat/lon) that one file's raw frame holds as text and writes with a
    decimal comma (:data:`DECIMAL_COMMA`, at least one value) and never with a decimal point that cannot be a group
    of thousands (:data:`DECIMAL_POINT` but not :data:`THOUSANDS_GROUPED`); decided on the whole file
    (:func:`_file_columns`)."""
    types = frame.collect_schema()
    cols = [c for c, k in schema.columns.items() if k in (FLOAT, INT) and c not in NO_DECIMAL_COMMA_COLUMNS
            and c in types and types[c] == pl.String]

    def evidence(t: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
        # a value with a decimal point (no group of thousands); one with a decimal comma
        point = t.str.contains(DECIMAL_POINT) & ~t.str.contains(rf"^[+-]?{THOUSANDS_GROUPED}$")
        return point, t.str.contains(DECIMAL_COMMA)

    return _file_columns(frame, cols, evidence)


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


def _has_control(text: pl.Expr, nested: bool) -> pl.Expr:
    """An id holding a control character (NUL, ESC, a tab or line break inside it): rejected. ``u1`` and ``u<NUL>1``
    would be two accounts that look the same everywhere, and the second cannot be typed on a command line. (A device
    id's invisible characters are dropped before: :func:`fraud.exprs.visible`. With ``nested``, a nested JSON value's
    mark is not one: that value has its own reason.)"""
    bad = text.str.contains(r"[\x00-\x1f\x7f]")
    return bad & ~text.str.starts_with(NESTED) if nested else bad


def _control_reason(name: str, shown: pl.Expr) -> pl.Expr:
    return fmt(f"{name} holds a control character (U+0000-U+001F, U+007F): {{}}", shown)


ACCOUNT_ID_PARTS = pl.Struct({"missing": pl.Boolean, "not_utf8": pl.Boolean, "control": pl.Boolean})


def _account_id_parts(text: pl.Expr, nested: bool) -> pl.Expr:
    """What an account id's trimmed text says (:data:`ACCOUNT_ID_PARTS`): ``missing``, a "no value" word (``-``,
    ``NULL``, ``unknown``: no account, never one pooled user); ``not_utf8``, it holds U+FFFD, bytes that were no UTF-8
    (a Latin-1 export: "jürgen" and "jörgen" would both be "j�rgen", one account; rejected, never merged);
    ``control``, it holds a control character (:func:`_has_control`)."""
    return pl.struct(missing=is_missing(text, ACCOUNT_NO_VALUE_WORDS),
                     not_utf8=text.str.contains("\ufffd", literal=True), control=_has_control(text, nested))


DEVICE_ID_PARTS = pl.Struct({"id": pl.String, "named": pl.Boolean, "control": pl.Boolean})


def _device_id_parts(text: pl.Expr, nested: bool) -> pl.Expr:
    """A device id's trimmed text read as the id it names (:data:`DEVICE_ID_PARTS`): ``id``, without its invisible
    characters (:func:`fraud.exprs.visible`: d1 and d<U+200B>1 are one device; a farm padding its id with
    zero-width characters was 6 devices to device.shared), a hex id (a UUID such as iOS's identifierForVendor, a
    16-digit ANDROID_ID) in lower case (iOS writes it upper-case, many backends lower-case: one phone was two
    devices); ``named``, false for a placeholder (:func:`fraud.exprs.placeholder_id`: "unknown", all zeros);
    ``control``, whether it holds a control character (:func:`_has_control`)."""
    t = visible(text)
    return pl.struct(id=pl.when(t.str.contains(HEX_DEVICE_ID)).then(t.str.to_lowercase()).otherwise(t),
                     named=~placeholder_id(t), control=_has_control(t, nested))


def _native_id_checks(col: str, dtype: pl.DataType, shown: pl.Expr, name: str) -> list[tuple[pl.Expr, pl.Expr]]:
    """An account or device id column typed by its file (Parquet, NDJSON) that holds true/false, or an infinite
    float (JSON's ``1e400``): no id. They read as the accounts ``true`` and ``inf``; rejected instead."""
    if dtype == pl.Boolean:
        return [(pl.col(col).is_not_null(), fmt(f"{name} is true/false, not an id: {{}}", shown))]
    if dtype.is_float():
        return [(pl.col(col).is_infinite().fill_null(False), fmt(f"{name} is an infinite number, not an id: {{}}",
                                                                   shown))]
    return []


def column_name(col: str, headers: dict[str, str] | None) -> str:
    """A canonical column as a rejection reason names it: with the file's own header when the file calls it
    otherwise (a ``[columns]`` mapping, ``Login Time`` for ``ts``), ``login_time (ts)``, so the analyst finds it in
    the file. (``{}`` would be a placeholder to :func:`fraud.exprs.fmt`.)"""
    header = (headers or {}).get(col)
    return col if header is None or header == col else f"{header} ({col})".replace("{}", "{ }")


def _parse(df: pl.DataFrame, schema: InputSchema, tz: str, nested: bool = False,
           ts_formats: tuple[str, ...] = (), headers: dict[str, str] | None = None,
           event_vocab: frozenset[str] = frozenset(), float_ids: frozenset[str] = frozenset(),
           decimal_comma: frozenset[str] = frozenset(), outcomes: Outcomes | None = None
           ) -> tuple[list[pl.Expr], list[pl.Expr], list[pl.Expr], list[pl.Expr], list[tuple[pl.Expr, pl.Expr]],
                      list[str], dict[str, pl.Expr], dict[str, pl.Expr]]:
    """The parsing steps of one raw frame, each a list of expressions evaluated together: the trimmed text of
    each text column (``__t_<col>``), the per-row pieces that the values, checks and placeholder counts all read
    (a number's cast, a "no value" marker: ``__x_<col>_<piece>``, computed once instead of in each), the parsed
    value per canonical column (``__v_<col>``), the range masks applied to parsed values, the (is-bad, reason)
    checks written on them, and the string timestamp columns that need the slow parser for what the fast one left
    null; last, per optional identifier column, which rows had a placeholder value read as missing. ``nested``:
    the frame comes from NDJSON, whose readers mark a nested value's text (:data:`fraud.records.NESTED`).
    ``headers``: the file's own header of each renamed canonical column (:func:`column_name`); ``float_ids``: the
    id columns whose ``1001.0`` reads as ``1001`` (:func:`float_text_ids`); ``decimal_comma``: the number columns
    whose ``1.234,56`` reads as 1234.56 and ``12.000`` as 12000 (:func:`decimal_comma_columns`)."""
    def trimmed(c: str) -> pl.Expr:
        t = (pl.col(c).str.strip_prefix(JSON_LITERAL) if nested else pl.col(c)).str.strip_chars()
        t = nfc_text(t) if c in TEXT_ID_COLUMNS else t
        return float_id_text(t) if c in float_ids else t

    texts = [trimmed(c).alias(f"__t_{c}") for c in schema.columns if c in df.columns and df.schema[c] == pl.String]
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
        name = column_name(col, headers)
        if col not in df.columns:
            values.append(pl.lit(schema.defaults.get(col), dtype=schema.polars_schema()[col]).alias(f"__v_{col}"))
            continue
        dtype = df.schema[col]
        raw = pl.col(col)
        text = _text(df, col)
        # the value as read; a native one the text leaves null (NaN) as its own text, so no reason reads blank
        shown = pl.coalesce(text.str.strip_prefix(NESTED) if nested else text,
                            *([] if dtype == pl.String else [raw.cast(pl.String)])).str.slice(0, SHOWN_CHARS)
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
            # a time that reads but lies outside [1990, 2100): said so (a 1965 archive read as "bad timestamp")
            outside = (parse_timestamp(text, tz, ts_formats, bounded=False) if dtype == pl.String else
                       raw.cast(pl.Datetime("us"), strict=False) if isinstance(dtype, pl.Datetime) else
                       pl.lit(None, pl.Datetime("us"))).is_not_null()
            checks.append((present & vref.is_null(), pl.when(dst.is_not_null()).then(
                fmt(f"local time {{}} in column {name} is {{}} by a daylight-saving change in {tz} (give an offset)",
                    shown, dst)).when(numeric_date).then(fmt(f"bad timestamp in column {name}: {{}}{hint}", shown))
                .when(outside).then(fmt(f"timestamp outside {EARLIEST.year}-{LATEST.year - 1} in column {name}: {{}}",
                                        shown))
                .otherwise(fmt(f"bad timestamp in column {name}: {{}}", shown))))
        elif kind in (FLOAT, INT):
            present = _present(df, col, nan_is_value=True)  # NaN: a "no value" marker, counted below
            number = decimal_comma_number(text) if col in decimal_comma else text
            f = raw.cast(pl.Float64, strict=False) if dtype != pl.String else number.cast(pl.Float64, strict=False)
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
            checks.append((bad, fmt(f"bad {word} in column {name}: {{}}", shown)))
            v = pl.when(bad | marker).then(None).otherwise(f)
            v = v.cast(pl.Int64, strict=False) if kind == INT else v
            if col in schema.ranges:
                lo, hi = schema.ranges[col]
                message = fmt(f"{name} out of range {lo:g}..{hi:g}: {{}}", vref)
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
                # "NULL", "N/A", "unknown" in a flag (an SSMS export's NULL success of every payment): no value,
                # counted, as in a number column; the row is kept
                marker = once(present & low.is_in(NO_VALUE_WORDS).fill_null(False), f"__x_{col}_m")
                if col not in schema.required:
                    placeholders[col] = marker
                present = present & ~marker
                v = pl.when(low.is_in(TRUE_WORDS)).then(True).when(low.is_in(FALSE_WORDS)).then(False) \
                    .otherwise(None)
                if col == "success" and outcomes:
                    # [outcomes]: the export's own values over the built-in words, and what every other one means
                    other = {"success": True, "failure": False}.get(outcomes.other)
                    v = (pl.when(~present).then(None).when(low.is_in(list(outcomes.success))).then(True)
                         .when(low.is_in(list(outcomes.failure))).then(False)
                         .otherwise(v.fill_null(pl.lit(other, pl.Boolean))))
                checks.append((present & vref.is_null(), fmt(f"bad boolean in column {name}: {{}}", shown)))
        elif col in KEYWORD_COLUMNS:  # "Login", "PASSWORD CHANGE", "bind-card" name the contract's event kinds
            # once per distinct value: a handful of event kinds over millions of rows
            v = pl.when(present).then(per_distinct(
                text, lambda t: squashed_onto(event_keyword(t), event_vocab), pl.String)).otherwise(None)
        elif col in PLACEHOLDER_ID_COLUMNS:  # a placeholder ("unknown", all zeros) names no device: missing
            # read once per distinct id (a few per user over millions of rows; row by row, 0.5 s per 1M rows)
            parts = once(per_distinct(text, lambda t: _device_id_parts(t, nested), DEVICE_ID_PARTS),
                         f"__x_{col}_p")
            named = parts.struct.field("named").fill_null(False)
            v = pl.when(present & named).then(parts.struct.field("id")).otherwise(None)
            checks.append((present & named & parts.struct.field("control"), _control_reason(name, shown)))
            if col in schema.required:
                checks.append((present & ~named, fmt(f"placeholder {name} (names no device): {{}}", shown)))
            else:
                placeholders[col] = present & ~named
        elif col in ADDRESS_COLUMNS:
            v = pl.when(present).then(ip_address(text)).otherwise(None)
            placeholders[col] = present & vref.is_null()  # read after the values: the address is parsed once
        else:  # STRING
            if col in NO_VALUE_ID_COLUMNS:  # "-", "NULL", "unknown" name no account: missing, never one pooled user
                # once per distinct account (tens of rows each)
                parts = once(per_distinct(text, lambda t: _account_id_parts(t, nested), ACCOUNT_ID_PARTS),
                             f"__x_{col}_p")
                marker = present & parts.struct.field("missing").fill_null(False)
                if col not in schema.required:
                    placeholders[col] = marker
                present = present & ~marker
                checks.append((present & parts.struct.field("not_utf8"),
                               fmt(f"{name} is not UTF-8 text (re-encode the file as UTF-8): {{}}", shown)))
                checks.append((present & parts.struct.field("control"), _control_reason(name, shown)))
            elif col in NO_VALUE_NAME_COLUMNS:  # "-", "Unknown", "(not set)" name no place: missing, counted
                words = list(NO_VALUE_NAME_COLUMNS[col])
                marker = once(present & per_distinct(text, lambda t, w=words: t.str.to_lowercase().is_in(w),
                                                     pl.Boolean).fill_null(False), f"__x_{col}_m")
                placeholders[col] = marker
                present = present & ~marker
            if col in DIGIT_ID_COLUMNS and dtype != pl.String:
                # a number column drops an id's leading zeros: an IMEI has 15 digits (01 is the TAC prefix of
                # US-certified phones), and the text 013456789012349 elsewhere is the same IMEI
                text = text.str.zfill(DIGIT_ID_COLUMNS[col])
            v = pl.when(present).then(text).otherwise(None)
        if col in NO_VALUE_ID_COLUMNS | PLACEHOLDER_ID_COLUMNS:
            checks.extend(_native_id_checks(col, dtype, shown, name))
            if nested and dtype == pl.String:  # a JSON true/false or NaN/Infinity among the column's strings
                checks.append((raw.str.starts_with(JSON_LITERAL).fill_null(False),
                               fmt(f"{name} is a JSON true/false or non-finite number, not an id: {{}}", shown)))
        if nested and dtype == pl.String and kind not in (TIMESTAMP, FLOAT, INT, BOOL):  # those: "bad number" ...
            # an object or a list where text belongs (NDJSON, see fraud.records.NESTED): no id, name or agent
            checks.append((_tref(col).str.starts_with(NESTED).fill_null(False),
                           fmt(f"nested JSON value (object or list) in column {name}: {{}}", shown)))
        if col in schema.required:
            checks.append((~present, pl.lit(f"missing required value {name}")))
        given[col] = present
        values.append(v.alias(f"__v_{col}"))
    if "lat" in schema.columns and "lon" in schema.columns and "lat" in df.columns and "lon" in df.columns:
        lat, lon = column_name("lat", headers), column_name("lon", headers)
        checks.append((given["lat"] != given["lon"], pl.lit(
            "only one of lat/lon given" if (lat, lon) == ("lat", "lon") else f"only one of {lat}/{lon} given")))
    return texts, pre, values, masks, checks, slow_ts, placeholders, given


SHOWN_CHARS = 40  # a rejected value quoted in its reason is cut to this many characters
MAX_VALUE_BYTES = 1 << 16  # a log value longer than 64 KiB is no value (the longest user agents are ~1-2 KB)


def _preview(raw: pl.DataFrame, cols: list[str], nested: bool, headers: dict[str, str] | None = None) -> pl.Expr:
    """A rejected row's ``raw`` cell: the record's line when the reader kept it, else its fields as a JSON object
    keyed by the file's own headers, cut to :data:`RAW_PREVIEW_CHARS`. Each value is cut to that length first: the
    preview is the same, and a 200 MB field is not JSON-escaped whole (6 bytes a NUL)."""
    headers = headers or {}
    as_text = [pl.col(c).cast(pl.String).str.slice(0, RAW_PREVIEW_CHARS).alias(headers.get(c, c)) for c in cols]
    if nested:  # the raw value without the nested or literal mark
        as_text = [t.str.strip_prefix(NESTED).str.strip_prefix(JSON_LITERAL) for t in as_text]
    return pl.coalesce(*([pl.col(LINE_TEXT)] if LINE_TEXT in raw.columns else []),
                       pl.struct(as_text).struct.json_encode()).str.slice(0, RAW_PREVIEW_CHARS)


def _split_too_long(raw: pl.DataFrame, schema: InputSchema, cols: list[str], path: Path, kind: str, nested: bool,
                    headers: dict[str, str] | None = None) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Rows with a canonical text value over :data:`MAX_VALUE_BYTES` set aside as rejected before any parsing:
    every parsing step copies its values (trims, normalising regexes), so a 200 MB field (a 200 KB gzip of NUL
    bytes) took 35x its size in memory."""
    text_cols = [c for c in cols if c in schema.columns and raw.schema[c] == pl.String]
    if not text_cols:
        return raw, None
    long = {c: pl.col(c).str.len_bytes() > MAX_VALUE_BYTES for c in text_cols}
    mask = pl.any_horizontal([e.fill_null(False) for e in long.values()])
    if not raw.select(mask.any()).item():
        return raw, None
    over = raw.filter(mask)
    reason = pl.concat_str([pl.when(e).then(pl.format(f"value in column {column_name(c, headers)} is {{}} bytes long "
                                                      f"(more than {MAX_VALUE_BYTES:,}: no log value)",
                                                      thousands(pl.col(c).str.len_bytes())))
                            for c, e in long.items()], separator="; ", ignore_nulls=True)
    bad = over.select(pl.lit(kind).alias("input"), pl.lit(str(path)).alias("file"),
                      pl.col("_row").cast(pl.Int64).alias("row"), reason.alias("reason"),
                      _preview(over, cols, nested, headers).alias("raw"))
    return raw.filter(~mask), bad


def split_rows(raw: pl.DataFrame, schema: InputSchema, cfg: Config, path: Path, kind: str, nested: bool,
               headers: dict[str, str] | None = None, float_ids: frozenset[str] = frozenset(),
               decimal_comma: frozenset[str] = frozenset()
           ) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, int], dict[str, int], frozenset[str]]:
    """Parse one file's raw frame: (valid typed rows with ``_file``/``_row``, rejected rows with reasons, per
    identifier column the valid rows whose placeholder value was read as missing, rows per event name, and the
    canonical columns with a value in some valid row: a column whose every cell is blank gives nothing, as a
    missing column does). ``cfg`` gives the reading's settings: its ``timezone``, event names
    (:meth:`Config.reader_events`, :func:`event_outcomes`), ``timestamp_formats`` and ``[outcomes]``. Per file:
    ``headers``, the file's own header of each canonical column it names otherwise (reasons and ``raw`` use them);
    ``float_ids``, the id columns whose every value the file writes as ``1001.0`` (:func:`float_text_ids`, decided
    on the whole file: a sliced scan's slice holds part of it); ``decimal_comma``, the number columns the file
    writes with a decimal comma (:func:`decimal_comma_columns`, decided on the whole file too).

    Values are parsed once; timestamps in other notations than the common ISO form, and the reason strings,
    are computed only for the rows that need them."""
    # Categorical and Enum columns (Parquet from pandas or Arrow dictionaries) are read as the text they hold
    coded = [c for c, t in raw.schema.items() if isinstance(t, (pl.Categorical, pl.Enum))]
    if coded:
        raw = raw.with_columns(pl.col(coded).cast(pl.String))
    # a partitioned scan (and a record-by-record reader) brings each row's number along
    raw = raw if "_row" in raw.columns else raw.with_row_index("_row", offset=1)
    cols = [c for c in raw.columns if c not in INTERNAL]
    raw, too_long = _split_too_long(raw, schema, cols, path, kind, nested, headers)
    tz, ts_formats = cfg.timezone, cfg.timestamp_formats
    failed_names, ok_names, kinds = event_outcomes(cfg.reader_events())
    vocab = frozenset({*EVENT_KINDS, *failed_names, *ok_names, *kinds, *kinds.values()})
    texts, pre, values, masks, checks, slow_ts, placeholders, given = _parse(raw, schema, tz, nested, ts_formats,
                                                                             headers, vocab, float_ids,
                                                                             decimal_comma, cfg.outcomes)
    if LINE_ERROR in raw.columns:  # a record that could not be split into fields: that is its only reason
        checks = [(pl.col(LINE_ERROR).is_not_null(), pl.col(LINE_ERROR))] + [
            (pl.col(LINE_ERROR).is_null() & b, m) for b, m in checks]
    df = raw.with_columns(pl.col("_row").cast(pl.Int64), *texts)
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
        # (failed_names, ok_names, kinds: the event outcomes computed above)
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
    # no rejected row (most files and slices): the reasons' plan is not built (18 ms a call, on no rows)
    bad = (bad_rows.select(pl.lit(kind).alias("input"), pl.lit(str(path)).alias("file"), pl.col("_row").alias("row"),
                           reason.alias("reason"), _preview(raw, cols, nested, headers).alias("raw"))
           if bad_rows.height else pl.DataFrame(schema=REJECTED_COLUMNS))
    if too_long is not None:
        bad = pl.concat([bad, too_long]).sort("row")
    valued = (df.select([(e & ~pl.col("_bad")).any().alias(c) for c, e in given.items()]).row(0, named=True)
              if given else {})
    return good, bad, {c: int(n) for c, n in found.items()}, events, frozenset(c for c, v in valued.items() if v)
