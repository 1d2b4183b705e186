"""Account-event checks: ``account.login_failures`` (a burst of failed logins followed by a success: a guessed
or stuffed password that worked), ``account.password_churn`` (too many password changes) and ``ip.spray``
(one IP, or one IPv6 /64 network, failing logins on many accounts: password spraying; an IP-only alert, victims
are not penalised).
"""
from __future__ import annotations

import polars as pl

from fraud.context import ScanContext
from fraud.exprs import ipv6_net64, reach_us
from fraud.findings import emit
from fraud.fingerprint.common import (POINT_GROUP as G, US_PER_DAY, US_PER_MINUTE, coverage_episodes, fmt,
                                      groups_where, index_range, iso, later_only, later_windows, member_runs,
                                      window_members, window_starts)
from fraud.registry import register, require_events
from fraud.schema import TS


def _failed() -> pl.Expr:
    return ~pl.col("success").fill_null(True)


def _by_network(lf: pl.LazyFrame) -> pl.LazyFrame:
    """The IPv6 rows of ``lf`` with ``ip`` as their /64 network (an attacker takes a fresh address of its /64 for
    every try)."""
    return lf.filter(pl.col("ip").str.contains(":", literal=True)).with_columns(ipv6_net64(pl.col("ip")).alias("ip"))


def spray_rows() -> pl.Expr:
    """The logins rows ``ip.spray`` reads: failed ``login`` events (its ``rows`` in the registry: a sliced scan
    stores only these by IP)."""
    return (pl.col("event") == "login") & _failed()


@register("account.login_failures", rules="account.login_failures", family="fingerprint", columns=("success",))
def login_failures(ctx: ScanContext) -> pl.LazyFrame:
    """Flags a successful login preceded by ``min_failures``+ failed logins of the same user within
    ``failure_window_minutes`` (minutes), the success coming at most ``success_within_minutes`` after the
    last of those failures. The evidence counts every failure from the start of the burst up to the success
    (an earlier success inside the burst does not reset it). One finding per attack episode: qualifying
    successes whose next burst starts within ``failure_window_minutes`` of the previous one, the success on the
    same UTC day, are one episode (a stuffing tool cycling for hours is one finding listing its successes, not
    thousands); the finding's IP and device are those of the episode's first success. Every failed attempt
    counts, also several in one second (a brute-force tool's): a log line written twice is already a rejected
    duplicate row."""
    rule = ctx.cfg.rule("account.login_failures")
    require_events(ctx, ["login"])  # an export naming its logins otherwise: not "no failures"
    n_min = int(rule["min_failures"])
    win_us = int(rule["failure_window_minutes"] * US_PER_MINUTE)
    win = f"{reach_us(win_us)}i"
    within_us = int(rule["success_within_minutes"] * US_PER_MINUTE)
    ts = pl.col("ts")
    ev = groups_where(ctx.logins.filter((pl.col("event") == "login") & pl.col("user_id").is_not_null())
                      .select("user_id", "ts", pl.col("success").fill_null(True), "ip", "device_id"),
                      "user_id", (~pl.col("success")).sum() >= n_min)  # fewer failures in all can never fire
    ev = (ev.with_columns(ts.dt.epoch("us").alias("_t"))
          .sort(["user_id", "ts", "success", "ip", "device_id"], nulls_last=True))
    ok = pl.col("success")
    marked = ev.with_columns(
        (~ok).cast(pl.Int32).rolling_sum_by("_t", win).over("user_id").alias("n_fail"),
        pl.when(~ok).then(ts).rolling_min_by("_t", win).over("user_id").alias("burst_start"),
        pl.when(ok).then(ts).backward_fill().over("user_id").alias("next_success"),
        pl.when(ok).then(pl.col("ip")).backward_fill().over("user_id").alias("success_ip"),
        pl.when(ok).then(pl.col("device_id")).backward_fill().over("user_id").alias("success_device"),
    )
    fails = marked.filter(~ok & pl.col("next_success").is_not_null())
    starts = fails.filter((pl.col("n_fail") >= n_min)
                          & ((pl.col("next_success") - ts).dt.total_microseconds() <= within_us)
                          ).group_by("user_id", "next_success").agg(pl.col("burst_start").min().alias("first_ts"))
    # episodes: a burst starting more than the failure window after the previous qualifying success is a new one,
    # and so is the first of a new UTC day (a finding stays put when later logs are added, and a weeks-long attack
    # is one finding a day, counted per points window like any other rule)
    prev = pl.col("next_success").shift(1).over("user_id")
    new_ep = ((pl.col("first_ts") - prev).dt.total_microseconds().fill_null(win_us + 1) > win_us) | (
        pl.col("next_success").dt.date() != prev.dt.date()).fill_null(True)
    episodes = starts.sort("user_id", "next_success").with_columns(
        new_ep.cast(pl.Int32).cum_sum().over("user_id").alias("_ep")
    ).group_by("user_id", "_ep").agg(
        pl.col("first_ts").min(), pl.col("next_success").min(), pl.col("next_success").max().alias("last_success"),
        pl.len().alias("successes"))
    success = (marked.filter(ok).select("user_id", pl.col("ts").alias("next_success"), "success_ip", "success_device")
               .unique(["user_id", "next_success"], keep="first", maintain_order=True))
    # An episode's failures are an index range of the user's failures (sorted by time): two as-of joins, not every
    # episode paired with every failure of the user (a monitoring account failing 5 times every 15 minutes for two
    # years: 70,000 episodes x 350,000 failures).
    f = fails.select("user_id", "ts", "ip").with_row_index("_i").with_columns(pl.col("_i").cast(pl.Int64)).cache()
    ranges = index_range(episodes.select("user_id", "_ep", "first_ts", "last_success"), f, "user_id", "first_ts",
                         "last_success", end_cols={"ts": "last_failure"})
    ips = (ranges.select("user_id", "_ep", pl.int_ranges("_lo", pl.col("_hi") + 1).alias("_i")).explode("_i")
           .join(f.select("_i", "ip"), on="_i", how="inner")
           .group_by("user_id", "_ep").agg(pl.col("ip").drop_nulls().unique().sort().alias("ips")))
    burst = ranges.select("user_id", "_ep", (pl.col("_hi") - pl.col("_lo") + 1).cast(pl.UInt32).alias("failures"),
                          "last_failure").join(ips, on=["user_id", "_ep"], how="left")
    per = episodes.join(burst, on=["user_id", "_ep"]).join(success, on=["user_id", "next_success"], how="left")
    one = pl.col("successes") == 1
    return emit(
        per, rule, last_ts="last_success", device_id="success_device", ip="success_ip",
        evidence={"failures": "failures", "first_failure": iso("first_ts"), "last_failure": iso("last_failure"),
                  "success": iso("next_success"), "successes": "successes", "last_success": iso("last_success"),
                  "failure_ips": "ips", "min_failures": n_min,
                  "failure_window_minutes": rule["failure_window_minutes"],
                  "success_within_minutes": rule["success_within_minutes"]},
        summary=pl.when(one).then(
            fmt("{} failed logins from {} to {}, then a successful login {} min after the last failure",
                pl.col("failures"), iso("first_ts"), iso("last_failure"),
                ((pl.col("next_success") - pl.col("last_failure")).dt.total_seconds() / 60).round(1))
        ).otherwise(
            fmt("{} failed logins from {} to {} in bursts, {} of them followed by a successful login (first {}, "
                "last {})", pl.col("failures"), iso("first_ts"), iso("last_failure"), pl.col("successes"),
                iso("next_success"), iso("last_success"))),
    )


@register("account.password_churn", rules="account.password_churn", family="fingerprint", columns=("event",))
def password_churn(ctx: ScanContext) -> pl.LazyFrame:
    """Flags more than ``max_changes`` (successful) ``password_change`` events of one user within a rolling
    ``window_days``-day window ``[t - window, t]``. One finding per episode: the window ending at the change
    that first exceeded the limit, listing the changes in it; an episode outlasting the point window goes on in
    each later window from its own changes (:func:`fraud.fingerprint.common.later_windows`). Changes of one user at
    the same instant are one change (a log line written twice is not a second change)."""
    rule = ctx.cfg.rule("account.password_churn")
    window_us = int(rule.window_days * US_PER_DAY)
    limit = int(rule["max_changes"])
    ts = pl.col("ts")
    require_events(ctx, ["password_change"])
    ch = ctx.logins.filter((pl.col("event") == "password_change") & pl.col("success").fill_null(True)
                           & pl.col("user_id").is_not_null()).select("user_id", "ts").unique()

    def episodes(ch: pl.LazyFrame, group: str) -> pl.LazyFrame:
        # per group, the change that first exceeded the limit in each run of exceeding windows, with its count
        per_ts = ch.sort(group, "ts").with_columns(pl.lit(1).alias("n"), ts.dt.epoch("us").alias("_t"))
        rolled = per_ts.with_columns(pl.col("n").rolling_sum_by("_t", f"{reach_us(window_us)}i").over(group)
                                     .alias("cnt"))
        over = pl.col("cnt") > limit
        return rolled.filter(over & ~over.shift(1).over(group).fill_null(False)).select(group, ts.alias("t_ref"),
                                                                                       "cnt")

    def listed(ch: pl.LazyFrame, ends: pl.LazyFrame, group: str) -> pl.LazyFrame:
        inside = ends.join(ch, on=group, how="inner").filter(
            (ts <= pl.col("t_ref")) & ((pl.col("t_ref") - ts).dt.total_microseconds() <= window_us))
        return inside.group_by(group, "t_ref", "cnt").agg(*([] if group == "user_id" else [pl.col("user_id").first()]),
                                                          ts.min().alias("first_ts"), iso(ts.sort()).alias("changes"))

    ends = episodes(ch, "user_id")
    # a churn outlasting the rule's point window goes on in each later window from that window's changes
    later = later_windows(ch, window_starts(ch, ends, "user_id", window_us), "user_id", window_us)
    lends = later_only(episodes(later, G), later, ends, "user_id", ["user_id", "t_ref"]).drop("user_id")
    per = pl.concat([listed(ch, ends, "user_id"), listed(later, lends, G).drop(G)], how="diagonal_relaxed")
    return emit(
        per, rule, last_ts="t_ref",
        evidence={"changes": "changes", "n_changes": "cnt", "max_changes": limit, "window_days": rule.window_days,
                  "window_start": iso(pl.col("t_ref") - pl.duration(microseconds=window_us)),
                  "window_end": iso("t_ref")},
        summary=fmt("{} password changes within {} days (limit {})", pl.col("cnt"),
                    rule.window_days, limit),
    )


@register("ip.spray", rules="ip.spray", family="fingerprint", key="ip", rows=spray_rows, columns=("success", "ip"))
def ip_spray(ctx: ScanContext) -> pl.LazyFrame:
    """Flags an IP whose failed logins hit ``min_accounts``+ distinct accounts within a rolling
    ``window_minutes``-minute window ``[t - window, t]``. One IP-only finding (null user_id, the rule's points,
    0 by default) per episode, for the window ending at the failure that first reached the limit.

    An IPv6 attacker takes a fresh address of its /64 network for every try (one LAN or subscriber line hands out
    addresses at will), so the failures of a /64 are counted together too: a network episode is a finding (its
    ``ip`` the network, ``2001:db8:1:2::/64``) unless one of its addresses fired in an overlapping window."""
    rule = ctx.cfg.rule("ip.spray")
    require_events(ctx, ["login"])
    window_us = int(rule["window_minutes"] * US_PER_MINUTE)
    limit = int(rule["min_accounts"]) - 1
    failed = ctx.logins.filter(spray_rows()).select("ip", "user_id", "ts")
    exact = _spray_episodes(failed, limit, window_us)
    nets = _spray_episodes(_by_network(failed), limit, window_us)
    fired = exact.filter(pl.col("ip").str.contains(":", literal=True)).select(
        ipv6_net64(pl.col("ip")).alias("ip"), pl.col("win_first").alias("_f"), pl.col("t_ref").alias("_t"))
    overlap = (pl.col("_f") <= pl.col("t_ref")) & (pl.col("win_first") <= pl.col("_t"))
    covered = nets.join(fired, on="ip").filter(overlap)
    per = pl.concat([exact, nets.join(covered.select("ip", "t_ref").unique(), on=["ip", "t_ref"], how="anti")])
    return emit(
        per, rule, user_id=None, ip="ip", first_ts="win_first", last_ts="t_ref",
        evidence={"accounts": "members", "n_accounts": "n_members", "failures": "n_events",
                  "peak_accounts": "peak", "min_accounts": int(rule["min_accounts"]),
                  "window_minutes": rule["window_minutes"],
                  "window_start": iso(pl.col("t_ref") - pl.duration(microseconds=window_us)),
                  "window_end": iso("t_ref")},
        summary=fmt("{} {} failed logins on {} accounts within {} min{}",
                    pl.when(pl.col("ip").str.contains("/", literal=True)).then(pl.lit("IPv6 network"))
                    .otherwise(pl.lit("IP")), pl.col("ip"), pl.col("n_members"), rule["window_minutes"],
                    pl.when(pl.col("peak") > pl.col("n_members"))
                    .then(pl.format(" (up to {} in a later window of the episode)", pl.col("peak")))
                    .otherwise(pl.lit(""))),
    )


def _spray_episodes(failed: pl.LazyFrame, limit: int, window_us: int) -> pl.LazyFrame:
    """Per ``ip`` (an address or a network) with failures on more than ``limit`` accounts in a window: one row per
    episode, ``ip, t_ref, ep_end, peak`` and the window's ``members``, ``n_members``, ``n_events``,
    ``win_first``."""
    ev, runs, eps = _spray_runs(failed, limit, window_us)
    ends = eps.select("ip", pl.col("ep_start").alias("t_ref"), "ep_end", "peak")
    return ends.join(window_members(ev, runs, ends, "ip", "user_id", reach_us(window_us)), on=["ip", "t_ref"])


def _spray_runs(failed: pl.LazyFrame, limit: int, window_us: int
                ) -> tuple[pl.LazyFrame, pl.LazyFrame, pl.LazyFrame]:
    """The failures of the IPs that could spray, their accounts' runs and the IPs' episodes
    (:func:`fraud.fingerprint.common.coverage_episodes`)."""
    ev = groups_where(failed, "ip", pl.col("user_id").n_unique() > limit)
    runs = member_runs(ev, "ip", "user_id", reach_us(window_us))
    return ev, runs, coverage_episodes(runs, "ip", limit)


SPRAY_SPANS = "ip.spray.spans"  # the context's cached spans (a sliced scan computes them on the IP slices)
SPANS_SCHEMA = {"ip": pl.String, "net": pl.Boolean, "from_ts": TS, "to_ts": TS}


def spray_spans(ctx: ScanContext) -> pl.DataFrame:
    """The spans of time in which an IP (or IPv6 /64 network, ``net``) sprayed failed logins by ``ip.spray``'s
    definition: ``ip, net, from_ts, to_ts``, from a window before the first failure that reached the limit to the
    end of the episode. The failed logins of such an IP in such a span are the attacker's, not the account
    holders': the behaviour features leave them out, so a spray's victims are not penalised (contract: ip.spray).
    Empty when the rule is disabled."""
    return ctx.cached(SPRAY_SPANS, lambda: _spray_spans(ctx))


def _spray_spans(ctx: ScanContext) -> pl.DataFrame:
    rule = ctx.cfg.rule("ip.spray")
    if not rule.enabled:
        return pl.DataFrame(schema=SPANS_SCHEMA)
    window_us = int(rule["window_minutes"] * US_PER_MINUTE)
    limit = int(rule["min_accounts"]) - 1
    failed = ctx.logins.filter(spray_rows()).select("ip", "user_id", "ts")

    def spans(rows: pl.LazyFrame, net: bool) -> pl.LazyFrame:
        ends = _spray_runs(rows, limit, window_us)[2]
        start = pl.col("ep_start") - pl.duration(microseconds=window_us)
        return ends.select("ip", pl.lit(net).alias("net"), start.alias("from_ts"),
                           pl.coalesce("ep_end", pl.col("ep_start") + pl.duration(microseconds=window_us))
                           .alias("to_ts"))

    # collected one after the other: each plan holds one cached candidate table, never two over one input
    return (pl.concat([spans(failed, False).collect(), spans(_by_network(failed), True).collect()])
            .cast(SPANS_SCHEMA).sort("net", "ip", "from_ts"))


def without_spray_attempts(ev: pl.LazyFrame, spans: pl.DataFrame) -> pl.LazyFrame:
    """``ev`` (account events with ``event, success, ip, ts``) without the failed logins that an IP or network
    made inside one of its spray ``spans`` (:func:`spray_spans`)."""
    if spans.height == 0:
        return ev
    ev = ev.with_row_index("_e")
    tried = ev.filter(spray_rows() & pl.col("ip").is_not_null()).select("_e", "ts", "ip")
    hits = []
    for net, rows in ((False, tried), (True, _by_network(tried))):
        mine = spans.filter(pl.col("net") == net).drop("net")
        if mine.height:
            hits.append(rows.join(mine.lazy(), on="ip").filter(pl.col("ts").is_between("from_ts", "to_ts"))
                        .select("_e"))
    return ev.join(pl.concat(hits).unique(), on="_e", how="anti", maintain_order="left").drop("_e")
