"""Row accounting on the demo data with 1% of the rows corrupted: every corrupted row is rejected with a
reason, nothing else is lost, and rows read = rows used + rows rejected for every input."""
import polars as pl

from fraud.config import load_config
from fraud.pipeline import ScanInputs, scan
from fraud.synth import generate

CORRUPTIONS = {"ts": "not-a-time", "user_id": "", "lat": "123.0", "score": "999"}


def corrupt(df: pl.DataFrame, col: str, bad: str, share: float, seed: int) -> tuple[pl.DataFrame, int]:
    """Replace ``col`` by ``bad`` in a random ``share`` of the rows (deterministic)."""
    n = df.height
    mask = pl.Series(pl.int_range(n, eager=True).hash(seed) % 100 < int(share * 100))
    return df.with_columns(pl.when(mask).then(pl.lit(bad)).otherwise(pl.col(col)).alias(col)), int(mask.sum())


def test_one_percent_corrupted_rows_are_all_accounted_for(tmp_path):
    data = tmp_path / "data"
    generate(data, users=200, seed=4)
    planted = {}
    for i, (kind, col) in enumerate([("logins", "ts"), ("locations", "lat"), ("scores", "score"),
                                     ("devices", "user_id")]):
        df = pl.read_csv(data / f"{kind}.csv", infer_schema=False)
        df, k = corrupt(df, col, CORRUPTIONS.get(col, ""), 0.01, seed=i)
        df.write_csv(data / f"{kind}.csv")
        planted[kind] = k
    res = scan(ScanInputs.from_folder(data), load_config())
    for kind, li in res.loaded.items():
        assert li.rows_read == li.rows_used + li.rows_rejected
        if kind != "devices":  # an empty user_id is allowed in device snapshots
            assert li.rows_rejected >= planted[kind] > 0, kind
    assert res.rejected["reason"].null_count() == 0
