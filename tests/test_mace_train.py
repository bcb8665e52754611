"""MACE training backend: E0s from the data, committees of seeds, resume, warm start from
the old weights, LAMMPS exports, predictions equal to mace's own calculator."""

import json
import os
import re
import shutil
import sys

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from conftest import HERE, run_mpi, worker
from mdsentry.train import mace as backend

FRAMES = os.path.join(HERE, "data", "cu_emt.extxyz")

# a model small enough to train in seconds on one thread
TINY = {"model": "MACE", "hidden_irreps": "8x0e", "max_ell": 1, "correlation": 2,
        "num_interactions": 2, "r_max": 4.0, "num_radial_basis": 4, "radial_MLP": "[8, 8]",
        "MLP_irreps": "8x0e", "batch_size": 4, "lr": 0.01}


def cuau_frames(n, seed=0):
    """Rattled 32-atom CuAu fcc cells of varying composition, labelled by EMT."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        atoms = bulk("Cu", "fcc", a=3.7, cubic=True).repeat((2, 2, 2))
        symbols = np.array(atoms.get_chemical_symbols())
        symbols[rng.choice(len(atoms), int(rng.integers(4, 17)), replace=False)] = "Au"
        atoms.set_chemical_symbols(symbols)
        atoms.rattle(0.1, seed=int(rng.integers(2**31)))
        atoms.calc = EMT()
        snap = atoms.copy()
        snap.calc = SinglePointCalculator(snap, energy=atoms.get_potential_energy(),
                                          forces=atoms.get_forces(), stress=atoms.get_stress())
        frames.append(snap)
    return frames


def write_template(path, **changes):
    path.write_text(json.dumps(dict(TINY, **changes)))
    return str(path)


def initial_rmse_f(member_dir):
    """Held-out force RMSE (meV/A) mace logged before its first step."""
    log = open(os.path.join(member_dir, "train.log")).read()
    return float(re.search(r"Initial: .*RMSE_F=\s*([\d.]+) meV", log).group(1))


@pytest.fixture(scope="module")
def committee(tmp_path_factory):
    d = tmp_path_factory.mktemp("mace")
    frames = cuau_frames(30)
    train, valid = frames[:20], frames[20:]
    template = write_template(d / "tiny.json")
    res = backend.train_committee(train, valid, d / "train", n_models=2, steps=100,
                                  template=template, seeds=[1, 2], type_map=["Cu", "Au"])
    return {"res": res, "train": train, "valid": valid, "template": template, "dir": d}


def test_e0s_least_squares():
    rng = np.random.default_rng(1)
    truth = {3: -1.9, 6: -8.1, 8: -4.7}

    def frame(counts, noise=0.0):
        numbers = [z for z, n in counts.items() for _ in range(n)]
        atoms = Atoms(numbers=numbers, positions=rng.random((len(numbers), 3)))
        e = sum(truth[z] * n for z, n in counts.items()) + noise
        atoms.calc = SinglePointCalculator(atoms, energy=e, forces=np.zeros((len(atoms), 3)))
        return atoms

    mixed = [frame({z: int(rng.integers(1, 9)) for z in truth}) for _ in range(12)]
    e0s = backend.fit_e0s(mixed, [3, 6, 8])
    assert all(e0s[z] == pytest.approx(e, abs=1e-9) for z, e in truth.items())
    # fixed E0s (a warm start's) stay, the others fit what those leave
    e0s = backend.fit_e0s(mixed, [3, 6, 8], fixed={3: -1.0})
    assert e0s[3] == -1.0 and set(e0s) == {3, 6, 8}
    e0s = backend.fit_e0s(mixed, [3, 6, 8], fixed={3: truth[3]})
    assert all(e0s[z] == pytest.approx(e, abs=1e-9) for z, e in truth.items())
    # one composition cannot separate the elements: all get the mean energy per atom;
    # an element without atoms (F) gets it too
    same = [frame({3: 2, 8: 1}, noise=0.01 * k) for k in range(4)]
    per_atom = sum(a.get_potential_energy() for a in same) / 12
    e0s = backend.fit_e0s(same, [3, 8, 9])
    assert all(e0s[z] == pytest.approx(per_atom, abs=1e-9) for z in (3, 8, 9))


def test_steps_are_gradient_steps():
    assert backend.epochs_for(2000, 20, 4) == 400   # 5 steps an epoch
    assert backend.epochs_for(2000, 18, 4) == 500   # mace drops the partial batch
    assert backend.epochs_for(7, 3, 3) == 7
    assert backend.epochs_for(0, 20, 4) == 0


def test_training_data_in_mace_keys(tmp_path):
    from ase.io import read

    from mdsentry.frames import read_frames

    frames = read_frames(FRAMES, index=":3")
    (path,) = backend.write_data(frames, tmp_path)
    back = read(path, index=":")
    for a, b in zip(frames, back):
        assert b.info["REF_energy"] == pytest.approx(a.get_potential_energy(), abs=1e-12)
        assert np.allclose(b.arrays["REF_forces"], a.get_forces(), atol=1e-12)
        assert np.allclose(b.info["REF_stress"], a.get_stress(), atol=1e-12)
        assert np.allclose(b.cell.array, a.cell.array) and b.pbc.all()
    with pytest.raises(ValueError, match=r"elements \['Cu'\] are not in the type map"):
        backend.write_data(frames, tmp_path, ["Li"])
    # stress only when every frame has it
    a = frames[0]
    frames[0] = a.copy()
    frames[0].calc = SinglePointCalculator(frames[0], energy=a.get_potential_energy(),
                                           forces=a.get_forces())
    (path,) = backend.write_data(frames, tmp_path)
    assert not any("REF_stress" in b.info for b in read(path, index=":"))


def test_template_rules(tmp_path):
    small = backend._resolved("mace_small")
    assert str(small.hidden_irreps) == "16x0e" and small.max_L == 0 and small.r_max == 5.0
    assert str(backend._resolved("mace_l1").hidden_irreps) == "16x0e+16x1o"
    with pytest.raises(ValueError, match="seed are set by mdsentry"):
        backend.load_template(write_template(tmp_path / "t.json", seed=3))


def test_committee_of_seeds(committee):
    res = committee["res"]
    assert len(res.models) == 2
    assert all(m.endswith(".model-lammps.pt") and os.path.isfile(m) for m in res.models)
    assert all(c.endswith(".model") and os.path.isfile(c) for c in res.checkpoints)
    for r in res.rmse:
        assert set(r) == {"e_per_atom", "f", "v_per_atom"}
        assert all(np.isfinite(v) for v in r.values())
    assert backend.type_map(res.models[0]) == ["Cu", "Au"]
    assert backend.type_map(res.checkpoints[1]) == ["Cu", "Au"]
    a, b = backend.predict(res.models[0], committee["valid"][:1]), \
        backend.predict(res.models[1], committee["valid"][:1])
    assert np.abs(a[0][1] - b[0][1]).max() > 1e-3  # different seeds, different members
    # one set of E0s for the committee
    e0 = [json.load(open(os.path.join(os.path.dirname(c), "e0s.json"))) for c in res.checkpoints]
    assert e0[0] == e0[1] and set(e0[0]["e0s"]) == {"29", "79"}
    # trained: far below the random start
    assert 1000 * res.rmse[0]["f"] < 0.3 * initial_rmse_f(os.path.dirname(res.models[0]))


def test_predict_equals_mace_calculator(committee):
    from mace.calculators import MACECalculator

    res, valid = committee["res"], committee["valid"]
    calc = MACECalculator(model_paths=[res.checkpoints[0]], device="cpu", default_dtype="float64")
    pred = backend.predict(res.models[0], valid[:3])
    for atoms, (e, f, v) in zip(valid[:3], pred):
        a = atoms.copy()
        a.calc = calc
        assert e == pytest.approx(a.get_potential_energy(), abs=1e-10)
        assert np.allclose(f, a.get_forces(), atol=1e-10)
        assert np.allclose(v, -a.get_stress(voigt=False) * a.get_volume(), atol=1e-10)
    rmse = backend.evaluate(res.checkpoints[0], valid)
    assert rmse == pytest.approx(res.rmse[0], rel=1e-9)


def test_pair_style_members():
    members, coeffs = backend.pair_style_members(["/m/a.model-lammps.pt", "/m/b.model-lammps.pt"],
                                                 ["Cu", "Au"])
    assert members == "mace mace"
    assert coeffs == ["/m/a.model-lammps.pt Cu Au", "/m/b.model-lammps.pt Cu Au"]


def test_committee_runs_in_lammps(committee, tmp_path):
    """The exports in LAMMPS's ``pair_style committee`` as pair_style_members writes it:
    the leader's energy and forces are the model's, the members differ."""
    from ase.io import write

    res, atoms = committee["res"], committee["valid"][0]  # cubic: LAMMPS's orientation
    data = tmp_path / "cuau.data"
    write(data, atoms, format="lammps-data", specorder=["Cu", "Au"], atom_style="atomic")
    members, coeffs = backend.pair_style_members(res.models, ["Cu", "Au"])
    commands = [f"pair_style committee {members}",
                *[f"pair_coeff * * {k} {c}" for k, c in enumerate(coeffs, 1)]]
    spec, out = tmp_path / "cases.json", tmp_path / "out.npz"
    spec.write_text(json.dumps([{"name": "c", "data": str(data), "masses": [63.546, 196.97],
                                 "devi": True, "commands": commands}]))
    run_mpi(1, [sys.executable, worker("mace_cases.py"), str(spec), str(out)])
    r = dict(np.load(out))
    ((e, f, _),) = backend.predict(res.models[0], [atoms])
    assert r["c_pe"] == pytest.approx(e, abs=1e-8)
    assert np.allclose(r["c_f"], f, atol=1e-8)
    assert r["c_devi_atom"].max() > 1e-3


def test_which_checkpoint_can_warm_start(committee, tmp_path):
    ckpt, template = committee["res"].checkpoints[0], committee["template"]

    def why(elements=("Cu", "Au"), **changes):
        path = write_template(tmp_path / "t.json", **changes) if changes else template
        return backend.warm_compatible(ckpt, path, list(elements))

    assert why() == ""
    assert why(["Au", "Cu"]) == ""  # mace orders elements by Z
    assert why(lr=0.1, batch_size=2) == ""  # the learning rate and batches do not matter
    assert why(r_max=5.0) == "r_max = 4.0 in the checkpoint, 5.0 in the template"
    assert why(["Cu"]) == "elements ['Cu', 'Au'] in the checkpoint, ['Cu'] in the type map"
    assert why(hidden_irreps="8x0e+8x1o") == \
        "hidden_irreps = 8x0e in the checkpoint, 8x0e+8x1o in the template"
    assert backend.warm_compatible(ckpt, "mace_small", ["Cu", "Au"]) != ""
    with pytest.raises(ValueError, match="mace_run_train rejects template"):
        why(no_such_option=1)


@pytest.mark.slow  # the loop's kill/resume test (test_loop_mace) covers it in CI
def test_resume_keeps_finished_member(committee, tmp_path):
    work = tmp_path / "train"
    shutil.copytree(committee["dir"] / "train", work)
    os.remove(work / "model.02" / "member.json")
    kept = {p: os.stat(p).st_mtime_ns for p in (work / "model.01").rglob("*") if p.is_file()}
    res = backend.train_committee(committee["train"], committee["valid"], work, n_models=2,
                                  steps=5, template=committee["template"], seeds=[1, 2],
                                  type_map=["Cu", "Au"], resume=True)
    assert {p: os.stat(p).st_mtime_ns for p in kept} == kept  # not retrained
    assert res.models[0] == str(work / "model.01" / "mace.model-lammps.pt")
    assert res.rmse[0] == committee["res"].rmse[0]
    assert os.path.isfile(work / "model.02" / "member.json")
    assert res.rmse[1] != committee["res"].rmse[1]  # retrained (5 steps instead of 100)


def test_warm_start_begins_at_the_old_model(committee, tmp_path):
    """The warm member's first validation is the old model's, far below a fresh one's;
    it keeps the E0s and trains at a 4x lower learning rate."""
    old = committee["res"]
    scale = backend._load(old.checkpoints[0]).scale_shift.scale.item()
    assert scale != 1.0  # mace_run_train builds warm models with 1: it must not stay
    res = backend.train_committee(committee["train"], committee["valid"], tmp_path / "warm",
                                  n_models=1, steps=5, template=committee["template"],
                                  init_models=old.checkpoints[:1], seeds=[3],
                                  type_map=["Cu", "Au"])
    mdir = os.path.dirname(res.models[0])
    start = initial_rmse_f(mdir)
    assert start == pytest.approx(1000 * old.rmse[0]["f"], abs=0.006)  # logged to 0.01 meV
    assert start < 0.3 * initial_rmse_f(os.path.dirname(old.models[0]))
    assert res.rmse[0]["f"] < 1.5 * old.rmse[0]["f"]
    assert "--lr 0.0025" in open(os.path.join(mdir, "train.log")).read()
    before = json.load(open(os.path.join(os.path.dirname(old.checkpoints[0]), "e0s.json")))
    after = json.load(open(os.path.join(mdir, "e0s.json")))
    assert after == before
    assert backend._load(res.checkpoints[0]).scale_shift.scale.item() == scale


@pytest.mark.slow
def test_warm_start_fits_e0s_of_new_elements(committee, tmp_path):
    """An element the old committee never saw gets its E0 from the new data; the others
    keep theirs.  With 0 steps the warm model is the old one, but for that E0."""
    old = tmp_path / "old"
    shutil.copytree(os.path.dirname(committee["res"].checkpoints[0]), old)
    meta = json.load(open(old / "e0s.json"))
    json.dump(dict(meta, seen=[29]), open(old / "e0s.json", "w"))  # as if Au were new
    # other frames: refitted to the old committee's own data, Au's E0 would not move
    res = backend.train_committee(cuau_frames(8, seed=7), [], tmp_path / "warm", n_models=1,
                                  steps=0, template=committee["template"],
                                  init_models=[str(old / "mace.model")], type_map=["Cu", "Au"])
    new = json.load(open(tmp_path / "warm" / "model.01" / "e0s.json"))
    assert new["seen"] == [29, 79] and new["e0s"]["29"] == meta["e0s"]["29"]
    delta = new["e0s"]["79"] - meta["e0s"]["79"]
    assert abs(delta) > 1e-6
    frames = committee["valid"][:2]
    for atoms, (e0, f0, _), (e1, f1, _) in zip(frames, backend.predict(old / "mace.model", frames),
                                               backend.predict(res.models[0], frames)):
        assert e1 - e0 == pytest.approx(delta * atoms.get_chemical_symbols().count("Au"),
                                        abs=1e-9)
        assert np.allclose(f1, f0, atol=1e-10)


def test_failed_training_names_the_command(tmp_path):
    frames = cuau_frames(4)
    template = write_template(tmp_path / "bad.json", hidden_irreps="8x0e+4x1o")
    with pytest.raises(RuntimeError, match=r"mace_run_train .*--hidden_irreps 8x0e\+4x1o"):
        backend.train_committee(frames[:3], frames[3:], tmp_path / "t", n_models=1, steps=1,
                                template=template)


@pytest.mark.slow
@pytest.mark.parametrize("template", backend.TEMPLATES)
def test_shipped_templates_train(template, tmp_path):
    frames = cuau_frames(12, seed=2)
    res = backend.train_committee(frames[:8], frames[8:], tmp_path, n_models=1, steps=20,
                                  template=template)
    assert os.path.isfile(res.models[0]) and np.isfinite(res.rmse[0]["f"])


def test_atom_features_of_a_mace_model():
    """Invariant node features, one row per atom, for select.maxdet; the .model and its
    LAMMPS export give the same features."""
    model = os.path.join(HERE, "data", "mace", "cuau.model")
    frames = cuau_frames(2)
    feats = backend.atom_features(model, frames)
    assert [f.shape[0] for f in feats] == [len(a) for a in frames]
    assert feats[0].shape[1] > 0 and np.all(np.isfinite(feats[0]))
    again = backend.atom_features(model + "-lammps.pt", frames[:1])
    assert np.allclose(again[0], feats[0])
