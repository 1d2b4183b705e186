"""bench/run.py: the A/B comparison runs each side's own code."""
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = mod  # its dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def test_a_scan_started_in_another_tree_imports_that_trees_package(tmp_path, monkeypatch):
    """Started from the repository's root, `python -m` imported the root's package whatever PYTHONPATH said,
    so `--against` compared the tree with itself. In its own folder a tree's scan imports that tree."""
    other = tmp_path / "tree"
    (other / "fraud").mkdir(parents=True)
    (other / "fraud" / "__init__.py").write_text("")
    monkeypatch.chdir(ROOT)
    bench = _bench()
    assert bench.imported_package(other) == other.resolve()
    assert bench.imported_package(ROOT) == ROOT


def test_the_user_agent_parse_rate_is_printed_from_the_summarys_notes():
    """The issue's "distinct UAs parsed per second" comes from summary.json's notes (the shared stages' counts moved
    there from checks): the benchmark prints both, rules and stages, without the status and finding counts."""
    summ = {"checks": {"ip.spray": {"status": "ok", "findings": 3}, "geo.remote_logins": {"status": "ok",
                                                                                          "findings": 1,
                                                                                          "logins_side_unknown": 0}},
            "notes": {"fingerprint.user_agents": {"distinct_user_agents": 9, "user_agents_per_s": 1200}}}
    assert _bench().count_lines(summ) == [
        "  fingerprint.user_agents: {'distinct_user_agents': 9, 'user_agents_per_s': 1200}",
        "  geo.remote_logins: {'logins_side_unknown': 0}"]
