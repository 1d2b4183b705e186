"""Positions of every event (contract section 5), one materialised frame per scan.

An account event's position comes, in this order, from its ``lat``/``lon`` (accuracy 100 m), from an offline
lookup of its ``ip`` (city, coordinates and the database's accuracy radius, else 50 km, when a MaxMind city
database is configured as ``geoip_db``; the country always, from the embedded ``iptocc`` table), or from its
``city``/``country`` names (a known city name is placed at the most populous gazetteer city of that name,
accuracy 25 km). Each attribute takes the first source that has it: an IP known only to its country gives
the event's country, and its city name (when given) still gives coordinates (a name of another country than the IP's
too: counted). An event with its own lat/lon
takes nothing from its IP (its city and country come from its own columns). Location pings
carry their own ``accuracy_m`` (else 100 m). A position known only to the country has no coordinates: it takes
part in country rules, never in distance rules. Each distinct IP is looked up once.
"""
from __future__ import annotations

import re

import polars as pl

from fraud.context import ScanContext
from fraud.errors import FraudError
from fraud.geo.distance import haversine_km
from fraud.geo.gazetteer import country_code, geocode_names_and_namesakes, norm_name, split_place_text

GPS_ACCURACY_KM = 0.1  # contract section 5: lat/lon without accuracy_m
PRECISE_SOURCES = ("latlon", "ping")  # positions precise enough to build ~200 m places from
COUNTRY_ONLY_SOURCES = ("ip_country", "country")  # positions known only to the country (no coordinates)
# the unrecognised country names a scan (or a slice) notes, most frequent first; summary.json lists the top 5
MAX_NOTED_NAMES = 1000
# A city name with a namesake elsewhere (Columbus, US; London without a country) means, for a user with GPS
# positions, the namesake within OWN_PLACE_KM of the median of them: the user's own city, not a trip.
OWN_PLACE_KM = 100.0

IP_SCHEMA = {"ip": pl.String, "ip_cc": pl.String, "ip_city": pl.String, "ip_lat": pl.Float64,
             "ip_lon": pl.Float64, "ip_acc_km": pl.Float64}


def _maxmind_lookup(ips: list[str], db_path: str) -> list[tuple]:
    try:
        import maxminddb  # optional: pip install maxminddb
    except ImportError:
        raise FraudError(f"geoip_db = {db_path!r} is configured but the 'maxminddb' package is not installed "
                         "(pip install maxminddb), or set geoip_db = \"\"") from None
    try:
        reader = maxminddb.open_database(db_path)
    except (OSError, ValueError) as e:
        raise FraudError(f"geoip_db {db_path!r}: cannot open the GeoIP city database ({e})") from None
    out = []
    with reader:
        for ip in ips:  # one lookup per distinct IP
            try:
                rec = reader.get(ip) or {}
            except ValueError:
                rec = {}
            loc = rec.get("location") or {}
            city = ((rec.get("city") or {}).get("names") or {}).get("en")
            cc = (rec.get("country") or {}).get("iso_code")
            radius = loc.get("accuracy_radius")
            out.append((city, loc.get("latitude"), loc.get("longitude"),
                        float(radius) if radius is not None else None, cc))
    return out


def ip_lookup(ips: list[str], db_path: str = "") -> pl.DataFrame:
    """Distinct IPs -> country (``iptocc``, offline) and, with a MaxMind city database, city/lat/lon/radius."""
    import iptocc

    if not ips:
        return pl.DataFrame(schema=IP_SCHEMA)
    ccs = iptocc.country_code(ips)
    cols = {"ip": ips, "ip_cc": ccs, "ip_city": [None] * len(ips), "ip_lat": [None] * len(ips),
            "ip_lon": [None] * len(ips), "ip_acc_km": [None] * len(ips)}
    if db_path:
        recs = _maxmind_lookup(ips, db_path)
        cols["ip_city"] = [r[0] for r in recs]
        cols["ip_lat"] = [r[1] for r in recs]
        cols["ip_lon"] = [r[2] for r in recs]
        cols["ip_acc_km"] = [r[3] for r in recs]
        cols["ip_cc"] = [r[4] or c for r, c in zip(recs, ccs)]
    return pl.DataFrame(cols, schema=IP_SCHEMA)


# whole numbers only: "1230m" must not read as 123 degrees 0 minutes; ASCII digits only, as in every other number
# column (re's \d would take Arabic-Indic "١٢" or full-width "３１" as 12 and 31)
_NUM = r"[0-9]+(?:{dec}[0-9]+)?(?![0-9])"
_PART = (r"(?P<h1{t}>[NSEWnsew])?\s*(?P<sign{t}>[+-])?\s*(?P<deg{t}>{num})\s*(?:°|º|˚|deg|d)?\s*"
         r"(?:(?P<min{t}>{num})\s*(?:'|′|’|min|m))?\s*(?:(?P<sec{t}>{num})\s*(?:\"|″|”|''|sec|s))?\s*"
         r"(?P<h2{t}>[NSEWnsew])?")
# One coordinate (a decimal comma is accepted: "48,8" from a semicolon-separated export); a pair (dots only).
_ONE = re.compile(r"^\s*" + _PART.format(t="", num=_NUM.format(dec="[.,]")) + r"\s*$")
_PAIR = re.compile(r"^\s*" + _PART.format(t="", num=_NUM.format(dec="\\.")) + r"\s*(?:[,;]\s*|\s+)"
                   + _PART.format(t="2", num=_NUM.format(dec="\\.")) + r"\s*$")


def _degrees(m: re.Match, t: str, axis: str) -> float | None:
    """Signed degrees of one matched coordinate, or None when the text contradicts itself (two hemisphere
    letters, a sign and a letter, a letter of the other axis, minutes or seconds of 60+ or after a fraction).
    Not wrapped or clamped: 200 E stays 200 and is rejected as out of range by the caller."""
    g = {k: m.group(k + t) for k in ("h1", "h2", "sign", "deg", "min", "sec")}
    if g["h1"] and g["h2"]:
        return None
    hemi = (g["h1"] or g["h2"] or "").upper()
    if hemi and (g["sign"] or hemi not in ("NS" if axis == "lat" else "EW")):
        return None
    num = {k: float(g[k].replace(",", ".")) if g[k] else None for k in ("deg", "min", "sec")}
    if num["min"] is not None and ("," in g["deg"] or "." in g["deg"] or num["min"] >= 60):
        return None
    if num["sec"] is not None and (num["min"] is None or "." in g["min"] or "," in g["min"] or num["sec"] >= 60):
        return None
    value = num["deg"] + (num["min"] or 0.0) / 60 + (num["sec"] or 0.0) / 3600
    return -value if g["sign"] == "-" or hemi in ("S", "W") else value


def parse_coordinate_text(text: pl.Expr | str, part: str | None = None) -> pl.Expr:
    """Parse coordinates written as text, once per distinct string, with a strict pattern: degrees with optional
    minutes and seconds (``31°13'48"N``), a hemisphere letter before or after (``121.47 W``, ``S 33.87``) or a
    sign, a decimal comma in a single value (``48,8``).

    With ``part=None`` each value is a pair (``31.23 N, 121.47 E``, ``31°13'48"N 121°28'12"E``, ``31.23, 121.47``)
    and the result is a struct ``{lat, lon}`` of degrees; with ``part="lat"`` or ``"lon"`` each value is one
    coordinate and the result a float. Anything else gives null, so the reader rejects the row: stray text
    (``x12``, ``12.5.6``, ``12:30``), a hemisphere letter on the wrong axis (``121.47 E`` given as a latitude),
    a sign with a letter. Values are never wrapped (``200 E`` is 200, out of range). An input concern:
    :mod:`fraud.inputs` calls it for lat/lon values that are not plain numbers."""
    if part not in (None, "lat", "lon"):
        raise ValueError(f"part must be None, 'lat' or 'lon', got {part!r}")

    def one(v: str) -> tuple[float | None, float | None]:
        if part is None:
            m = _PAIR.match(v)
            return (_degrees(m, "", "lat"), _degrees(m, "2", "lon")) if m else (None, None)
        m = _ONE.match(v)
        x = _degrees(m, "", part) if m else None
        return (x, None) if part == "lat" else (None, x)

    def parse(s: pl.Series) -> pl.Series:
        table = {v: one(v) for v in s.unique().drop_nulls().to_list()}
        vals = [table[v] if v is not None else (None, None) for v in s.to_list()]
        lat = pl.Series("lat", [v[0] for v in vals], dtype=pl.Float64)
        lon = pl.Series("lon", [v[1] for v in vals], dtype=pl.Float64)
        if part == "lat":
            return lat
        if part == "lon":
            return lon
        return pl.struct(lat, lon, eager=True)

    e = pl.col(text) if isinstance(text, str) else text
    dtype = pl.Struct({"lat": pl.Float64, "lon": pl.Float64}) if part is None else pl.Float64
    return e.cast(pl.String).str.strip_chars().map_batches(parse, return_dtype=dtype, is_elementwise=True)


def positions(ctx: ScanContext) -> pl.DataFrame:
    """Every positioned event of the scan, sorted by (user_id, ts); materialised once and cached. Failed login
    attempts are left out (the attempt's place is the attacker's, not the user's; counted in the notes).

    Columns: user_id, ts, kind (``event``/``ping``), event, success, amount, device_id, ip, lat, lon (null for
    a position without coordinates), acc_km (accuracy radius, km), source (``latlon``, ``ping``, ``ip_city``,
    ``city``, ``ip_country``, ``country``; ``city_name`` for an unknown city name without a country), city
    (display name when the input or the IP database named one), city_key (normalised name), city_ref (the
    GeoNames id of the city the name means, a district's bigger city's; null when the gazetteer cannot place the
    name), country (ISO alpha-2 when known).
    """
    return ctx.cached("geo.positions", lambda: _build(ctx))


def _null_island() -> pl.Expr:
    """lat/lon exactly 0,0: what a client writes for "no fix", not a place (open sea off West Africa)."""
    return (pl.col("lat") == 0) & (pl.col("lon") == 0)


def _valid_ll() -> list[pl.Expr]:
    """lat/lon, both null unless both are finite and in range (the reader rejects such rows; be safe anyway) and
    they are not 0,0 (:func:`_null_island`: an unknown position, counted in the scan's notes)."""
    ok = pl.col("lat").is_between(-90, 90) & pl.col("lon").is_between(-180, 180) & ~_null_island().fill_null(False)
    return [pl.when(ok).then(pl.col(c)).alias(c) for c in ("lat", "lon")]


def _build(ctx: ScanContext) -> pl.DataFrame:
    zero = _null_island().fill_null(False).alias("_zero")  # counted in the same pass as the columns are read
    # A failed login attempt is where someone tried the account, not where its holder was: a stuffing attempt
    # from abroad must not make the victim an impossible traveller or move their home, clock or month.
    failed = ((pl.col("event") == "login") & ~pl.col("success").fill_null(True)).alias("_failed")
    city, country = pl.col("city").str.strip_chars(), country_code(pl.col("country"))
    # a country value that names no known country (a misspelling, "EU", MaxMind's "A1"): no country, counted
    unknown_cc = pl.when(country.is_null()).then(pl.col("country").str.strip_chars()).alias("_unknown_cc")
    region = pl.lit(None, pl.String)  # "Portland, Maine, US": the region the city text names
    if ctx.logins.select(pl.col("city").str.contains(",", literal=True).any()).collect().item():
        city, country, region = split_place_text(city, country)  # only then: ~0.3 s per 1.5M events
    ev = ctx.logins.select("user_id", "ts", "event", "success", "amount", "device_id", "ip", *_valid_ll(),
                           city.alias("city"), country.alias("country"), region.alias("region"), zero, failed,
                           unknown_cc).collect()
    unknown = (ev.filter(pl.col("_unknown_cc").is_not_null() & (pl.col("_unknown_cc") != ""))
               .group_by("_unknown_cc").len().sort(["len", "_unknown_cc"], descending=[True, False]))
    n_failed = int(ev["_failed"].sum())
    ev = ev.filter(~pl.col("_failed"))
    n_zero = ev["_zero"].sum()
    ev = ev.drop("_zero", "_failed", "_unknown_cc")
    # Only an event without its own lat/lon takes anything from its IP (city, coordinates, country): the key is
    # null on the others, so they neither join nor pay for the string work.
    no_ll = pl.col("lat").is_null() | pl.col("lon").is_null()
    ev = ev.with_columns(pl.when(no_ll).then(pl.col("ip").str.strip_chars()).alias("_ipk"))
    ipt = ip_lookup(sorted(set(ev["_ipk"].drop_nulls().unique().to_list()) - {""}), ctx.cfg.geoip_db)
    ev = ev.join(ipt.rename({"ip": "_ipk"}), on="_ipk", how="left", maintain_order="left").drop("_ipk")
    # A city name is placed with the event's own country column (not the IP's: a VPN exit says nothing about
    # the city); it gives coordinates when the IP lookup gave none.
    ev = ev.with_columns(norm_name(pl.coalesce("city", "ip_city")).alias("city_key"))
    names = ev.select("city_key", "country", "region").filter(pl.col("city_key").is_not_null()).unique()
    geo, namesakes = geocode_names_and_namesakes(names)
    ev = ev.join(geo, on=["city_key", "country", "region"], how="left", nulls_equal=True, maintain_order="left")
    if namesakes.height:
        ev = _own_namesakes(ev, namesakes, ctx)
    # A resolved name compares by the city's canonical key (Beijing / Beijing Shi / 北京 are one city).
    ev = ev.with_columns(pl.coalesce("g_key", "city_key").alias("city_key"))
    # A name of another country than the IP's still places the event (the IP gives the country, contract order):
    # the IP's country is the registry's (iptocc), coarse (a cloud or mobile block registered in one country is
    # used in another; generated logs pair random addresses with their user's city), and the name is what the
    # client or the export's own GeoIP lookup said. Counted, so a scan says how often the two disagree.
    named_cc = pl.coalesce("g_cc", "country")
    n_against_ip = ev.select((pl.col("ip_cc").is_not_null() & pl.col("ip_lat").is_null()
                              & pl.col("city_key").is_not_null() & named_cc.is_not_null()
                              & (named_cc != pl.col("ip_cc"))).sum()).item()
    has_ll = pl.col("lat").is_not_null() & pl.col("lon").is_not_null()
    has_ipc = pl.col("ip_lat").is_not_null() & pl.col("ip_lon").is_not_null()
    has_name = pl.col("g_lat").is_not_null()
    source = (pl.when(has_ll).then(pl.lit("latlon")).when(has_ipc).then(pl.lit("ip_city"))
              .when(has_name).then(pl.lit("city")).when(pl.col("ip_cc").is_not_null()).then(pl.lit("ip_country"))
              .when(pl.col("country").is_not_null()).then(pl.lit("country"))
              .when(pl.col("city_key").is_not_null()).then(pl.lit("city_name"))
              .otherwise(None))
    # events whose only place is a city name the gazetteer does not know: no coordinates (said, not silent)
    n_unplaced = ev.select((~has_ll & ~has_ipc & ~has_name & pl.col("city_key").is_not_null()).sum()).item()
    ev = ev.with_columns(source.alias("source")).filter(pl.col("source").is_not_null()).select(
        "user_id", "ts", pl.lit("event").alias("kind"), "event", "success", "amount", "device_id", "ip",
        pl.when(has_ll).then("lat").when(has_ipc).then("ip_lat").when(has_name).then("g_lat").alias("lat"),
        pl.when(has_ll).then("lon").when(has_ipc).then("ip_lon").when(has_name).then("g_lon").alias("lon"),
        pl.when(has_ll).then(pl.lit(GPS_ACCURACY_KM))
        # contract section 5's radii by default (50 km, 25 km): the config's ip_city_ / city_name_accuracy_km
        .when(has_ipc).then(pl.col("ip_acc_km").fill_null(ctx.cfg.ip_city_accuracy_km))
        .when(has_name).then(pl.lit(ctx.cfg.city_name_accuracy_km)).alias("acc_km"),
        "source",
        pl.coalesce("city", "ip_city").alias("city"),  # no IP city on an event with lat/lon (see above)
        "city_key", pl.col("g_ref").alias("city_ref"),
        # IP country before the country column (contract order), for events without lat/lon
        pl.when(has_ll).then(pl.col("country")).otherwise(pl.coalesce("ip_cc", "country", "g_cc")).alias("country"),
    )
    pings = ctx.locations.select(
        "user_id", "ts", pl.lit("ping").alias("kind"), pl.lit(None, pl.String).alias("event"),
        pl.lit(None, pl.Boolean).alias("success"), pl.lit(None, pl.Float64).alias("amount"),
        pl.lit(None, pl.String).alias("device_id"), pl.lit(None, pl.String).alias("ip"), *_valid_ll(),
        # Android's getAccuracy() is 0.0 when the fix has no accuracy (a cell fix): unknown, not exact
        pl.when(pl.col("accuracy_m") > 0).then(pl.col("accuracy_m") / 1000).fill_null(GPS_ACCURACY_KM)
        .alias("acc_km"), pl.lit("ping").alias("source"),
        pl.lit(None, pl.String).alias("city"), pl.lit(None, pl.String).alias("city_key"),
        pl.lit(None, pl.UInt32).alias("city_ref"),
        pl.lit(None, pl.String).alias("country"), zero, (pl.col("accuracy_m") == 0).fill_null(False).alias("_acc0"),
    ).filter((pl.col("lat").is_not_null() & pl.col("lon").is_not_null()) | pl.col("_zero")).collect()
    ctx.notes["geo.positions"] = {"positions_0_0_ignored": n_zero + pings["_zero"].sum(),
                                  "failed_logins_not_placed": n_failed,
                                  "events_with_a_city_name_not_placed": n_unplaced,
                                  "events_with_names_of_another_country_than_their_ip": n_against_ip,
                                  "events_with_a_country_not_recognised": int(unknown["len"].sum()),
                                  "countries_not_recognised": dict(unknown.head(MAX_NOTED_NAMES).iter_rows()),
                                  "pings_with_accuracy_0_read_as_unknown": int(
                                      (pings["_acc0"] & ~pings["_zero"]).sum())}
    pings = pings.filter(~pl.col("_zero")).drop("_zero", "_acc0")
    return _sort_positions(pl.concat([ev, pings], how="vertical_relaxed"))


def _own_namesakes(ev: pl.DataFrame, namesakes: pl.DataFrame, ctx: ScanContext) -> pl.DataFrame:
    """``ev`` with the city names of users with GPS positions (lat/lon events and pings) placed at the namesake
    (``namesakes``: :func:`fraud.geo.gazetteer.geocode_names_and_namesakes`) nearest the median of those
    positions, when it lies within :data:`OWN_PLACE_KM` of it and the name is ambiguous or names a city farther
    than that from it: a Columbus, Georgia user's "Columbus, US" is Columbus, Georgia (the bigger Columbus, Ohio
    made an impossible trip of every login), a London, Ontario user's "London" is London, Ontario (London,
    England, 4.5 times bigger, is what the bare name means to everyone else). Other ambiguous names stay
    unplaced. Work on the distinct (user, name) pairs and their users' positions only."""
    keys = ["city_key", "country", "region"]
    g = ["g_lat", "g_lon", "g_cc", "g_key", "g_ref"]
    want = (ev.filter(pl.col("lat").is_null() | pl.col("lon").is_null())
            .join(namesakes.select(keys).unique(), on=keys, how="semi", nulls_equal=True)
            .select("user_id", *keys, "g_lat", "g_lon").unique())
    if want.height == 0:
        return ev
    users = want.select("user_id").unique()
    fixes = pl.concat([
        ev.lazy().filter(pl.col("lat").is_not_null() & pl.col("lon").is_not_null()).select("user_id", "lat", "lon"),
        ctx.locations.select("user_id", *_valid_ll()).drop_nulls()], how="vertical_relaxed")
    anchor = (fixes.join(users.lazy(), on="user_id", how="semi")
              .group_by("user_id").agg(pl.col("lat").median().alias("_alat"), pl.col("lon").median().alias("_alon"))
              .collect())
    # a placed name keeps its city when that city is the user's own (within OWN_PLACE_KM of their median)
    want = want.join(anchor, on="user_id", how="inner").filter(
        pl.col("g_lat").is_null() | (haversine_km("_alat", "_alon", "g_lat", "g_lon") > OWN_PLACE_KM)).drop(
        "g_lat", "g_lon")
    pick = (want.join(namesakes, on=keys, how="inner", nulls_equal=True)
            .with_columns(haversine_km("_alat", "_alon", "g_lat", "g_lon").alias("_km"))
            .filter(pl.col("_km") <= OWN_PLACE_KM)
            .sort(["user_id", *keys, "_km", "g_key", "g_lat", "g_lon"], nulls_last=True)
            .group_by("user_id", *keys, maintain_order=True).first()
            .select("user_id", *keys, *[pl.col(c).alias(f"_{c}") for c in g]))
    if pick.height == 0:  # no user's name moves: skip the join over every event (~0.1 s per 1.5M events)
        return ev
    ev = ev.join(pick, on=["user_id", *keys], how="left", nulls_equal=True, maintain_order="left")
    own = pl.col("_g_lat").is_not_null()
    return ev.with_columns(pl.when(own).then(f"_{c}").otherwise(c).alias(c) for c in g).drop(f"_{c}" for c in g)


def _sort_positions(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` sorted by (user_id, ts, kind, lat, lon, then :data:`TIE_KEYS`), nulls last, rows equal on every key
    keeping their order. The tie keys make the order independent of the input's: two positions of a user at one
    instant and point that differ in accuracy, event or device would otherwise pair in input order (which one
    is a trip's end decides whether travel flags it, and what its finding says).

    The same order as ``df.sort([...], nulls_last=True, maintain_order=True)``, several times faster: the
    string user_id is replaced by its rank among the distinct users, and (rank, ts) become one integer key
    (rank x the time span + microseconds since the earliest position) sorted in one stable pass (4M positions:
    0.15 s against 0.54 s for the keys side by side); the few rows sharing a user and an instant are then put in
    (kind, lat, lon, tie keys) order among themselves (``event`` before ``ping``, nulls last)."""
    if df.height == 0:
        return df
    df = df.rechunk()  # arg-sorting and gathering contiguous columns is ~2x faster than the concat's chunks
    users = df.select(pl.col("user_id").unique().sort(nulls_last=True)).with_row_index("_u")
    rank = df.select("user_id").join(users, on="user_id", how="left", nulls_equal=True, maintain_order="left")["_u"]
    us = df["ts"].dt.epoch("us")
    lo, hi = us.min(), us.max()
    if us.null_count() or lo is None or users.height * (hi - lo + 1) >= 2 ** 62:
        return df[_order_by_keys(df, rank, pl.int_range(pl.len(), dtype=pl.UInt32))]
    key = rank.cast(pl.Int64) * (hi - lo + 1) + (us - lo)
    order = key.to_frame("_k").select(pl.arg_sort_by("_k", maintain_order=True)).to_series()  # ties: row order
    sorted_key = key.gather(order)
    tied = (sorted_key == sorted_key.shift(1)).fill_null(False) | (sorted_key == sorted_key.shift(-1)).fill_null(False)
    if tied.any():
        at = tied.arg_true()  # places in the sorted order held by rows that share their (user, ts)
        rows = order.gather(at)
        sub = df[rows]
        order = order.scatter(at, rows.gather(_order_by_keys(sub, key.gather(rows), pl.Series(rows))))
    return df[order]


# After (user_id, ts, kind, lat, lon): the other columns of a position, so that rows tied on those five are
# ordered by their content, not by where the input listed them (rows equal on all of them are interchangeable).
TIE_KEYS = ("acc_km", "source", "event", "success", "amount", "device_id", "ip", "city", "city_key", "country")


def _order_by_keys(df: pl.DataFrame, rank: pl.Series, row: pl.Series | pl.Expr) -> pl.Series:
    """The arg-sort of ``df`` by (rank, ts, kind, lat, lon, :data:`TIE_KEYS` present, row), nulls last
    (``event`` < ``ping``)."""
    last = float("inf")
    ties = [c for c in TIE_KEYS if c in df.columns]
    keys = [rank, pl.col("ts").dt.epoch("us").fill_null(pl.Int64.max()), pl.col("kind") == "ping",
            pl.col("lat").fill_null(last), pl.col("lon").fill_null(last), *ties, row]
    return df.select(pl.arg_sort_by(keys, nulls_last=True)).to_series()
