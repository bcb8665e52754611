"""The active-learning loop with train.backend = "mace": EMT Cu as the oracle, tiny MACE
committees trained from scratch, explored in LAMMPS with pair_style mace members, a kill
during MACE training and the resume."""

import numpy as np

from mdsentry import store
from test_loop import _run_until, check_store_matches_fix, mdsentry, state_of, write_config

TINY = {"model": "MACE", "hidden_irreps": "8x0e", "max_ell": 1, "correlation": 2,
        "num_interactions": 2, "r_max": 4.0, "num_radial_basis": 4, "radial_MLP": "[16, 16]",
        "MLP_irreps": "8x0e", "batch_size": 4, "lr": 0.01, "loss": "weighted",
        "energy_weight": 10.0, "forces_weight": 100.0, "stress_weight": 10.0}


def mace_config(tmp_path, **sections):
    import json

    (tmp_path / "tiny_mace.json").write_text(json.dumps(TINY))
    train = {"backend": "mace", "template": "tiny_mace.json", "models": 2, "steps": 40,
             "jobs": 1}
    train.update(sections.pop("train", {}))
    return write_config(tmp_path, train=train, **sections)


def test_mace_loop_killed_in_training_then_resumed(tmp_path):
    path = mace_config(tmp_path, loop={"max_iterations": 2})
    run = tmp_path / "run"
    member1 = run / "iter.000" / "train0" / "model.01" / "member.json"
    _run_until(path, member1.exists)  # member 1 trained, member 2 in training
    assert state_of(tmp_path)["stage"] == "first_train"
    first = member1.read_text()
    proc = mdsentry("run", path, "--no-progress")
    state = state_of(tmp_path)
    assert state["stage"] == "done", proc.stdout[-3000:]
    assert member1.read_text() == first  # kept, not trained again
    # the committee the walkers ran: two MACE LAMMPS exports
    v0 = [h for h in state["history"] if h["iteration"] == 0][0]
    assert all(m.endswith("-lammps.pt") for m in state["committee"]["models"])
    assert v0["walkers"][0]["end_step"] > 0 and v0["labelled"] > 0
    assert np.isfinite(v0["walkers"][0]["max_devi"]) and v0["walkers"][0]["max_devi"] > 0
    # retrained warm on the new labels, validated, swapped in
    assert state["committee"]["version"] == 1 and v0["accepted"] in (True, False)
    check_store_matches_fix(tmp_path, state, whole_log=False)
    t = store.table(str(run / "frames.h5"))
    assert int(np.sum(t["status"] == store.STATUS["labelled"])) == 12 + v0["labelled"]
