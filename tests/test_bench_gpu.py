"""benchmarks/gpu/bench_gpu.py, the harness users run on GPU nodes, kept working where
no GPU is: its cases on the CPU (tiny models, a few steps) and its placement report
under mpirun with two GPUs declared.  Timings are not asserted (benchmarks say them)."""

import json
import os
import sys

from conftest import HERE, run_mpi

SCRIPT = os.path.join(os.path.dirname(HERE), "benchmarks", "gpu", "bench_gpu.py")


def test_cases_run_on_the_cpu(tmp_path):
    out = tmp_path / "rows.json"
    run_mpi(1, [sys.executable, SCRIPT, "--device", "cpu", "--atoms", "108", "--every", "1",
                "10", "--steps", "4", "--repeat", "1", "--json", str(out)], timeout=600)
    got = json.loads(out.read_text())
    assert got["device"] == "cpu" and "cores available" in got["hardware"]
    cases = [(r["backend"], r["case"]) for r in got["rows"]]
    assert cases == [(b, c) for b in ("deepmd", "mace")
                     for c in ("member alone", "committee N=4 every 1", "committee N=4 every 10")]
    for r in got["rows"]:
        assert r["atoms"] == 108 and r["steps_per_s"] > 0
        assert r["atom_steps_per_s"] == r["steps_per_s"] * 108
    alone = [r for r in got["rows"] if r["case"] == "member alone"]
    assert all(r["time_ratio"] == 1.0 for r in alone)


def test_placement_report_on_two_gpus(tmp_path):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="4,6")
    env.pop("MDSENTRY_NODE_GPUS", None)
    proc = run_mpi(2, [sys.executable, SCRIPT, "--placement"], env=env, timeout=300)
    rows = [line.split() for line in proc.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert [(r[0], r[2]) for r in rows[:2]] == [("0", "4"), ("1", "6")]
    assert "2 distinct GPUs for 2 ranks" in proc.stdout
