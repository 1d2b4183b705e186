import polars as pl

from fraud.fingerprint.common import groups_where, member_runs, window_members


def test_groups_where_keeps_whole_groups_in_order():
    lf = pl.LazyFrame({"g": ["a", "b", "a", "c", None, "a"], "m": [1, 1, 2, 1, 5, 3]})
    out = groups_where(lf, "g", pl.col("m").n_unique() > 1).collect()
    assert out.rows() == [("a", 1), ("a", 2), ("a", 3)]
    assert groups_where(lf, "g", pl.col("m").n_unique() > 3).collect().height == 0


def _events(rows):
    import datetime as dt

    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    return pl.LazyFrame({"g": [r[0] for r in rows], "m": [r[1] for r in rows],
                         "ts": [t0 + dt.timedelta(minutes=r[2]) for r in rows]}), t0


def _windows(ev, ends, window_us):
    return window_members(ev, member_runs(ev, "g", "m", window_us), ends, "g", "m", window_us)


def test_window_members_counts_the_window_ending_at_each_reference_time():
    import datetime as dt

    ev, t0 = _events([("d", "a", 0), ("d", "b", 5), ("d", "a", 9), ("d", "c", 10), ("d", "b", 30),
                      ("e", "x", 10), (None, "z", 10), ("d", None, 10)])
    at = [t0 + dt.timedelta(minutes=m) for m in (10, 30, 100)]
    ends = pl.LazyFrame({"g": ["d", "d", "d", "e", "f"], "t_ref": [at[0], at[1], at[2], at[0], at[0]]})
    out = _windows(ev, ends, 10 * 60_000_000).collect().sort("g", "t_ref")
    # window (t_ref - 10 min, t_ref]: at minute 10 it holds minutes 5, 9, 10 (minute 0 lies on the open end);
    # minute 30 only itself; minute 100 nothing (no row); device f has no events (no row)
    assert out.rows() == [("d", at[0], ["a", "b", "c"], 3, 3, t0 + dt.timedelta(minutes=5)),
                          ("d", at[1], ["b"], 1, 1, at[1]),
                          ("e", at[0], ["x"], 1, 1, at[0])]


def test_window_members_lists_the_latest_runs_of_a_busy_group_and_counts_all(monkeypatch):
    import datetime as dt

    import fraud.fingerprint.common as common

    monkeypatch.setattr(common, "WINDOW_LIST_RUNS", 2)
    ev, t0 = _events([("d", "a", 1), ("d", "b", 2), ("d", "c", 3), ("d", "c", 4), ("d", "d", 5)])
    ends = pl.LazyFrame({"g": ["d", "d"], "t_ref": [t0 + dt.timedelta(minutes=5), t0 + dt.timedelta(minutes=2)]})
    out = _windows(ev, ends, 60 * 60_000_000).collect().sort("t_ref")
    # one run per member; the window ending at minute 5 lists the members of the two runs started last (c, d)
    # and still counts all four members and five events
    assert out.select("members", "n_members", "n_events").rows() == [(["a", "b"], 2, 2), (["c", "d"], 4, 5)]


def test_window_members_keeps_a_window_whose_listed_runs_have_ended(monkeypatch):
    import datetime as dt

    import fraud.fingerprint.common as common

    monkeypatch.setattr(common, "WINDOW_LIST_RUNS", 1)
    # a is present all along (one run from minute 0 to 70); b's run (35 to 65) started later but has ended by
    # minute 68: the one run looked at lists nobody, and the window is still there with its count
    ev, t0 = _events([("d", "a", 0), ("d", "a", 20), ("d", "a", 40), ("d", "b", 35)])
    ends = pl.LazyFrame({"g": ["d"], "t_ref": [t0 + dt.timedelta(minutes=68)]})
    out = _windows(ev, ends, 30 * 60_000_000).collect()
    assert out.select("members", "n_members", "n_events").rows() == [([], 1, 1)]


def test_window_members_names_at_most_the_listing_cap(monkeypatch):
    import datetime as dt

    import fraud.fingerprint.common as common

    monkeypatch.setattr(common, "LIST_MAX_MEMBERS", 2)
    ev, t0 = _events([("d", "c", 1), ("d", "a", 2), ("d", "b", 3)])
    ends = pl.LazyFrame({"g": ["d"], "t_ref": [t0 + dt.timedelta(minutes=3)]})
    out = _windows(ev, ends, 60 * 60_000_000).collect()
    assert out.select("members", "n_members", "n_events").rows() == [(["a", "b"], 3, 3)]
