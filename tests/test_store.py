"""The HDF5 frame store: round trips, labels, failures, bad files, and SIGKILL."""

import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from conftest import worker
from mdsentry import store
from mdsentry.frames import read_frames


def _frame(n, seed, labelled=True):
    rng = np.random.default_rng(seed)
    a = Atoms(numbers=rng.choice([3, 6, 8], n), positions=rng.random((n, 3)) * 5,
              cell=np.diag([5.0, 6.0, 7.0]), pbc=True)
    a.arrays["devi"] = rng.random(n)
    if labelled:
        a.calc = SinglePointCalculator(a, energy=-float(seed), forces=rng.random((n, 3)),
                                       stress=rng.random(6))
    return a


def test_roundtrip_variable_sizes(tmp_path):
    path = store.create(str(tmp_path / "s.h5"))
    frames = [_frame(n, k) for k, n in enumerate([4, 9, 1, 30])]
    ids = store.append(path, frames, iteration=2, walker=1, step=[10, 20, 30, 40],
                       temperature=600.0, model_version=3, max_devi=[0.1, 0.2, 0.3, 0.4],
                       source="md")
    assert list(ids) == [0, 1, 2, 3] and store.count(path) == 4
    back = store.read(path)
    for a, b in zip(frames, back):
        assert np.array_equal(a.numbers, b.numbers)
        assert np.array_equal(a.positions, b.positions)
        assert np.array_equal(a.cell.array, b.cell.array) and all(b.pbc)
        assert np.array_equal(a.arrays["devi"], b.arrays["devi"])
        assert b.get_potential_energy() == a.get_potential_energy()
        assert np.array_equal(a.get_forces(), b.get_forces())
        assert np.array_equal(a.get_stress(), b.get_stress())
    assert [b.info["step"] for b in back] == [10, 20, 30, 40]
    assert back[2].info["iteration"] == 2 and back[2].info["source"] == "md"
    assert back[3].info["max_devi"] == 0.4 and back[0].info["status"] == "labelled"


def test_labels_and_failures(tmp_path):
    path = store.create(str(tmp_path / "s.h5"))
    ids = store.append(path, [_frame(n, k, labelled=False) for k, n in enumerate([3, 5, 7])],
                       source="md")
    assert [a.info["status"] for a in store.read(path)] == ["unlabelled"] * 3
    forces = [np.ones((5, 3))]
    store.set_labels(path, [ids[1]], [-1.5], forces, [np.zeros(6)], oracle="EMT")
    store.set_failed(path, [ids[2]], "SCF did not converge", oracle="EMT")
    t = store.table(path)
    assert list(t["status"]) == [0, 1, 2]
    assert t["error"][2] == "SCF did not converge" and t["oracle"][1] == "EMT"
    labelled = store.read(path, status="labelled")
    assert len(labelled) == 1 and labelled[0].get_potential_energy() == -1.5
    assert np.array_equal(labelled[0].get_forces(), forces[0])
    assert [a.info["id"] for a in store.load_frames(path)] == [1]  # training sees labelled frames
    with pytest.raises(ValueError, match="expected"):
        store.set_labels(path, [ids[0]], [0.0], [np.ones((4, 3))])


def test_bad_files(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"this is not HDF5" * 100)
    with pytest.raises(store.StoreError, match="not a readable mdsentry store"):
        store.read(str(bad))
    path = store.create(str(tmp_path / "s.h5"))
    with pytest.raises(store.StoreError, match="exists"):
        store.create(path)
    import h5py

    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = 1
    with pytest.raises(store.StoreError, match="not an mdsentry store"):
        store.count(str(tmp_path / "other.h5"))


def test_sigkill_keeps_every_acknowledged_frame(tmp_path):
    """Kill a writer at random moments; each time the store opens with every frame
    it acknowledged, intact, and a new writer carries on."""
    path = store.create(str(tmp_path / "s.h5"))
    rng = random.Random(1)
    acked = 0
    for trial in range(10):
        proc = subprocess.Popen([sys.executable, worker("store_writer.py"), path],
                                stdout=subprocess.PIPE, text=True)
        first = proc.stdout.readline()  # running: now kill it at a random moment
        assert first.startswith("ACK"), "the writer acknowledged nothing"
        time.sleep(0.05 + 0.6 * rng.random())
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        acks = [int(line.split()[1]) for line in (first + out).splitlines()
                if line.startswith("ACK")]
        acked = acks[-1]
        n = store.count(path)
        assert n in (acked, acked + 3)  # the killed append is all or nothing
        frames = store.read(path)
        for k, a in enumerate(frames):
            assert len(a) == 5 + k % 7 and np.all(a.positions == k)
            assert a.info["step"] == k - k % 3


def test_import_and_export(tmp_path):
    from ase.io import read

    src = os.path.join(os.path.dirname(__file__), "data", "cu_emt.extxyz")
    path = str(tmp_path / "p.h5")
    ids = store.import_frames(path, src)
    assert len(ids) == 120 and store.table(path)["source"][0] == "import:cu_emt.extxyz"
    xyz = store.export(path, tmp_path / "out.extxyz")
    again = read(xyz, ":")
    orig = read(src, ":")
    assert len(again) == 120
    assert np.allclose(again[7].get_forces(), orig[7].get_forces())
    from mdsentry.train import get_backend

    systems = get_backend("deepmd").write_data(store.read(path), tmp_path / "dp")
    back = read_frames(tmp_path / "dp")
    assert len(systems) == 1 and len(back) == 120
    assert back[3].get_potential_energy() == pytest.approx(orig[3].get_potential_energy())


def test_cut_cells_keep_their_core_and_parent(tmp_path):
    """A cut-out cell's per-atom core mask and its parent's id round-trip; whole frames
    carry no mask; a store written before these fields gains them (whole frames)."""
    import h5py

    path = store.create(str(tmp_path / "s.h5"))
    whole = _frame(6, 1)
    store.append(path, [whole], source="md")
    cell = _frame(5, 2)
    cell.arrays["core"] = np.array([True, True, False, False, False])
    (cid,) = store.append(path, [cell], source="cut", cut_from=0)
    a, b = store.read(path)
    assert "core" not in a.arrays and a.info["cut_from"] == -1
    assert b.info["cut_from"] == 0 and b.arrays["core"].tolist() == [True, True, False, False,
                                                                       False]
    assert store.table(path)["cut_from"].tolist() == [-1, 0]
    with h5py.File(path, "a") as f:  # as written before cut-out cells existed
        del f["frames/cut_from"], f["atoms/core"]
    assert store.table(path)["cut_from"].tolist() == [-1, -1]  # read-only: defaults
    assert "core" not in store.read(path, ids=[1])[0].arrays
    store.append(path, [cell], source="cut", cut_from=1)
    t = store.table(path)
    assert t["cut_from"].tolist() == [-1, -1, 1]
    assert store.read(path, ids=[2])[0].arrays["core"].tolist() == [True, True] + [False] * 3
    with h5py.File(path, "r") as f:
        assert f["atoms/core"].shape == (16,) and f["atoms/core"][:11].all()
