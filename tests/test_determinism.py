"""Same input and config -> byte-identical findings and scores, whatever the input row order."""
import polars as pl

from fraud.pipeline import ScanInputs
from fraud.runner import scan_to
from fraud.synth import generate


def test_shuffled_inputs_give_identical_outputs(tmp_path):
    data = tmp_path / "data"
    generate(data, users=200, seed=3)
    shuffled = tmp_path / "shuffled"
    shuffled.mkdir()
    for name in ("logins", "devices", "locations", "scores"):
        df = pl.read_csv(data / f"{name}.csv", infer_schema=False)
        df.sample(fraction=1.0, shuffle=True, seed=99).write_csv(shuffled / f"{name}.csv")
    a = scan_to(ScanInputs.from_folder(data), tmp_path / "a")
    scan_to(ScanInputs.from_folder(shuffled), tmp_path / "b")
    assert a.findings.height > 50
    for f in ("findings.parquet", "scores.parquet", "profiles.parquet"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
