"""Labelling: EMT through the pool equals EMT; failures and hangs are recorded,
never fatal; nothing is labelled twice; the pool spans MPI ranks."""

import json
import os
import sys
import time

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from conftest import HERE, run_mpi, worker
from mdsentry import store
from mdsentry.label import label_frames, label_store


def cu_frames(n, seed=0):
    frames = []
    for k in range(n):
        a = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 2, 2))
        a.rattle(0.05, seed=seed + k)
        a.positions[0, 0] = float(k)  # the test oracles key on this
        frames.append(a)
    return frames


def test_emt_labels_equal_direct_emt(tmp_path):
    frames = cu_frames(3)
    results = label_frames(frames, {"calculator": "emt"}, tmp_path, progress=False)
    for a, r in zip(frames, results):
        ref = a.copy()
        ref.calc = EMT()
        assert r["ok"] and r["attempts"] == 1
        assert r["energy"] == pytest.approx(ref.get_potential_energy(), abs=1e-10)
        assert np.allclose(r["forces"], ref.get_forces(), atol=1e-10)
        assert np.allclose(r["stress"], ref.get_stress(), atol=1e-10)


def test_failures_and_hangs_are_recorded(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    path = store.create(str(tmp_path / "s.h5"))
    store.append(path, cu_frames(5), source="md")
    oracle = {"calculator": "oracles_for_tests:flaky", "name": "flaky-emt",
              "kwargs": {"fail_above": 2.5, "hang_above": 3.5}}
    t0 = time.perf_counter()
    # a workdir whose path has "out" in it (the error file was named by replacing every
    # "out" in the whole path: the oracle's message was lost under /scratch/output/)
    counts = label_store(path, oracle, tmp_path / "output" / "label", timeout=3.0, retries=1,
                         progress=False)
    assert counts == (3, 2)
    assert time.perf_counter() - t0 < 60  # the hung frame was killed, twice
    t = store.table(path)
    assert list(t["status"]) == [1, 1, 1, 2, 2]
    assert "SCF did not converge" in t["error"][3]
    assert t["error"][4] == "timeout after 3.0 s"
    assert set(t["oracle"]) == {"flaky-emt"}
    # nothing is labelled again, failures are not retried by later calls
    assert label_store(path, oracle, tmp_path / "label2", timeout=3.0, progress=False) == (0, 0)


def test_pool_over_two_ranks(tmp_path):
    path = store.create(str(tmp_path / "s.h5"))
    frames = cu_frames(6, seed=3)
    store.append(path, frames, source="md")
    run_mpi(2, [sys.executable, worker("label_pool.py"), path, str(tmp_path / "w")])
    reports = [json.load(open(tmp_path / "w" / f"rank{r}.json")) for r in (0, 1)]
    assert sorted(r["rank"] for r in reports) == [0, 1]
    assert all(r["counts"] == [6, 0] for r in reports)
    labelled = store.read(path, status="labelled")
    for a, b in zip(frames, labelled):
        ref = a.copy()
        ref.calc = EMT()
        assert b.get_potential_energy() == pytest.approx(ref.get_potential_energy(), abs=1e-10)


def test_error_on_rank0_reaches_every_rank(tmp_path):
    """A bad frame id fails on rank 0 (the store reader): both ranks get the error."""
    path = store.create(str(tmp_path / "s.h5"))
    store.append(path, cu_frames(2), source="md")
    run_mpi(2, [sys.executable, worker("label_pool.py"), path, str(tmp_path / "w"), "0,7"],
            timeout=120)
    reports = [json.load(open(tmp_path / "w" / f"rank{r}.json")) for r in (0, 1)]
    for r in reports:
        assert "IndexError" in r["counts"][0]
