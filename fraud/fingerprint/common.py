"""Shared building blocks of the fingerprint checks: the event subsets the rules count (sign-ins, device users),
OS-family normalisation, timestamp formatting and the rolling-window "how many distinct members" sweep.
"""
from __future__ import annotations

import polars as pl

from fraud.context import ScanContext
from fraud.exprs import (NO_VALUE_WORDS, POINT_GROUP, fmt, iso, later_only, later_windows,  # noqa: F401  (re-exported)
                         per_distinct, window_starts)
from fraud.geo.localtime import with_local_time

US_PER_DAY = 86_400_000_000
US_PER_MINUTE = 60_000_000



def sign_ins(ctx: ScanContext, logins: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """Sign-ins (contract section 5): successful ``login`` events that carry a ``device_id`` and a ``user_id``
    (of ``logins``, default the scan's; e.g. :func:`fraud.geo.localtime.local_logins`)."""
    return (ctx.logins if logins is None else logins).filter(
        (pl.col("event") == "login") & pl.col("success").fill_null(True) & pl.col("device_id").is_not_null()
        & pl.col("user_id").is_not_null())


def require_device_ids(lf: pl.LazyFrame, what: str) -> None:
    """Raise NotEvaluated when ``lf`` has no ``device_id`` at all (a scan without device ids is not "clean")."""
    from fraud.registry import NotEvaluated

    if lf.select(pl.col("device_id").is_not_null().any()).collect().item() is not True:
        raise NotEvaluated(f"no {what} with a device_id", stage=0)  # before any check's own test


def local_date(lf: pl.LazyFrame, ctx: ScanContext, out: str = "day") -> pl.LazyFrame:
    """Add ``out``: the calendar date of ``ts`` in the user's own time zone (contract section 1)."""
    return with_local_time(lf, ctx, out="_local").with_columns(pl.col("_local").dt.date().alias(out)).drop("_local")


def device_use(ctx: ScanContext) -> pl.LazyFrame:
    """``device_id, user_id, ts`` of every use of a device by an account: successful account events (any kind)
    with a device_id, and device snapshots naming an account. Failed logins are not use (a stuffing victim's
    account never used the attacker's device)."""
    ev = ctx.logins.filter(pl.col("success").fill_null(True)).select("device_id", "user_id", "ts")
    snap = ctx.devices.select("device_id", "user_id", "ts")
    return pl.concat([ev, snap]).drop_nulls()


def device_users(ctx: ScanContext) -> pl.LazyFrame:
    """Distinct (device_id, user_id) pairs of :func:`device_use` with the account's ``last_use`` of the device:
    accounts that reported a snapshot of or had a successful event on a device. A failed login does not make the
    device the account's: an attacker's rooted phone failing on a victim's password neither penalises nor (device
    lock) rewards the victim. A device-level signal concerns the accounts that used the device at or after it, or
    within ``device_session_minutes`` before it (``last_use`` is the last use plus that session: an integrity SDK
    reports just after the sign-in it checks); a phone sold on and rooted by its buyer days later says nothing of
    its seller. Materialised once per scan (five device checks read it)."""
    session = pl.duration(microseconds=int(ctx.cfg.device_session_minutes * 60e6))
    return ctx.cached("fingerprint.device_users", lambda: device_use(ctx).group_by("device_id", "user_id").agg(
        (pl.col("ts").max() + session).alias("last_use")).collect()).lazy()


def require_linked_snapshots(ctx: ScanContext, snapshots: pl.LazyFrame, what: str) -> None:
    """Raise NotEvaluated when ``snapshots`` (device snapshots carrying the signal a check reads: ``what``) name
    devices none of which reaches an account (:func:`device_users`: no snapshot of it names a user_id and no
    successful event carries its device_id; both columns are optional in the contract). Their signals would
    otherwise be dropped and the check read as clean. Stage 2: after the check's own "no such values" test."""
    from fraud.registry import NotEvaluated

    devices = snapshots.select(pl.col("device_id").drop_nulls().unique())
    if devices.select(pl.len()).collect().item() == 0:
        return
    if devices.join(device_users(ctx).select("device_id"), on="device_id", how="semi").select(
            pl.len()).collect().item() == 0:
        raise NotEvaluated(f"no device snapshot with {what} can be tied to an account (the snapshots name no "
                           "user_id and no successful event carries their device_id)", stage=2)


def note_unlinked(ctx: ScanContext, check: str, signals: pl.LazyFrame, ts: str = "ts") -> None:
    """Count, in the check's notes, the devices whose signals (rows with a ``device_id``, reported at ``ts``) reach
    no account: no account used the device at all, or every signal came after every account's last use of it (an
    inventory export taken after the last sign-in; a phone sold on: the signal may be the buyer's, who is not in
    the data). Neither is read as clean without a word."""
    per = signals.filter(pl.col("device_id").is_not_null()).group_by("device_id").agg(pl.col(ts).min().alias("_t"))
    uses = device_users(ctx).group_by("device_id").agg(pl.col("last_use").max())
    n, late = (per.join(uses, on="device_id", how="left")
               .select(pl.col("last_use").is_null().sum(), (pl.col("_t") > pl.col("last_use")).sum())
               .collect().row(0))
    ctx.notes.setdefault(check, {}).update({"devices_with_signals_without_account": int(n),
                                            "devices_with_signals_after_every_use": int(late)})


PC_FAMILIES = ("windows", "macos", "linux", "chromeos")  # desktop OS families (of :func:`os_family`)
# What a web or cross-platform SDK writes for the platform of a browser session (Flutter's and React Native's
# "web", a "browser" channel): the session runs on some OS, which the user agent names; no OS family itself.
NOT_AN_OS = ("web", "browser", "web browser", "mobile web", "desktop web", "webapp", "web app", "pwa")


def os_family(e: str | pl.Expr) -> pl.Expr:
    """A comparable OS family: ``android`` (Android and HarmonyOS are one family, with the vendor skins and
    builds EMUI, MIUI/HyperOS, ColorOS, One UI, OxygenOS, MagicOS, HiOS/XOS, Nothing OS, LineageOS, GrapheneOS,
    ZUI, Fire OS ...), ``ios`` (iOS, iPadOS, iPhone/iPad), ``macos`` (macOS, OS X, Mac, MacIntel), ``windows``
    (Windows, Win32/Win64/Win10, the Xbox's), ``chromeos`` (Chrome OS, CrOS), ``linux`` (and its distributions:
    Ubuntu, Pop!_OS, elementary OS, NixOS, SteamOS ...), ``webos`` (webOS, ua-parser's "Web0S"), ``roku``
    (Roku OS), ``tvos`` (ua-parser's "ATV OS X"), else the lower-cased name; null when unknown/"Other", for a
    platform that is no OS (:data:`NOT_AN_OS`: "web", "browser") and for ``navigator.platform``'s "Linux armv8l" /
    "Linux aarch64" (Android phones and ARM Linux machines alike). Computed once per distinct name (a fleet
    reports a few hundred OS names in millions of snapshots)."""
    return per_distinct(pl.col(e) if isinstance(e, str) else e, _os_family_rows, pl.String)


APPLE_MOBILE_MODEL = r"(?i)^\s*(?:iphone|ipad|ipod)"  # Apple's model ids: iPhone14,2, iPad13,4, iPod9,1


def snapshot_os_family(os: str = "os", model: str = "model") -> pl.Expr:
    """A device snapshot's OS family (:func:`os_family`), read with its model: an iPhone, iPad or iPod model id
    makes a missing OS, or ``Darwin`` (the kernel of every Apple OS: what ``uname`` and older Go runtimes say on
    an iPhone), iOS; ``Darwin`` on any other model is macOS."""
    fam, apple_mobile = os_family(os), pl.col(model).str.contains(APPLE_MOBILE_MODEL).fill_null(False)
    darwin = pl.col(os).str.contains(r"(?i)^\s*darwin\b").fill_null(False)
    return pl.when(apple_mobile & (fam.is_null() | darwin)).then(pl.lit("ios")).otherwise(fam)


def _os_family_rows(e: pl.Expr) -> pl.Expr:
    s = e.str.strip_chars().str.to_lowercase()
    # "N/A", "-", "undefined", "(null)": what an SDK writes when it could not read the OS names none
    return (pl.when(s.is_null() | s.is_in(["other", *NO_VALUE_WORDS, *NOT_AN_OS])).then(pl.lit(None, pl.String))
            # navigator.platform on an Android phone ("Linux armv8l", "Linux aarch64") is also a Raspberry Pi's or
            # an ARM laptop's: no family to compare (desktop x86 Linux stays Linux)
            .when(s.str.contains(r"^linux (?:arm|aarch64)")).then(pl.lit(None, pl.String))
            # ohos: Flutter's Platform.operatingSystem on HarmonyOS NEXT / OpenHarmony
            .when(s.str.contains(r"android|harmony|\bhmos\b|\bohos\b|\bemui|\bmiui|hyperos|coloros|one ?ui|oxygen ?os|"
                                 r"funtouch|origin ?os|magic ?(?:ui|os)|realme ?ui|fire ?os|flyme|\bhios\b|\bxos\b|"
                                 r"nothing ?os|lineage ?os|graphene ?os|calyx ?os|\bzui\b|"
                                 # Android underneath: watches, Meta's headsets, TVs
                                 r"wear ?os|horizon ?os|oculus|google ?tv"))
            .then(pl.lit("android"))
            .when(s.str.contains(r"^(ios|ipados|iphone ?os|iphone|ipad)\b")).then(pl.lit("ios"))
            .when(s.str.contains(r"^(?:atv os x|apple ?tv ?os)$")).then(pl.lit("tvos"))  # ua-parser's Apple TV
            .when(s.str.contains(r"^xbox")).then(pl.lit("windows"))  # the Xbox's browser says Windows NT 10.0
            # phones: not the desktop's family (ua-parser's "Windows Phone", "BlackBerry OS", "BlackBerry 10")
            .when(s.str.contains(r"^windows ?(?:phone|mobile)")).then(pl.lit("windows phone"))
            .when(s.str.contains(r"^blackberry|^bb ?10\b")).then(pl.lit("blackberry"))
            # MacCatalyst: an iPad app on a Mac (.NET MAUI's DevicePlatform)
            .when(s.str.contains(r"mac ?os|^os ?x\b|^macintel$|^mac$|^darwin|^mac ?catalyst\b")).then(pl.lit("macos"))
            # .NET's Environment.OSVersion.Platform: Win32NT, Win32S, Win32Windows, WinCE
            .when(s.str.contains(r"windows|^win ?(?:32|64)(?:nt|s|windows)?\b|^win ?(?:10|11|nt|ce)\b"))
            .then(pl.lit("windows"))
            .when(s.str.contains(r"chrome ?os|chromium ?os|^cros\b")).then(pl.lit("chromeos"))
            .when(s.str.contains(r"linux|ubuntu|debian|fedora|red hat|suse|mint|arch|pop!?_?\s?os|elementary|"
                                 r"zorin|nixos|centos|rocky|almalinux|manjaro|gentoo|kali|endeavour|raspbian|"
                                 # Linux underneath: Hisense's VIDAA TVs (their browser says Linux)
                                 r"steam ?os|bazzite|chimera ?os|^vidaa\b"))
            .then(pl.lit("linux"))
            .when(s.str.contains(r"^web[o0]s\b|^lg ?webos")).then(pl.lit("webos"))
            .when(s.str.contains(r"^roku\b")).then(pl.lit("roku"))
            .otherwise(s))


def groups_where(lf: pl.LazyFrame, group: str, keep: pl.Expr) -> pl.LazyFrame:
    """The rows of ``lf`` whose ``group`` passes the aggregate ``keep`` (e.g. more distinct members in total than
    a window limit): an exact pre-filter that spares the window sweeps the groups that can never fire."""
    # cached: the window sweeps read these rows several times (runs, episodes, the windows' events)
    return lf.join(lf.group_by(group).agg(keep.alias("_keep")).filter("_keep").select(group), on=group,
                   how="semi", maintain_order="left").cache()


def member_runs(ev: pl.LazyFrame, group: str, member: str, window_us: int) -> pl.LazyFrame:
    """The spans of window ends in which a ``member`` counts for its ``group`` (true rolling window of
    ``window_us`` microseconds over event time).

    A member counts in the window ending at ``t`` when it has an event in ``(t - window, t]`` (the checks pass
    :func:`fraud.exprs.reach_us` of their window for a closed one), i.e. an event at
    ``s`` covers window ends ``[s, s + window)``; overlapping or touching spans are merged. Returns
    ``group, member, run_start, run_end`` (``run_end`` exclusive).
    """
    ts = pl.col("ts")
    # Sorted by (group, member, ts): a run starts at a new (group, member) or after a gap longer than the
    # window. Run ids are numbered over the whole frame (shift comparisons instead of two .over() passes).
    same = (pl.col(group) == pl.col(group).shift(1)) & (pl.col(member) == pl.col(member).shift(1))
    gap = (ts - ts.shift(1)).dt.total_microseconds() > window_us
    return (ev.select(group, member, "ts").drop_nulls().unique().sort(group, member, "ts")
            .with_columns((~same | gap).fill_null(True).cum_sum().alias("_run"))
            .group_by(group, member, "_run").agg(ts.min().alias("run_start"), ts.max().alias("_last"))
            .select(group, member, "run_start",
                    (pl.col("_last") + pl.duration(microseconds=window_us)).alias("run_end"))
            .cache())  # read by the episodes and by the windows' counts and lists


def coverage(runs: pl.LazyFrame, group: str) -> pl.LazyFrame:
    """From :func:`member_runs`: ``group, t, cov``, sorted by (group, t): the number of distinct members in the
    window ending at each instant ``t`` where it changes (a sweep over run starts, +1, and ends, -1). Sorted by
    (group, t) without .over() passes: each group's +1/-1 sum to 0, so the running sum over the whole frame is
    every group's own."""
    sweep = pl.concat([runs.select(group, pl.col("run_start").alias("t"), pl.lit(1, pl.Int64).alias("d")),
                       runs.select(group, pl.col("run_end").alias("t"), pl.lit(-1, pl.Int64).alias("d"))])
    return (sweep.group_by(group, "t").agg(pl.col("d").sum()).sort(group, "t")
            .select(group, "t", pl.col("d").cum_sum().alias("cov")))


def coverage_episodes(runs: pl.LazyFrame, group: str, limit: int) -> pl.LazyFrame:
    """Spans of time in which a ``group`` (user, device, ip) has more than ``limit`` distinct members in the
    rolling window, from :func:`member_runs`: a sweep over run starts (+1) and ends (-1) gives the number of
    distinct members of every window.

    Returns one row per episode (a maximal span in which the count exceeds ``limit``):
    ``group, ep_start, ep_end, peak`` where ``ep_start`` is the event that first pushed the count over the
    limit (the exceeding window is ``(ep_start - window, ep_start]``) and ``ep_end`` the first window end at
    which the count is back at or below the limit.
    """
    # Neighbours are compared only within the same group; segment ids are numbered over the whole frame
    # (grouped together with ``group``).
    first = (pl.col(group) != pl.col(group).shift(1)).fill_null(True)
    last = (pl.col(group) != pl.col(group).shift(-1)).fill_null(True)
    cov = coverage(runs, group).with_columns((pl.col("cov") > limit).alias("_over"),
                                             pl.when(last).then(None).otherwise(pl.col("t").shift(-1)).alias("_next"))
    cov = cov.with_columns((pl.col("_over") != pl.when(first).then(False).otherwise(pl.col("_over").shift(1)))
                           .cum_sum().alias("_seg"))
    return (cov.filter("_over").group_by(group, "_seg")
            .agg(pl.col("t").min().alias("ep_start"), pl.col("_next").max().alias("ep_end"),
                 pl.col("cov").max().alias("peak"))
            .drop("_seg"))


def index_range(keys: pl.LazyFrame, events: pl.LazyFrame, by: str, start: str, end: str, *, open_start: bool = False,
                start_cols: dict[str, str] | None = None, end_cols: dict[str, str] | None = None) -> pl.LazyFrame:
    """``keys`` with ``_lo`` and ``_hi``: the numbers (``_i``) of the first event of the same ``by`` at or after
    ``start`` (after, with ``open_start``) and of the last one at or before ``end``; rows whose range holds no event
    are dropped. ``events`` (``by``, ``ts``, ``_i``) are sorted by (``by``, ``ts``) and numbered over the whole frame,
    so a window's events are the rows ``_lo``..``_hi``: two as-of joins instead of every key paired with every event
    of its group. ``start_cols`` / ``end_cols``: event columns carried from the range's first / last event, renamed
    (``{"ts": "last_failure"}``)."""
    def side(cols: dict[str, str] | None, t: str, i: str) -> pl.LazyFrame:
        return events.select(by, pl.col("ts").alias(t), pl.col("_i").alias(i),
                             *[pl.col(c).alias(a) for c, a in (cols or {}).items()])

    return (keys.sort(by, start)
            .join_asof(side(start_cols, "_t_lo", "_lo"), left_on=start, right_on="_t_lo", by=by, strategy="forward",
                       allow_exact_matches=not open_start, check_sortedness=False)
            .sort(by, end)
            .join_asof(side(end_cols, "_t_hi", "_hi"), left_on=end, right_on="_t_hi", by=by, strategy="backward",
                       check_sortedness=False)
            .filter(pl.col("_lo") <= pl.col("_hi")).drop("_t_lo", "_t_hi"))


# A window's members list is read from at most the last WINDOW_LIST_RUNS member runs of its group that start by
# its end, and names at most LIST_MAX_MEMBERS members (its member count is always exact): a window's evidence costs
# a bounded number of rows however many windows one group has (a placeholder device id on 20,000 accounts gives
# 20,000 windows of 200,000 events each: 4 billion rows without the bound). One device id on 100,000 accounts is
# 100,000 windows: with 500 runs a window the whole scan peaked at 8.1 GB (200,000 accounts: past 12 GB), with 100
# at 3.1 GB (4.8 GB).
WINDOW_LIST_RUNS = 100
LIST_MAX_MEMBERS = 100


def window_members(ev: pl.LazyFrame, runs: pl.LazyFrame, ends: pl.LazyFrame, group: str, member: str,
                   window_us: int) -> pl.LazyFrame:
    """For each ``(group, t_ref)`` row of ``ends``: the members with an event in ``(t_ref - window, t_ref]``:
    ``members`` (sorted distinct list), ``n_members``, ``n_events`` and ``win_first`` (earliest such event). A
    window without events gives no row. ``runs``: :func:`member_runs` of ``ev``.

    Linear in the events plus the listed rows: the window's events are an index range of the events sorted by
    (group, ts), found by two as-of joins; its members are the member runs covering ``t_ref``, counted by
    :func:`coverage`. ``members`` names the first :data:`LIST_MAX_MEMBERS` of them (in sort order) among the last
    :data:`WINDOW_LIST_RUNS` runs of the group that start by ``t_ref`` (so every member unless the group is that
    busy)."""
    # cached, as the runs: read several times below, and the optimiser does not share them by itself
    # (recomputing the episodes behind ``ends`` for each use made the checks 5-10x slower)
    keys = ends.select(group, "t_ref").unique().sort(group, "t_ref").cache()
    # only the groups that have windows (a few devices or users out of the whole slice's candidates)
    groups = keys.select(group).unique()
    e = (ev.select(group, member, "ts").drop_nulls().join(groups, on=group, how="semi").sort(group, "ts", member)
         .with_row_index("_i").select(group, "ts", pl.col("_i").cast(pl.Int64)))
    win = index_range(keys.with_columns((pl.col("t_ref") - pl.duration(microseconds=window_us)).alias("_from")), e,
                      group, "_from", "t_ref", open_start=True, start_cols={"ts": "win_first"})
    runs = (runs.join(groups, on=group, how="semi").sort(group, "run_start", member).with_row_index("_r")
            .with_columns(pl.col("_r").cast(pl.Int64)).cache())
    win = (win.sort(group, "t_ref")
           .join_asof(coverage(runs, group).rename({"t": "_t", "cov": "n_members"}), left_on="t_ref",
                      right_on="_t", by=group, strategy="backward", check_sortedness=False)
           .join_asof(runs.select(group, pl.col("run_start").alias("_rs"), pl.col("_r").alias("_r_hi")),
                      left_on="t_ref", right_on="_rs", by=group, strategy="backward", check_sortedness=False)
           .join(runs.group_by(group).agg(pl.col("_r").min().alias("_r_lo")), on=group, how="left"))
    first_listed = pl.max_horizontal("_r_lo", pl.col("_r_hi") - (WINDOW_LIST_RUNS - 1))
    listed = (win.select(group, "t_ref", pl.int_ranges(first_listed, pl.col("_r_hi") + 1).alias("_r")).explode("_r")
              .join(runs.select("_r", member, "run_end"), on="_r", how="inner")
              .filter(pl.col("run_end") > pl.col("t_ref"))
              .group_by(group, "t_ref").agg(pl.col(member).unique().sort().head(LIST_MAX_MEMBERS).alias("members")))
    return win.join(listed, on=[group, "t_ref"], how="left").select(
        group, "t_ref", pl.col("members").fill_null(pl.lit([], pl.List(pl.String))),
        pl.col("n_members").cast(pl.UInt32), (pl.col("_hi") - pl.col("_lo") + 1).cast(pl.UInt32).alias("n_events"),
        "win_first")
