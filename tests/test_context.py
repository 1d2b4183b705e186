"""The scan context's cache: one build per value, also when the check families ask for it from two threads."""
import threading
from dataclasses import replace

import polars as pl
import pytest

from fraud.config import load_config
from fraud.context import ScanContext
from fraud.errors import InputError
from fraud.pipeline import collect_checks
from fraud.registry import REGISTRY, NotEvaluated
from tests.test_registry import clean_ctx


def test_a_value_being_built_is_waited_for_not_built_again():
    ctx = ScanContext.from_frames(load_config(), logins=pl.DataFrame({"user_id": ["u1"]}))
    calls, started, release = [], threading.Event(), threading.Event()

    def build():
        calls.append(threading.current_thread().name)
        started.set()
        release.wait(5)
        return object()

    got = {}
    first = threading.Thread(target=lambda: got.setdefault("a", ctx.cached("k", build)), name="a")
    first.start()
    assert started.wait(5)
    second = threading.Thread(target=lambda: got.setdefault("b", ctx.cached("k", build)), name="b")
    second.start()
    second.join(0.2)
    assert second.is_alive()  # waiting for the first thread's build
    release.set()
    first.join(5)
    second.join(5)
    assert calls == ["a"] and got["a"] is got["b"]


def test_other_values_are_built_while_one_is_being_built():
    ctx = ScanContext.from_frames(load_config(), logins=pl.DataFrame({"user_id": ["u1"]}))
    release = threading.Event()
    slow = threading.Thread(target=lambda: ctx.cached("slow", lambda: release.wait(5)))
    slow.start()
    assert ctx.cached("fast", lambda: 42) == 42  # not held up by the build of another value
    release.set()
    slow.join(5)
    assert ctx.cached("slow", lambda: None) is True


def test_the_families_side_by_side_give_what_each_gives_alone():
    together, status = collect_checks(clean_ctx())
    for family in ("fingerprint", "geo", "behavior"):
        ctx = clean_ctx()  # a fresh cache: this family builds every shared table it needs itself
        for name, check in REGISTRY.items():
            if check.family != family or name not in together:
                continue
            assert check.fn(ctx).filter(pl.col("rule").is_in(check.rules)).collect().equals(together[name]), name
    assert {s["status"] for s in status.values()} <= {"ok", "disabled", "not evaluated"}


def test_an_error_in_one_family_reaches_the_caller(monkeypatch):
    def broken(ctx):
        raise InputError("bad table")

    monkeypatch.setitem(REGISTRY, "geo.impossible_travel", replace(REGISTRY["geo.impossible_travel"], fn=broken))
    with pytest.raises(InputError, match="bad table"):
        collect_checks(clean_ctx())


def test_an_interrupted_scan_starts_no_more_checks(monkeypatch):
    """Ctrl-C while the families run: the interrupt reaches the caller at once, and a family still busy starts no
    further check after its current one (the sequential scan stopped at once; side by side it had waited for every
    family to finish)."""
    release, ran = threading.Event(), []

    def interrupted(ctx):
        raise KeyboardInterrupt

    def slow(ctx):
        release.wait(10)
        ran.append("slow")
        raise NotEvaluated("test")

    def later(ctx):
        ran.append("later")
        raise NotEvaluated("test")

    geo = sorted(n for n, c in REGISTRY.items() if c.family == "geo")
    monkeypatch.setitem(REGISTRY, "device.bot_agent", replace(REGISTRY["device.bot_agent"], fn=interrupted))
    monkeypatch.setitem(REGISTRY, geo[0], replace(REGISTRY[geo[0]], fn=slow))
    monkeypatch.setitem(REGISTRY, geo[1], replace(REGISTRY[geo[1]], fn=later))
    with pytest.raises(KeyboardInterrupt):
        collect_checks(clean_ctx())
    release.set()
    for t in threading.enumerate():
        if t.name.startswith("fraud-checks"):
            t.join(10)
    assert ran == ["slow"]
