"""mdsentry compare: DeePMD and MACE committees on the same frames, side by side."""

import json
import os

import numpy as np
import pytest
from ase.io import read

from conftest import HERE
from test_loop_mace import TINY

FRAMES = os.path.join(HERE, "data", "cu_emt.extxyz")


@pytest.mark.slow
def test_compare_reports_both_backends(tmp_path):
    from mdsentry.compare import compare
    from mdsentry.train import get_backend

    frames = read(FRAMES, ":")
    cold, hot = frames[:60], frames[90:]  # 300-600 K to train on, 1200 K to transfer to
    (tmp_path / "tiny.json").write_text(json.dumps(TINY))
    report = compare(cold[:40], cold[40:50], tmp_path / "cmp", transfer={"1200K": hot[:10]},
                     n_models=2, steps={"deepmd": 200, "mace": 40},
                     templates={"mace": str(tmp_path / "tiny.json")}, md_steps=10, jobs=2)
    for name in ("deepmd", "mace"):
        row = report["backends"][name]
        # the table's held-out force RMSE is the mean of the members' own validation
        own = [get_backend(name).evaluate(m, cold[40:50])["f"] for m in row["models"]]
        assert row["valid"]["f"]["mean"] == pytest.approx(np.mean(own), rel=1e-9)
        assert row["valid"]["f_element"]["Cu"] == pytest.approx(np.mean(own), rel=1e-9)
        assert set(row["valid"]) >= {"e", "f", "v", "s"}
        assert row["transfer"]["1200K"]["f"]["mean"] > 0
        assert row["md"]["steps_per_s"] > 0 and row["md"]["atoms"] == 32
        assert row["train_wall_seconds"] > 0
    text = (tmp_path / "cmp" / "compare.md").read_text()
    assert "| | deepmd | mace |" in text and "1200K: E / F RMSE" in text
    assert os.path.getsize(tmp_path / "cmp" / "compare_parity.png") > 10_000
