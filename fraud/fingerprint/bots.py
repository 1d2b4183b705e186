"""``device.bot_agent``: account events whose user agent is a known crawler (the maintained
``crawler-user-agents`` patterns), an HTTP library or command-line client (python-requests, curl,
Go-http-client, a bare okhttp ...), an automation tool or headless browser (Selenium/WebDriver markers,
HeadlessChrome, PhantomJS), or is garbage (a placeholder such as a bare ``Mozilla/5.0``, letterless or too
short). A missing agent (null, ``-``, ``unknown`` ...) is not evidence of a bot: such login events are counted
as not evaluated in ``summary.json`` unless the rule's ``flag_missing`` is set.

Failed events do not count (``success`` false): a credential-stuffing script failing on an account's password
is the attacker's agent, not the account holder's (``ip.spray`` reports it, without penalising the victims);
``summary.json`` counts them (``failed_events_not_counted``). A bot that gets in (its event succeeds) counts.

Each distinct user agent is classified once (:func:`fraud.fingerprint.useragent.agent_table`) and joined back;
the finding's evidence names the matched pattern.
"""
from __future__ import annotations

import polars as pl

from fraud.context import ScanContext
from fraud.findings import emit
from fraud.fingerprint.common import fmt, iso
from fraud.fingerprint.patterns import BARE_STACK_TOOLS
from fraud.fingerprint.useragent import agent_table
from fraud.registry import NotEvaluated, register

EMPTY_KIND = "empty or garbage"
MISSING_KIND = "missing"


def bot_events(ctx: ScanContext) -> pl.LazyFrame:
    """Account events with a bot user agent: the event columns plus ``bot_kind`` and ``bot_pattern``.

    Garbage agents count only when the rule's ``flag_empty`` is set; a missing agent only on ``login`` events
    and only when ``flag_missing`` is set (apps and back-office events may legitimately send none)."""
    rule = ctx.cfg.rule("device.bot_agent")
    agents = agent_table(ctx)
    if agents.height == 0:
        raise NotEvaluated("no user_agent values in the logins")
    bots = agents.lazy().filter(pl.col("bot_kind").is_not_null()).select("user_agent", "bot_kind", "bot_pattern")
    if not rule["flag_empty"]:
        bots = bots.filter(pl.col("bot_kind") != EMPTY_KIND)
    if rule["allowed_agents"]:  # the operator's own clients (e.g. an app sending OkHttp's default agent)
        allowed = "|".join(f"(?:{p})" for p in rule["allowed_agents"])
        bots = bots.filter(~pl.col("user_agent").str.contains(allowed).fill_null(False))
    named = ctx.logins.filter(pl.col("user_id").is_not_null())
    ev = named.filter(pl.col("success").fill_null(True))
    failed = (named.filter(~pl.col("success").fill_null(True))
              .join(bots.filter(pl.col("bot_kind") != MISSING_KIND), on="user_agent", how="semi").select(pl.len()))
    hits = ev.join(bots, on="user_agent", how="inner")
    missing_kind = pl.col("bot_kind") == MISSING_KIND
    missing = pl.concat([
        ev.filter(pl.col("user_agent").is_null()).with_columns(
            pl.lit(MISSING_KIND).alias("bot_kind"), pl.lit("missing user agent").alias("bot_pattern")),
        hits.filter(missing_kind)], how="vertical_relaxed").filter(pl.col("event") == "login")
    hits = hits.filter(~missing_kind)
    # An app platform's bare HTTP stack on many users may be the operator's own app that never set an agent: the
    # users per such agent, and all users with a successful event, let the command say so (allowed_agents)
    stack = (hits.filter(pl.col("bot_pattern").is_in(sorted(BARE_STACK_TOOLS))).group_by("user_agent")
             .agg(pl.col("user_id").n_unique().alias("users")).sort("user_agent"))
    n_users = ev.select(pl.col("user_id").n_unique())
    n_missing, n_failed, stack, n_users = pl.collect_all([missing.select(pl.len()), failed, stack, n_users])
    notes = {"failed_events_not_counted": n_failed.item(), "users_with_successful_events": n_users.item(),
             "bare_app_stack_users": dict(stack.iter_rows())}
    if rule["flag_missing"]:
        ctx.notes["device.bot_agent"] = notes
        return pl.concat([hits, missing], how="vertical_relaxed")
    ctx.notes["device.bot_agent"] = {"logins_without_user_agent": n_missing.item(), **notes}
    return hits


@register("device.bot_agent", rules="device.bot_agent", family="fingerprint", identity=("user_id", "user_agent"))
def bot_agent(ctx: ScanContext) -> pl.LazyFrame:
    """One finding per user and bot user agent: the span and number of events it was seen on."""
    rule = ctx.cfg.rule("device.bot_agent")
    per = bot_events(ctx).group_by("user_id", "user_agent", "bot_kind", "bot_pattern").agg(
        pl.col("ts").min().alias("first_ts"), pl.col("ts").max().alias("last_ts"), pl.len().alias("events"),
        pl.col("device_id").drop_nulls().min().alias("device_id"), pl.col("ip").drop_nulls().min().alias("ip"),
    )
    return emit(
        per, rule, device_id="device_id", ip="ip",
        evidence={"user_agent": pl.col("user_agent").str.slice(0, 300), "kind": "bot_kind",
                  "pattern": "bot_pattern", "events": "events", "first_seen": iso("first_ts"),
                  "last_seen": iso("last_ts")},
        summary=fmt("{} event(s) with a {} user agent (matched {})", pl.col("events"), pl.col("bot_kind"),
                    pl.col("bot_pattern").str.slice(0, 60)),
    )
