"""Small expression helpers shared by the checks."""
from __future__ import annotations

from collections.abc import Callable

import ipaddress

import polars as pl

# What logs write for "no value" in a text field (compared trimmed and lower-cased): besides the words, the NULL
# marker of MySQL/PostgreSQL/Hive/ClickHouse text exports (``\N``), Objective-C's and C's printed nil
# (``(null)``), NSNull's (``<null>``), pandas' missing value written as text (``nan``) and Excel's ``#N/A``.
NO_VALUE_WORDS = ("", "-", "null", "none", "nil", "undefined", "unknown", "n/a", "na", "\\n", "(null)", "<null>",
                  "nan", "#n/a")


def fmt(template: str, *args: pl.Expr | str | int | float) -> pl.Expr:
    """Like ``pl.format`` (``{}`` placeholders; ``str`` arguments name columns), built on ``concat_str``.

    ``pl.format`` panics in Polars 2.1's streaming engine on multi-chunk string columns after a filter (e.g.
    straight from a CSV read), so the toolkit formats with this instead. A null argument gives a null result.
    """
    pieces = template.split("{}")
    if len(pieces) != len(args) + 1:
        raise ValueError(f"template {template!r} needs {len(pieces) - 1} arguments, got {len(args)}")
    exprs: list[pl.Expr] = [pl.lit(pieces[0])]
    for arg, piece in zip(args, pieces[1:]):
        if isinstance(arg, pl.Expr):
            e = arg
        else:
            e = pl.col(arg) if isinstance(arg, str) else pl.lit(f"{arg:g}" if isinstance(arg, float) else str(arg))
        exprs += [e.cast(pl.String), pl.lit(piece)]
    return pl.concat_str(exprs)


def round_up(e: pl.Expr, decimals: int = 2) -> pl.Expr:
    """``e`` rounded towards +inf to ``decimals``: a value shown beside the threshold it passed never reads as
    equal to it (a deviation of 0.1501 > 0.15 shows as 0.16, not 0.15). The 1e-9 keeps a value already on the
    grid where it is (the engine's 0.16 * 100 is 16.000000000000004)."""
    f = 10 ** decimals
    return _no_negative_zero(((e * f - 1e-9).ceil() / f).round(decimals))


def round_down(e: pl.Expr, decimals: int = 2) -> pl.Expr:
    """``e`` rounded towards -inf to ``decimals`` (a threshold shown below the value that passed it)."""
    f = 10 ** decimals
    return _no_negative_zero(((e * f + 1e-9).floor() / f).round(decimals))


def shown_above(e: pl.Expr, limit: float, decimals: int = 2, extra: int = 3) -> pl.Expr:
    """``e`` (a value that passed ``limit``) rounded to the fewest decimals, from ``decimals`` up to
    ``decimals + extra``, at which it still reads above ``limit``: a deviation of 0.162 over 0.15 shows as 0.16
    (rounding up said 0.17), one of 0.1501 as 0.1501, a speed of 900.09 km/h over 900 as 900.1 (not 900); past
    those decimals, rounded up (:func:`round_up`)."""
    return _fewest_decimals(e, limit, decimals, extra, above=True, show=lambda v, d: v.round(d))


def shown_below(e: pl.Expr, limit: float, decimals: int = 2, extra: int = 3) -> pl.Expr:
    """:func:`shown_above`'s twin for a value that fell below ``limit``: a home share of 0.7996 under 0.8 shows
    as 0.7996, not 0.8; past the extra decimals, rounded down (:func:`round_down`)."""
    return _fewest_decimals(e, limit, decimals, extra, above=False, show=lambda v, d: v.round(d))


def thousands_above(e: pl.Expr, limit: float, decimals: int = 0, extra: int = 2) -> pl.Expr:
    """:func:`thousands` text of ``e`` (a value that passed ``limit``) with the fewest decimals, from ``decimals`` up
    to ``decimals + extra``, at which it reads above ``limit`` (a speed of 900.09 km/h over 900 is "900.1")."""
    return _fewest_decimals(e, limit, decimals, extra, above=True, show=thousands)


def thousands_below(e: pl.Expr, limit: float, decimals: int = 0, extra: int = 2) -> pl.Expr:
    """:func:`thousands_above`'s twin for a value under ``limit`` (79.6% under 80% is "79.6", not "80")."""
    return _fewest_decimals(e, limit, decimals, extra, above=False, show=thousands)


def _fewest_decimals(e: pl.Expr, limit: float, decimals: int, extra: int, above: bool,
                     show: Callable[[pl.Expr, int], pl.Expr]) -> pl.Expr:
    """``show(e, d)`` at the fewest ``d`` from ``decimals`` to ``decimals + extra`` at which ``e`` rounded to ``d``
    still reads past ``limit`` (above it, or below it); else ``e`` rounded away from the limit at the last."""
    def past(v: pl.Expr) -> pl.Expr:
        return v > limit if above else v < limit

    last = decimals + extra
    out = show((round_up if above else round_down)(e, last), last)
    for d in range(last - 1, decimals - 1, -1):
        out = pl.when(past(e.round(d))).then(show(e, d)).otherwise(out)
    return out


def _no_negative_zero(e: pl.Expr) -> pl.Expr:
    return pl.when(e == 0).then(pl.lit(0.0)).otherwise(e)


ISO = "%Y-%m-%dT%H:%M:%SZ"


def iso(e: str | pl.Expr) -> pl.Expr:
    """A UTC timestamp as an ISO 8601 string with ``Z`` (second precision), for evidence."""
    return (pl.col(e) if isinstance(e, str) else e).dt.to_string(ISO)


def per_distinct(e: pl.Expr, fn: Callable[[pl.Expr], pl.Expr], return_dtype: pl.DataType,
                 shortcut: tuple[str, Callable[[pl.Expr], pl.Expr]] | None = None) -> pl.Expr:
    """``fn(e)`` computed once per distinct non-null value of ``e`` and mapped back to every row (nulls stay
    null): for string normalisations of low-cardinality columns (country or city names), where per-row string
    work costs more than a hash lookup (1.5M rows, 16 countries: 0.21 s per row, 0.03 s per distinct value).
    ``fn`` must be elementwise and map null to null. ``shortcut`` (a regular expression, a cheaper function): the
    values it matches are mapped with that function instead, which must give them what ``fn`` gives."""
    def mapped(f: Callable[[pl.Expr], pl.Expr], values: pl.Series) -> pl.Series:
        # no values, no plan: planning a large expression costs the same on none (the IMEI reading's 35 ms)
        return (pl.select(f(pl.lit(values)).cast(return_dtype)).to_series() if len(values)
                else pl.Series(values.name, [], dtype=return_dtype))

    def run(s: pl.Series) -> pl.Series:
        u = s.drop_nulls().unique()
        if shortcut is None:
            return s.replace_strict(u, mapped(fn, u), default=None, return_dtype=return_dtype).alias(s.name)
        short = u.str.contains(shortcut[0])
        plain, other = u.filter(short), u.filter(~short)
        return s.replace_strict(pl.concat([plain, other]), pl.concat([mapped(shortcut[1], plain), mapped(fn, other)]),
                                default=None, return_dtype=return_dtype).alias(s.name)

    return e.map_batches(run, return_dtype=return_dtype, is_elementwise=True)


# An account id: "nan" is a name too (Nan, 楠), so only the other words are no account
ACCOUNT_NO_VALUE_WORDS = tuple(w for w in NO_VALUE_WORDS if w != "nan")


def is_missing(col: pl.Expr, words: tuple[str, ...] = NO_VALUE_WORDS) -> pl.Expr:
    """Null, blank, or what a log writes for "no value" (``-``, ``null``, ``unknown`` ...: :data:`NO_VALUE_WORDS`)."""
    return col.is_null() | col.str.strip_chars().str.to_lowercase().is_in(list(words))


# Device ids that many devices report alike: ``9774d56d682e549c`` is the ANDROID_ID of a bug in Android 2.2 that
# many handsets shipped with (and a value libraries still use as a fallback).
SHARED_DEVICE_IDS = ("9774d56d682e549c",)


# Invisible characters: Unicode's format characters (soft hyphen, zero-width space/joiners, LRM/RLM, bidi embeddings,
# overrides and isolates, word joiner, the BOM, tag characters ...), the combining grapheme joiner and the Hangul
# fillers, which render as nothing
INVISIBLE = r"\p{Cf}\u034f\u115f\u1160\u3164\uffa0"


def visible(text: pl.Expr) -> pl.Expr:
    """``text`` without its invisible characters (:data:`INVISIBLE`): a zero-width space or a bidi mark inside a
    device id, a model name or a user agent hides nothing."""
    return text.str.replace_all(f"[{INVISIBLE}]", "")


def placeholder_id(text: pl.Expr) -> pl.Expr:
    """True for an identifier that names nothing: missing (:func:`is_missing`), zeros with separators only
    (``0``, ``000000000000000``, the all-zero advertising id ``00000000-0000-0000-0000-000000000000``) or a known
    shared id (:data:`SHARED_DEVICE_IDS`). Clients send these when they cannot read a device id; thousands of
    devices then share one "id"."""
    t = text.str.strip_chars()
    return (is_missing(text) | t.str.contains(r"^[0\-:.{}_ ]*0[0\-:.{}_ ]*$")
            | t.str.to_lowercase().is_in(SHARED_DEVICE_IDS))


_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"


def ip_address(text: pl.Expr) -> pl.Expr:
    """The address an ``ip`` field names, in one written form, or null when it names none.

    Real logs write one address several ways: with a port (``1.2.3.4:443``, ``[2001:db8::1]:443``), as an
    IPv4-mapped IPv6 address from a dual-stack server (``::ffff:1.2.3.4``, ``::ffff:102:304``), with a host prefix
    length (``1.2.3.4/32``), with an IPv6 zone (``fe80::1%eth0``),
    in upper case, with zero-padded octets (``010.001.002.003``: decimal, as fixed-width logs mean it), or as
    an X-Forwarded-For list whose first entry is the client (``1.2.3.4, 10.0.0.1``). Each becomes the bare
    address (IPv6 in lower case), so one address is one IP for the checks and the country lookup. Null:
    placeholders (``unknown``, ``-``), the unspecified addresses (``0.0.0.0``, ``::``) and text that is no address
    (``abc``, ``300.1.1.1``, ``1.2.3``)."""
    return text.map_batches(_ip_rows, return_dtype=pl.String, is_elementwise=True)


def _ip_rows(values: pl.Series) -> pl.Series:
    """:func:`ip_address` on a column: plain IPv4 values as they are, the others once per distinct value, one
    step at a time (a nested expression would repeat each step's input)."""
    values = values.cast(pl.String)
    plain = values.str.contains(rf"^{_IPV4}$").fill_null(False)  # most values: nothing to do but the zero test
    kept = pl.select(pl.when(values != "0.0.0.0").then(values)).to_series().alias(values.name)
    if plain.all():
        return kept
    s = pl.col("s")
    others = values.filter(~plain)
    distinct = others.drop_nulls().unique()
    # a host's prefix length (PostgreSQL's text(inet), CIDR-typed exports: 203.0.113.8/32) names the address itself
    df = pl.DataFrame({"s": distinct}).with_columns(
        s.str.split(",").list.first().str.strip_chars().str.to_lowercase())
    df = df.with_columns(pl.when(s.str.contains(":", literal=True)).then(s.str.replace(r"/128$", ""))
                         .otherwise(s.str.replace(r"/32$", "")))
    df = df.with_columns(pl.when(s.str.starts_with("[")).then(s.str.extract(r"^\[([^\]]*)\](?::\d+)?$"))
                         .otherwise(s))
    df = df.with_columns(s.str.replace(r"^([\d.]+):\d+$", "$1").str.replace(r"%[^%]*$", "")
                         .str.replace(rf"^[0:]*:ffff:({_IPV4})$", "$1"))
    # zero-padded octets (fixed-width firewall logs: 010.001.002.003) are decimal
    padded = s.str.contains(r"^\d{1,3}(?:\.\d{1,3}){3}$")
    df = df.with_columns(pl.when(padded).then(s.str.replace_all(r"(^|\.)0+(\d)", "$1$2")).otherwise(s))
    n, short = s.str.count_matches(":"), s.str.contains("::", literal=True)  # "::" stands for zero groups
    v6 = ((s.str.contains(r"^[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}$") & (short | (n == 7)))
          | (s.str.contains(rf"^[0-9a-f]{{0,4}}(?::[0-9a-f]{{0,4}}){{1,5}}:{_IPV4}$") & (short | (n == 6))))
    v6 = v6 & (s.str.count_matches("::", literal=True) <= 1) & ~s.str.contains(":::", literal=True)
    ok = (s.str.contains(rf"^{_IPV4}$") | v6) & s.str.contains(r"[1-9a-f]")
    named = df.select(pl.when(ok).then(s)).to_series()
    is6 = named.str.contains(":", literal=True).fill_null(False)
    if is6.any():  # one IPv6 address is written many ways (2001:db8:0:0::1, 2001:db8::1): RFC 5952's one form
        named = named.scatter(is6.arg_true(), pl.Series([_ipv6_form(a) for a in named.filter(is6)], dtype=pl.String))
    rest = others.replace_strict(distinct, named, default=None, return_dtype=pl.String)
    return kept.scatter((~plain).arg_true(), rest)


def _ipv6_form(address: str) -> str | None:
    """RFC 5952's form of an IPv6 address; an IPv4-mapped one in any notation (``::ffff:808:808``, what Python's
    own ``ipaddress`` prints for ``::ffff:8.8.8.8``) is its IPv4 address; null for no address."""
    try:
        a = ipaddress.IPv6Address(address)
    except ValueError:
        return None
    if a.ipv4_mapped is not None:
        return None if a.ipv4_mapped.is_unspecified else str(a.ipv4_mapped)
    return a.compressed


def ipv6_net64(ip: pl.Expr) -> pl.Expr:
    """The /64 network (``2001:db8:1:2::/64``) of an IPv6 address (as :func:`ip_address` writes it), null for
    IPv4 and null values: one LAN or one subscriber's line, which hands its hosts (and an attacker's script) a
    fresh address at will. Computed once per distinct address."""
    def run(s: pl.Series) -> pl.Series:
        u = s.filter(s.str.contains(":", literal=True).fill_null(False)).unique()
        nets = pl.Series([str(ipaddress.IPv6Network((a, 64), strict=False)) for a in u], dtype=pl.String)
        return s.replace_strict(u, nets, default=None, return_dtype=pl.String).alias(s.name)

    return ip.map_batches(run, return_dtype=pl.String, is_elementwise=True)


def reach_us(window_us: int) -> int:
    """The length to give the rolling-window helpers (``member_runs`` and ``window_members`` of
    :mod:`fraud.fingerprint.common`, Polars' ``rolling_*_by``: all half-open, ``(t - length, t]``) so that a
    ``window_us`` window is closed: events exactly ``window_us`` apart are "within" it, as the contract's
    "within 10 minutes" reads. Timestamps are whole microseconds, so ``(t - window - 1 us, t]`` is
    ``[t - window, t]``."""
    return window_us + 1


def thousands(x: str | pl.Expr, decimals: int = 0) -> pl.Expr:
    """A number as text with thousands separators (``1684.2`` -> ``1,684``), rounded to ``decimals``."""
    v = (pl.col(x) if isinstance(x, str) else x).cast(pl.Float64)
    whole = v.abs().round(decimals).floor().cast(pl.Int64) if decimals else v.abs().round(0).cast(pl.Int64)
    grouped = (whole.cast(pl.String).str.reverse().str.replace_all(r"(\d{3})", "$1,").str.reverse()
               .str.strip_chars_start(","))
    sign = pl.when(v < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    if decimals:
        frac = ((v.abs().round(decimals) - v.abs().round(decimals).floor()) * 10 ** decimals).round(0).cast(pl.Int64)
        grouped = pl.concat_str([grouped, pl.lit("."), frac.cast(pl.String).str.zfill(decimals)])
    return pl.when(v.is_null()).then(None).otherwise(pl.concat_str([sign, grouped]))


def point_window(ts: pl.Expr, anchor: pl.Expr, window_us: int) -> pl.Expr:
    """The point window of ``ts`` (0, 1, ...): the ``window_us`` periods after ``anchor`` (where a group's first
    finding's evidence starts), each closed at its end as the rules' windows are; earlier times are in window 0."""
    return ((ts - anchor).dt.total_microseconds() - 1).floordiv(window_us).clip(lower_bound=0)


POINT_GROUP = "_g"  # a group (user, device) and one of its later point windows, as one key (:func:`later_windows`)


def window_starts(ev: pl.LazyFrame, ends: pl.LazyFrame, group: str, window_us: int) -> pl.LazyFrame:
    """Per ``group``, ``_anchor``: where its first finding's evidence starts, the earliest row of ``ev`` in the
    closed window ``[t - window_us, t]`` of the earliest ``t_ref`` of ``ends`` (for :func:`later_windows`)."""
    ts = pl.col("ts")
    first = ends.group_by(group).agg(pl.col("t_ref").min())
    return (ev.join(first, on=group, how="inner")
            .filter((ts <= pl.col("t_ref")) & ((pl.col("t_ref") - ts).dt.total_microseconds() <= window_us))
            .group_by(group).agg(ts.min().alias("_anchor")))


def later_windows(ev: pl.LazyFrame, anchors: pl.LazyFrame, group: str, window_us: int) -> pl.LazyFrame:
    """The rows of ``ev`` in their group's later point windows (1, 2, ...), keyed by :data:`POINT_GROUP` (the group
    and the window). The windows are ``window_us`` periods from the group's ``_anchor`` in ``anchors`` (where its
    first finding's evidence starts: :func:`window_starts`), each closed at its end.

    A rolling-window rule runs its sweep over the whole history (every episode found, also one whose window
    straddles a point window's start) and again over these rows: an episode that outlasts a point window then goes
    on as a finding in each later window whose own rows exceed the limit (a device farm active for 70 days costs
    what each of its 30-day windows does, from that window's evidence, whose first row scores it in that window).
    The caller keeps a later window's finding only where the whole-history sweep has none at that instant. (Window
    0's rows would give the whole-history sweep's findings again: its windows reach back into no earlier window.)"""
    w = point_window(pl.col("ts"), pl.col("_anchor"), window_us)
    return (ev.join(anchors.select(group, "_anchor"), on=group, how="inner").filter(w >= 1)
            .with_columns(pl.concat_str([pl.col(group).cast(pl.String), pl.lit("\x00"), w.cast(pl.String)])
                          .alias(POINT_GROUP)).drop("_anchor"))


def later_only(found: pl.LazyFrame, later: pl.LazyFrame, whole: pl.LazyFrame, group: str,
               keys: list[str]) -> pl.LazyFrame:
    """``found`` (a rule's episodes over :func:`later_windows`' rows, keyed by :data:`POINT_GROUP`) with their
    ``group`` column back, less those the whole-history sweep (``whole``) has at the same ``keys``."""
    return (found.join(later.select(POINT_GROUP, group).unique(), on=POINT_GROUP)
            .join(whole.select(keys), on=keys, how="anti"))


# Float sums are taken over fixed-point integers (exact, so independent of the order the engine adds rows in, which
# differs between an in-memory and a sliced scan): the same input in any row order gives bit-identical sums.
FIXED = 10_000  # 1e-4 of the unit (a hundredth of a cent; 0.1 m of distance)


def exact_sum(e: pl.Expr, wide: bool = False) -> pl.Expr:
    """Sum of ``e`` rounded to 1/FIXED of its unit, computed in integers (Int128 when ``wide``: money up to 1e15;
    null when all values are null)."""
    return pl.when(e.count() > 0).then((e * FIXED).round(0).cast(pl.Int128 if wide else pl.Int64).sum() / FIXED)


def exact_mean(e: pl.Expr, wide: bool = False) -> pl.Expr:
    """Mean of the non-null values of ``e`` on the same fixed-point grid (null when none)."""
    return exact_sum(e, wide) / e.count()
