"""DeePMD training backend: data export, committees of seeds, warm start."""

import os
import sys

import numpy as np
import pytest

from conftest import HERE

sys.path.insert(0, os.path.join(HERE, "data"))
from make_deepmd_models import emt_frames  # noqa: E402

DATA = os.path.join(HERE, "data")
FRAMES = os.path.join(DATA, "cu_emt.extxyz")


def test_deepmd_npy_roundtrip(tmp_path):
    from mdsentry.frames import read_frames
    from mdsentry.train.deepmd import write_systems

    frames = read_frames(FRAMES, index=":10")
    systems = write_systems(frames, tmp_path, ["Cu"])
    back = read_frames(tmp_path)
    assert len(systems) == 1 and len(back) == 10
    for a, b in zip(frames, back):
        assert b.get_potential_energy() == pytest.approx(a.get_potential_energy(), abs=1e-12)
        assert np.allclose(b.get_forces(), a.get_forces(), atol=1e-12)
        assert np.allclose(b.get_stress(), a.get_stress(), atol=1e-12)
        assert np.allclose(b.cell.array, a.cell.array) and np.allclose(b.positions, a.positions)


def test_element_missing_from_type_map(tmp_path):
    from mdsentry.frames import read_frames
    from mdsentry.train.deepmd import write_systems

    with pytest.raises(ValueError, match=r"elements \['Cu'\] are not in the type map"):
        write_systems(read_frames(FRAMES, index=":2"), tmp_path, ["Li"])


def test_committee_of_seeds(tmp_path):
    from deepmd.infer import DeepPot

    from mdsentry.frames import read_frames
    from mdsentry.train.deepmd import train_committee

    frames = read_frames(FRAMES, index=":24")
    res = train_committee(frames[::2], frames[1::2], tmp_path, n_models=2, steps=40)
    assert len(res.models) == 2 and all(os.path.isfile(m) for m in res.models)
    assert all(set(r) == {"e_per_atom", "f", "v_per_atom"} for r in res.rmse)
    a = frames[1]
    f = [DeepPot(m).eval(a.positions.reshape(1, -1), a.cell.array.reshape(1, 9),
                         [0] * len(a))[1] for m in res.models]
    assert DeepPot(res.models[0]).get_type_map() == ["Cu"]
    assert np.abs(f[0] - f[1]).max() > 1e-6  # different seeds, different members


def test_warm_start_reduces_force_rmse(tmp_path):
    """New frames at 1500 K: warm-starting member 1 on them lowers the held-out
    force RMSE below that of the model it started from."""
    from mdsentry.frames import read_frames
    from mdsentry.train.deepmd import evaluate, train_committee

    base = os.path.join(DATA, "deepmd", "cu_1.pth")
    ckpt = os.path.join(DATA, "deepmd", "cu_1.ckpt.pt")
    new = emt_frames([1500], per_temperature=40, seed=5)
    new_train, held_out = new[::2], new[1::2]
    before = evaluate(base, held_out)["f"]
    old = read_frames(FRAMES, index="::4")
    res = train_committee(old + new_train, held_out, tmp_path, n_models=1, steps=300,
                          init_models=[ckpt])
    after = res.rmse[0]["f"]
    print(f"held-out force RMSE: {before:.4f} -> {after:.4f} eV/A")
    assert after < 0.9 * before


def test_which_checkpoint_can_warm_start_which_network(tmp_path):
    import json

    from mdsentry.train.deepmd import make_input, warm_compatible

    ckpt = os.path.join(DATA, "deepmd", "cu_1.ckpt.pt")
    assert warm_compatible(ckpt, "se_e2_a", ["Cu"]) == ""
    assert warm_compatible(ckpt, "dpa1", ["Cu"]) == \
        "descriptor.type = se_e2_a in the checkpoint, dpa1 in the template"
    assert warm_compatible(ckpt, "se_e2_a", ["Li", "Cu"]) == "type_map ['Cu'] is not ['Li', 'Cu']"
    wider = make_input("se_e2_a", ["Cu"], [], [], 1, 1)
    wider["model"]["fitting_net"]["neuron"] = [128, 128, 128]
    (tmp_path / "wide.json").write_text(json.dumps(wider))
    assert "fitting_net.neuron = [64, 64] in the checkpoint, [128, 128, 128]" in \
        warm_compatible(ckpt, str(tmp_path / "wide.json"), ["Cu"])
    # seeds, steps and the learning rate do not matter
    wider["model"]["fitting_net"]["neuron"] = [64, 64]
    wider["learning_rate"]["start_lr"] = 0.1
    (tmp_path / "same.json").write_text(json.dumps(wider))
    assert warm_compatible(ckpt, str(tmp_path / "same.json"), ["Cu"]) == ""


def test_cli_trains_from_a_store(tmp_path, capsys):
    """mdsentry train --data store.h5: the labelled frames of the HDF5 store."""
    from mdsentry import store
    from mdsentry.cli import main
    from mdsentry.frames import read_frames

    path = store.create(str(tmp_path / "project.h5"))
    store.append(path, read_frames(FRAMES, index=":20"), source="import:cu_emt.extxyz")
    unlabelled = read_frames(FRAMES, index="20:22")
    for a in unlabelled:
        a.calc = None
    store.append(path, unlabelled, source="md")  # not used for training
    assert main(["train", "--data", path, "--models", "1", "--steps", "20",
                 "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "18 training and 2 validation frames" in out
    assert os.path.isfile(tmp_path / "run" / "model.01" / "model.pth")


def _cut_cells(n=4):
    """Cut-out cells of a rattled 256-atom EMT Cu crystal, labelled by EMT in the cut."""
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator

    from mdsentry.cut import cut

    big = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(4)
    big.rattle(0.08, seed=3)
    big.info["id"] = 7
    cells = []
    for c in range(n):
        small = cut(big, [c * 37], core=2.0, buffer=5.0, mode="cell")
        small.calc = EMT()
        e, f = small.get_potential_energy(), small.get_forces()
        small.calc = SinglePointCalculator(small, energy=e, forces=f)
        cells.append(small)
    return cells


def _spoiled(cells):
    """The same cells with garbage where training must not look: buffer forces, energy."""
    from ase.calculators.singlepoint import SinglePointCalculator

    out = []
    for a in cells:
        b = a.copy()
        f = a.get_forces().copy()
        f[~a.arrays["core"]] = 50.0
        b.calc = SinglePointCalculator(b, energy=a.get_potential_energy() + 1e3, forces=f)
        out.append(b)
    return out


def test_cut_cells_train_on_core_forces_only(tmp_path):
    """Cut-out cells go to their own deepmd systems (no energy, no virial, atom_pref
    n_atoms / n_core on core atoms, 0 on the buffer: a cell's force loss is the mean over
    its core atoms) and the force loss becomes the prefactor loss: the
    members trained with garbage buffer forces and energies of the cut cells are the
    members trained with the true ones (same seed: the same numbers)."""
    import json

    from deepmd.infer import DeepPot

    from mdsentry.frames import read_frames
    from mdsentry.train.deepmd import train_committee

    whole = read_frames(FRAMES, index=":8")
    cells = _cut_cells()
    assert all(0 < a.arrays["core"].sum() < len(a) for a in cells)
    res = {}
    for name, cut_frames in (("true", cells), ("spoiled", _spoiled(cells))):
        res[name] = train_committee(whole + cut_frames, whole[:2], tmp_path / name, n_models=1,
                                    steps=30)
    data = tmp_path / "true" / "data" / "train"
    systems = sorted(data.iterdir())
    cut_sets = [p / "set.000" for p in systems if p.name.startswith("cut.")]
    assert [p.name.startswith("sys.") for p in systems].count(True) == 1 and cut_sets
    prefs = []
    for cut_set in cut_sets:
        assert not (cut_set / "energy.npy").exists() and not (cut_set / "virial.npy").exists()
        pref = np.load(cut_set / "atom_pref.npy")
        prefs += list(pref.reshape(-1, pref.shape[-1]))
    assert len(prefs) == 4
    # each cell's weights, whichever system it went to: n/n_core on its core, 0 elsewhere
    for a in cells:
        want = np.repeat(np.where(a.arrays["core"], len(a) / a.arrays["core"].sum(), 0.0), 3)
        assert sum(p.shape == want.shape and np.allclose(p, want) for p in prefs) == 1
        assert np.isclose(want.mean(), 1.0)
    ones = np.load(data / "sys.000" / "set.000" / "atom_pref.npy")  # whole frames: weight 1
    assert ones.shape == (8, 96) and np.all(ones == 1.0)
    inp = json.loads((tmp_path / "true" / "model.01" / "input.json").read_text())
    loss = inp["loss"]
    assert loss["start_pref_f"] == loss["limit_pref_f"] == 0.0
    assert loss["start_pref_pf"] == 1000 and loss["limit_pref_pf"] == 1
    a = whole[5]
    forces = [DeepPot(r.models[0]).eval(a.positions.reshape(1, -1), a.cell.array.reshape(1, 9),
                                        [0] * len(a))[1] for r in res.values()]
    np.testing.assert_allclose(forces[0], forces[1], rtol=0, atol=1e-10)
    # and the cells do count: without them the member differs
    alone = train_committee(whole, whole[:2], tmp_path / "alone", n_models=1, steps=30)
    f_alone = DeepPot(alone.models[0]).eval(a.positions.reshape(1, -1),
                                            a.cell.array.reshape(1, 9), [0] * len(a))[1]
    assert np.abs(f_alone - forces[0]).max() > 1e-6


def test_collecting_trains_nothing_and_names_the_missing_member(tmp_path):
    """After the nodes' shares (loop.train_shares), rank 0 only collects: a member no
    share trained is an error naming it, not a silent retraining on rank 0's node."""
    from mdsentry.frames import read_frames
    from mdsentry.train.deepmd import train_committee

    frames = read_frames(FRAMES, index=":4")
    (tmp_path / "model.01").mkdir()
    (tmp_path / "model.01" / "member.json").write_text(
        '{"model": "m.pth", "checkpoint": "c.pt", "rmse": null}')
    with pytest.raises(RuntimeError, match=r"member\(s\) \[2\] were not trained"):
        train_committee(frames, [], tmp_path, n_models=2, steps=10, resume=True, collect=True)
    assert not (tmp_path / "data").exists() and not (tmp_path / "model.02").exists()
