"""Sizing and spooling of partitioned scans."""
from __future__ import annotations

import gzip
import os
import subprocess
import sys

import polars as pl
import pytest

from fraud.allocator import ALLOCATOR_CONF, ALLOCATOR_ENV, POLARS_ALLOCATOR_CONF, allocator_retains
from fraud.config import load_config
from fraud.errors import FraudError, InputError
from fraud.pipeline import ScanInputs, resolve_shards
from fraud.spool import (BYTES_PER_ROW, SHARD, choose_shards, default_memory_gb, device_key,
                         estimate_rows, shard_of, spool_file, working_gb)


def _logins(n: int) -> pl.DataFrame:
    return pl.DataFrame({"ts": ["2024-03-01T08:00:00Z"] * n, "user_id": [f"u{i % 97}" for i in range(n)],
                         "device_id": [f"d{i % 13}" for i in range(n)]})


def test_estimate_rows_exact_for_parquet_close_for_text(tmp_path):
    df = _logins(50_000)
    df.write_parquet(tmp_path / "a.parquet")
    df.write_csv(tmp_path / "b.csv")
    (tmp_path / "c.csv.gz").write_bytes(gzip.compress(df.write_csv().encode()))
    assert estimate_rows([tmp_path / "a.parquet"]) == 50_000
    assert abs(estimate_rows([tmp_path / "b.csv"]) - 50_001) < 500  # header line counted, lines of equal length
    assert abs(estimate_rows([tmp_path / "c.csv.gz"]) - 50_001) < 500


def test_choose_shards_from_rows_and_budget(monkeypatch):
    monkeypatch.delenv(ALLOCATOR_ENV, raising=False)
    # the performance issue's 10M events: 10.3M logins, 714k snapshots, 5.1M pings -> 22.7 GiB in 5 GiB slices
    rows = {"logins": 10_295_051, "devices": 713_862, "locations": 5_144_931}
    need = working_gb(rows)
    assert round(need, 1) == 22.7 and choose_shards(need, 6.0) == 5
    assert choose_shards(working_gb({"logins": 1_000_000, "locations": 3_000_000}), 6.0) == 1
    # the fraud command's allocator keeps freed memory: 7 slices (measured peak 5.4 GiB), and the
    # generator-shaped 1M events (6.0 GiB in memory) in 2 slices
    monkeypatch.setenv(ALLOCATOR_ENV, ALLOCATOR_CONF)
    need = working_gb(rows)
    assert round(need, 1) == 33.0 and choose_shards(need, 6.0) == 7
    assert choose_shards(working_gb({"logins": 1_020_000, "locations": 3_040_000}), 6.0) == 2
    assert choose_shards(0, 6.0) == 1 and choose_shards(0.0105, 1.001) == 11
    assert 1.5 <= default_memory_gb() <= 6.0
    with pytest.raises(InputError, match="memory budget of 0.5 GiB"):
        choose_shards(10, 0.5)


@pytest.mark.parametrize("conf, retains", [
    (ALLOCATOR_CONF, True), ("dirty_decay_ms:500,muzzy_decay_ms:1000", False),  # Polars' own setting
    ("dirty_decay_ms:500,muzzy_decay_ms:1000," + ALLOCATOR_CONF, True), ("dirty_decay_ms:-1", True),
    (ALLOCATOR_CONF + ",dirty_decay_ms:0,muzzy_decay_ms:0", False), ("background_thread:true", False),
    ("muzzy_decay_ms: 5000", True), ("dirty_decay_ms:x", False), ("", False)])
def test_allocator_retains_reads_the_decay_settings(monkeypatch, conf, retains):
    monkeypatch.setenv(ALLOCATOR_ENV, conf)
    assert allocator_retains() is retains


def test_fraud_command_sets_the_allocator_unless_given():
    code = "import os, fraud.cli.main; print(os.environ.get('_RJEM_MALLOC_CONF'))"
    env = {k: v for k, v in os.environ.items() if k != ALLOCATOR_ENV}

    def run(conf=None):
        extra = {ALLOCATOR_ENV: conf} if conf is not None else {}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={**env, **extra})
        return out.stdout.strip()

    # Polars puts its own default first when it loads; the last setting wins
    assert run() == f"{POLARS_ALLOCATOR_CONF},{ALLOCATOR_CONF}"
    # inherited from a parent process that imported Polars: still ours
    assert run(POLARS_ALLOCATOR_CONF) == f"{POLARS_ALLOCATOR_CONF},{ALLOCATOR_CONF}"
    assert run("background_thread:true") == f"{POLARS_ALLOCATOR_CONF},background_thread:true,{ALLOCATOR_CONF}"
    assert run("dirty_decay_ms:0") == f"{POLARS_ALLOCATOR_CONF},dirty_decay_ms:0"  # the user's choice wins


def test_auto_shards_follow_the_budget(tmp_path, monkeypatch):
    monkeypatch.delenv(ALLOCATOR_ENV, raising=False)
    _logins(100_000).write_parquet(tmp_path / "logins.parquet")
    inputs = ScanInputs(logins=tmp_path / "logins.parquet")
    assert resolve_shards(inputs, "auto", None) == 1
    need_gb = 100_000 * BYTES_PER_ROW["logins"] / 2**30  # 0.186 GiB
    assert resolve_shards(inputs, "auto", 1.0 + need_gb / 2.5) == 3
    assert resolve_shards(inputs, 5, None) == 5


def test_shard_keys_are_stable_and_keep_device_less_rows_with_their_user():
    df = pl.DataFrame({"user_id": ["u1", "u1", "u2"], "device_id": [None, None, "d9"]})
    a = df.select(shard_of(device_key(), 8).alias("s"))["s"].to_list()
    b = df.select(shard_of(device_key(), 8).alias("s"))["s"].to_list()
    assert a == b and a[0] == a[1] and all(0 <= x < 8 for x in a)
    keys = pl.DataFrame({"k": [f"id{i}" for i in range(10_000)]}).select(shard_of(pl.col("k"), 4).alias("s"))
    counts = keys.group_by("s").len()["len"]
    assert counts.len() == 4 and counts.min() > 2_300  # spread evenly


def test_spool_keeps_row_numbers_and_trimmed_user_keys_together(tmp_path):
    (tmp_path / "logins.csv").write_text("ts,user_id,shoe\n2024-03-01T00:00:00Z,u1,1\n2024-03-01T00:00:00Z, u1 ,2\n"
                                         "2024-03-01T00:00:00Z,u2,3\n")
    sf = spool_file("logins", tmp_path / "logins.csv", load_config(), tmp_path / "raw", tmp_path, 16)
    assert (sf.rows_read, sf.extra_columns, sf.blank) == (3, ["shoe"], False)
    parts = {p.parent.name: pl.read_parquet(p) for p in (tmp_path / "raw").rglob("*.parquet")}
    by_user = {tuple(df["user_id"].str.strip_chars().unique().to_list()): df["_row"].to_list()
               for df in parts.values()}
    assert by_user[("u1",)] == [1, 2] and by_user[("u2",)] == [3]
    assert all(name.startswith(f"{SHARD}=") for name in parts)


def test_spool_blank_and_broken_files(tmp_path):
    (tmp_path / "blank.csv").write_text("  \n\n")
    assert spool_file("logins", tmp_path / "blank.csv", load_config(), tmp_path / "r1", tmp_path, 2).blank
    (tmp_path / "nots.csv").write_text("user_id\nu1\n")
    with pytest.raises(InputError, match=r"nots\.csv: missing required column 'ts'"):
        spool_file("logins", tmp_path / "nots.csv", load_config(), tmp_path / "r2", tmp_path, 2)
    (tmp_path / "bad.csv.gz").write_bytes(b"\x1f\x8b not gzip at all")
    with pytest.raises(InputError, match=r"bad\.csv\.gz: cannot read file"):
        spool_file("logins", tmp_path / "bad.csv.gz", load_config(), tmp_path / "r3", tmp_path, 2)


def test_a_full_working_disk_is_said_as_such_not_as_an_unparsable_input(tmp_path, monkeypatch):
    """A slice write that fails for want of space named the input file ("cannot parse as csv (... No space left on
    device)"): now the working folder and the way out (an operations audit)."""
    import fraud.spool as spool

    def full(*a, **k):
        raise pl.exceptions.ComputeError("parquet: underlying IO error: No space left on device (os error 28)")

    monkeypatch.setattr(spool, "_sink", full)
    (tmp_path / "logins.csv").write_text("ts,user_id\n2024-03-01T00:00:00Z,u1\n")
    work = tmp_path / "fraud-scan-x"
    (work / "tmp").mkdir(parents=True)
    with pytest.raises(FraudError, match=r"fraud-scan-x: no space left on the device of the sliced scan's working "
                                         r"folder while spooling .*logins\.csv \(free some, or give --work-dir"):
        spool_file("logins", tmp_path / "logins.csv", load_config(), work / "raw", work / "tmp", 2)


@pytest.mark.parametrize("data", [b"\xff\xfe", b"\xff\xfe\r\x00\n\x00", b"\xfe\xff\x00\n"])
def test_spool_an_empty_utf16_file_is_blank(tmp_path, data):
    # what Excel or PowerShell write for an empty export: blank, as the in-memory reader takes it
    (tmp_path / "devices.csv").write_bytes(data)
    assert spool_file("devices", tmp_path / "devices.csv", load_config(), tmp_path / "r", tmp_path, 2).blank


def test_spool_reads_a_cr_only_file_with_a_long_header(tmp_path):
    # classic-Mac line ends and a header of 5 KiB: no line end in the first 4 KiB, still 4 rows (was 0)
    cols = ["ts", "user_id"] + [f"custom_attribute_{i:03d}" for i in range(250)]
    rows = [",".join([f"2024-03-01T08:0{i}:00Z", f"u{i}"] + [""] * 250) for i in range(4)]
    (tmp_path / "logins.csv").write_bytes(("\r".join([",".join(cols), *rows]) + "\r").encode())
    (tmp_path / "tmp").mkdir()
    sf = spool_file("logins", tmp_path / "logins.csv", load_config(), tmp_path / "r", tmp_path / "tmp", 2)
    assert sf.rows_read == 4 and len(sf.extra_columns) == 250


def test_machine_memory_honours_a_container_limit(tmp_path):
    from fraud.spool import machine_memory_gb

    v2, v1 = tmp_path / "memory.max", tmp_path / "limit"
    v2.write_text("max\n")
    v1.write_text(str(3 * 2**30) + "\n")
    assert machine_memory_gb((str(v2),)) > 3
    assert machine_memory_gb((str(v2), str(v1))) == 3.0
    assert machine_memory_gb((str(tmp_path / "missing"),)) == machine_memory_gb(())


def test_empty_lines_are_found_alike_in_a_file_read_in_chunks_and_whole(tmp_path, monkeypatch):
    """The sliced scan finds a CSV file's empty lines chunk by chunk, the in-memory reader in the whole text:
    the same rows, and the rows the fast CSV reader reads as nulls; CR line ends, a last CR and chunk borders
    inside a line end included."""
    import io
    import random

    from fraud import spool
    from fraud.records import blank_csv_rows

    rng = random.Random(5)
    real_open = open

    class Small:  # 3-byte chunks: every border case of the chunked scan
        def __init__(self, path, mode):
            self.fh = real_open(path, mode)

        def __enter__(self):
            return self

        def __exit__(self, *a):
            self.fh.close()

        def read(self, n):
            return self.fh.read(3)

    for i in range(300):
        lines = [b"h,x"] + [rng.choice([b"", b"1,2", b"\r", b"33,44"]) for _ in range(rng.randint(0, 9))]
        data = rng.choice([b"", b"\n", b"\r\n\n"]) + b"\n".join(lines) + rng.choice([b"", b"\n", b"\n\n", b"\r"])
        p = tmp_path / "f.csv"
        p.write_bytes(data)
        df = pl.read_csv(io.BytesIO(data), infer_schema=False)
        nulls = [k + 1 for k, r in enumerate(df.rows()) if all(v is None for v in r)]
        whole = spool._blank_rows(p)
        monkeypatch.setattr(spool, "open", Small, raising=False)
        chunked = spool._blank_rows(p)
        monkeypatch.undo()
        assert whole == chunked == blank_csv_rows(data) == nulls, data


def test_wide_rows_are_sized_by_their_data_not_only_their_count(tmp_path, monkeypatch):
    """Long strings: 1,000 logins with 4,000-character user ids hold 4 MB of data; compression hides it in
    Parquet (a skewed-data audit's 25 MB file of 10 kB agents held 11 GB), so the file's first rows are measured.
    Their working memory is 8 bytes per byte of data; short rows keep their per-row size."""
    import fraud.spool as spool

    monkeypatch.setattr(spool, "allocator_retains", lambda: False)
    n = 1000
    wide = pl.DataFrame({"ts": ["2024-03-01T08:00:00Z"] * n, "user_id": [f"{i:04d}" + "x" * 3996 for i in range(n)]})
    wide.write_parquet(tmp_path / "wide.parquet")
    wide.write_csv(tmp_path / "wide.csv")
    nbytes = spool.estimate_bytes([tmp_path / "wide.parquet"])
    assert 4_000_000 <= nbytes <= 4_200_000
    assert 4_000_000 <= spool.estimate_bytes([tmp_path / "wide.csv"]) <= 4_030_000  # the file's own size
    assert working_gb({"logins": n}, nbytes) == nbytes * spool.BYTES_PER_DATA_BYTE / 2**30
    narrow = _logins(n)
    narrow.write_parquet(tmp_path / "narrow.parquet")
    small = spool.estimate_bytes([tmp_path / "narrow.parquet"])
    assert working_gb({"logins": n}, small) == n * BYTES_PER_ROW["logins"] / 2**30
