"""Per-user local time (contract section 1): each user's clock is the time zone of that user's most frequent
position (the ~1 km cell seen in the most distinct hours, looked up offline with ``tzfpy`` at its centre, or at
the user's own point in it when a zone border crosses the cell); users without positions use the configured
``timezone``."""
from __future__ import annotations

import polars as pl

from fraud.context import ScanContext
from fraud.geo.gazetteer import border_cell, zone_of

CELL_DEG = 0.01  # ~1 km grid used to find a user's most frequent position


def all_positions(ctx: ScanContext) -> pl.LazyFrame:
    """(user_id, lat, lon) of every position with coordinates (:func:`fraud.geo.positions.positions`): location
    pings and account events placed by lat/lon, IP city or city name; country-only positions have none."""
    from fraud.geo.positions import positions

    return positions(ctx).lazy().filter(pl.col("lat").is_not_null()).select("user_id", "ts", "lat", "lon")


def _cell(deg: float = CELL_DEG) -> list[pl.Expr]:
    """``ci``, ``cj``: a position's grid cell of ``deg`` degrees (~1 km: :data:`CELL_DEG`)."""
    return [(pl.col(c) / deg).round(0).cast(pl.Int32).alias(k) for c, k in (("lat", "ci"), ("lon", "cj"))]


def user_timezones(ctx: ScanContext) -> pl.DataFrame:
    """One row per user seen: ``user_id, timezone`` (materialised once per scan and cached)."""

    def build() -> pl.DataFrame:
        # "Most frequent" counts the distinct hours a cell was seen in, not its fixes: a 4-day holiday logged
        # at 1 Hz must not outweigh months of hourly fixes at home (sampling rate is not presence).
        cells = (all_positions(ctx).with_columns(*_cell(), pl.col("ts").dt.truncate("1h").alias("hour"))
                 .group_by("user_id", "ci", "cj").agg(pl.col("hour").n_unique().alias("n"))
                 .sort(["user_id", "n", "ci", "cj"], descending=[False, True, False, False])
                 .group_by("user_id", maintain_order=True).first()
                 .collect())
        distinct = cells.select("ci", "cj").unique().sort("ci", "cj")
        zones = [zone_of(i * CELL_DEG, j * CELL_DEG) for i, j in distinct.iter_rows()]
        border = [border_cell(i, j, CELL_DEG, z) for (i, j), z in zip(distinct.iter_rows(), zones)]
        distinct = distinct.with_columns(pl.Series("timezone", zones, dtype=pl.String),
                                         pl.Series("_border", border, dtype=pl.Boolean))
        tz = cells.join(distinct, on=["ci", "cj"], how="left")
        if any(border):
            # a zone border crosses the user's cell (Haparanda beside Tornio): the zone of the user's own point in
            # it, the median of their positions there (order-free), not of the cell's centre
            users = tz.filter("_border").select("user_id", "ci", "cj")
            mid = (all_positions(ctx).with_columns(*_cell())
                   .join(users.lazy(), on=["user_id", "ci", "cj"], how="semi")
                   .group_by("user_id").agg(pl.col("lat").median(), pl.col("lon").median()).collect())
            mid = mid.with_columns(pl.Series("_tz", [zone_of(a, b) for a, b in mid.select("lat", "lon").iter_rows()],
                                             dtype=pl.String)).select("user_id", "_tz")
            tz = tz.join(mid, on="user_id", how="left").with_columns(pl.coalesce("_tz", "timezone").alias("timezone"))
        tz = tz.select("user_id", "timezone")
        users = ctx.users().collect()
        return (users.join(tz, on="user_id", how="left")
                .with_columns(pl.col("timezone").fill_null(ctx.cfg.timezone)).sort("user_id"))

    return ctx.cached("user_timezones", build)


def with_local_time(lf: pl.LazyFrame, ctx: ScanContext, ts: str = "ts", out: str = "local_ts") -> pl.LazyFrame:
    """Add ``out``: the naive local wall-clock time of ``ts`` in the user's time zone (``user_id`` column).

    Rows whose user has no entry use the configured time zone. One conversion per distinct zone, not per user;
    the row order of ``lf`` is kept.
    """
    tzs = user_timezones(ctx)
    zones = sorted(set(tzs["timezone"].to_list()) | {ctx.cfg.timezone})
    joined = lf.join(tzs.lazy(), on="user_id", how="left", maintain_order="left").with_columns(
        pl.col("timezone").fill_null(ctx.cfg.timezone).alias("_tz"))
    if len(zones) == 1:
        return joined.with_columns(
            pl.col(ts).dt.convert_time_zone(zones[0]).dt.replace_time_zone(None).alias(out)).drop("_tz", "timezone")
    if len(zones) <= WHEN_CHAIN_MAX_ZONES:
        local = pl.lit(None, pl.Datetime("us"))
        for z in zones:
            local = pl.when(pl.col("_tz") == z).then(pl.col(ts).dt.convert_time_zone(z).dt.replace_time_zone(None)) \
                .otherwise(local)
    else:
        # A when/then chain converts the whole column once per zone (2M rows: 0.18 s with 8 zones, 1.95 s with
        # 200); per zone group it converts each row once (0.39 s with 200 zones).
        local = pl.struct(pl.col(ts).alias("ts"), "_tz").map_batches(
            _to_local, return_dtype=pl.Datetime("us")).over("_tz")
    return joined.with_columns(local.alias(out)).drop("_tz", "timezone")


WHEN_CHAIN_MAX_ZONES = 8


def _to_local(rows: pl.Series) -> pl.Series:
    """The naive local time of one zone group's ``ts`` (the group's rows share ``_tz``)."""
    zone = rows.struct.field("_tz")[0] if len(rows) else "UTC"
    return rows.struct.field("ts").dt.convert_time_zone(zone).dt.replace_time_zone(None)


def local_logins(ctx: ScanContext) -> pl.LazyFrame:
    """``ctx.logins`` with ``local_ts`` (:func:`with_local_time`): the conversion runs once per scan and the
    column is cached, so the checks and features that read local days of account events share it."""
    def build() -> pl.Series:
        return with_local_time(ctx.logins.select("user_id", "ts"), ctx).select("local_ts").collect().to_series()

    return ctx.logins.with_columns(pl.lit(ctx.cached("logins.local_ts", build)))


CLOCK_CELL_DEG = 0.1  # ~10 km cells whose time zone is looked up once (a border cell: none, see below)


def other_clock_days(ctx: ScanContext) -> pl.DataFrame:
    """``user_id, day``: the user's local days (on their own clock, :func:`user_timezones`) with a position in a
    place whose clock reads otherwise at that instant: a trip to another time zone. The days' events are read on the
    home clock, so their clock features (night share, hour spread) say nothing there: a Londoner's week in Tokyo had
    every daytime login at night, 5 three-sigma days and a repeated run (-45 points). A place's zone is the zone of
    its ~10 km cell (:data:`CLOCK_CELL_DEG`); a cell a zone border crosses tells nothing (a user living beside a
    border keeps their clock features). Counted in the notes (``geo.other_clock``); cached."""
    from fraud.geo.places import local_positions

    def build() -> pl.DataFrame:
        empty = pl.DataFrame(schema={"user_id": pl.String, "day": pl.Date})
        lp = local_positions(ctx).lazy().filter(pl.col("lat").is_not_null() & pl.col("local_ts").is_not_null())
        cell = _cell(CLOCK_CELL_DEG)
        cells = lp.select(*cell).unique().sort("ci", "cj").collect()
        zones = [zone_of(i * CLOCK_CELL_DEG, j * CLOCK_CELL_DEG) for i, j in cells.iter_rows()]
        crossed = [border_cell(i, j, CLOCK_CELL_DEG, z) for (i, j), z in zip(cells.iter_rows(), zones)]
        cells = cells.with_columns(pl.Series("_zone", zones, dtype=pl.String),
                                   pl.Series("_crossed", crossed, dtype=pl.Boolean)).filter(
            pl.col("_zone").is_not_null() & ~pl.col("_crossed")).drop("_crossed")
        rows = (lp.with_columns(*cell).join(cells.lazy(), on=["ci", "cj"], how="inner")
                .join(user_timezones(ctx).lazy(), on="user_id", how="left")
                .filter(pl.col("_zone") != pl.col("timezone").fill_null(ctx.cfg.timezone))
                .select("user_id", "ts", "local_ts", pl.col("_zone").alias("_tz")).collect())
        if rows.height == 0:
            ctx.notes["geo.other_clock"] = {"user_days_on_another_clock": 0}
            return empty
        there = pl.struct("ts", "_tz").map_batches(_to_local, return_dtype=pl.Datetime("us")).over("_tz")
        days = (rows.with_columns(there.alias("_there")).filter(pl.col("_there") != pl.col("local_ts"))
                .select("user_id", pl.col("local_ts").dt.date().alias("day")).unique().sort("user_id", "day"))
        ctx.notes["geo.other_clock"] = {"user_days_on_another_clock": days.height}
        return days

    return ctx.cached("geo.other_clock_days", build)
