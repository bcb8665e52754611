"""The active-learning loop end to end: EMT Cu as the oracle, tiny DeePMD committees.

Each run is a separate `mdsentry run` process (as users start it), on 1 or 2 MPI ranks.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from ase.build import bulk
from ase.io import write

from conftest import BIN, HERE, run_mpi, run_mpi_nodes
from mdsentry import store
from mdsentry.config import ConfigError, dumps, load
from mdsentry.explore import read_trace

MDSENTRY = os.path.join(BIN, "mdsentry")
MODELS = os.path.join(HERE, "data", "deepmd")


def pretrained(**explore):
    """Start from the shipped Cu committee (EMT, 300-1200 K) and its data; explore hotter."""
    data = os.path.join(HERE, "data")
    return {
        "data": {"initial": [os.path.join(data, "cu_emt.extxyz")], "valid_fraction": 0.25,
                 "bootstrap": 0},
        "train": {"models": 2, "steps": 400,
                  "init_models": [os.path.join(MODELS, f"cu_{k}.pth") for k in (1, 2)],
                  "init_checkpoints": [os.path.join(MODELS, f"cu_{k}.ckpt.pt") for k in (1, 2)]},
        "explore": dict({"temperatures": [1500.0], "hi": 0.5}, **explore),
        "select": {"budget": 10},
    }


def write_config(tmp_path, **sections):
    """A small Cu EMT project in tmp_path; keyword sections override the defaults."""
    write(tmp_path / "cu.extxyz", bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2))
    (tmp_path / "in.md").write_text("fix md all nvt temp ${temp} ${temp} 0.1\nthermo 100\n")
    cfg = {
        "workdir": "run",
        "system": {"structure": "cu.extxyz"},
        "explore": {"deck": "in.md", "temperatures": [600.0], "steps": 600, "chunk": 200,
                    "every": 10, "lo": 0.05, "hi": 0.3, "timestep": 0.002},
        "oracle": {"calculator": "emt", "timeout": 60.0},
        "data": {"bootstrap": 12, "rattle": 0.05, "valid_fraction": 0.25},
        "select": {"budget": 8},
        "train": {"models": 2, "steps": 300},
        "loop": {"max_iterations": 2},
    }
    for name, values in sections.items():
        if isinstance(values, dict) and isinstance(cfg.get(name), dict):
            cfg[name].update(values)
        else:
            cfg[name] = values
    path = tmp_path / "run.toml"
    path.write_text(dumps(cfg))
    return str(path)


def env():
    return dict(os.environ, OMP_NUM_THREADS="1",
                PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))


def mdsentry(*args, nprocs=1, timeout=600, check=True, nodes=None):
    """``mdsentry args`` on nprocs ranks, or one rank per name in ``nodes`` (each rank
    told it is on that node: a job of several nodes on this machine)."""
    cmd = [MDSENTRY, *args]
    if nodes:
        return run_mpi_nodes(nodes, cmd, timeout=timeout, check=check, env=env())
    if nprocs > 1:
        return run_mpi(nprocs, cmd, timeout=timeout, check=check, env=env())
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env())
    if check and proc.returncode:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def state_of(tmp_path):
    with open(tmp_path / "run" / "state.json") as fh:
        return json.load(fh)


def check_store_matches_fix(tmp_path, state, whole_log=True):
    """Every candidate/above frame the fix counted is in the store, once."""
    t = store.table(str(tmp_path / "run" / "frames.h5"))
    md = t["source"] == "md"
    walkers = {}
    for row in state["history"]:
        for w in row.get("walkers", []):
            sel = md & (t["iteration"] == row["iteration"]) & (t["walker"] == w["walker"])
            assert sel.sum() == w["candidate"] + w["above"], (row["iteration"], w)
            walkers[w["walker"]] = walkers.get(w["walker"], 0) + int(sel.sum())
    for k, n in walkers.items():
        log = read_trace(str(tmp_path / "run" / "walkers" / f"walker{k:02d}" / "sentry.log"))
        flagged = int(np.sum(log["status"] != "trusted"))
        # one walker instance for the whole run: its log flags exactly the stored frames
        assert flagged == n if whole_log else flagged >= n
    keys = list(zip(t["iteration"][md], t["walker"][md], t["step"][md]))
    assert len(keys) == len(set(keys)), "a candidate frame was stored twice"


# ----------------------------------------------------------- bad configs
BAD = [
    ({"explore": {"temprature": [300.0]}}, r"unknown key 'explore.temprature' \(did you mean 'temperatures'\?\)"),
    ({"explore": {"lo": 0.3, "hi": 0.2}}, r"explore.lo = 0.3 must be positive and below explore.hi = 0.2"),
    ({"train": {"init_models": ["missing.pth", "missing2.pth"]}}, r"train.init_models: no such file .*missing.pth"),
    ({"system": {"structure": "cu.extxyz", "elements": ["Cu", "Xx"]}}, r"system.elements: \['Xx'\] are not element symbols"),
    ({"system": {"structure": "cu.extxyz", "elements": ["Li"]}}, r"system.structure has elements \['Cu'\] not in system.elements \['Li'\]"),
    ({"explore": {"deck": "nope.in"}}, r"explore.deck: no such file .*nope.in"),
    ({"oracle": {"calculator": "vasp"}}, r"oracle.calculator = 'vasp': use one of"),
    ({"train": {"models": 1}}, r"train.models = 1 must be at least 2"),
    ({"loop": {"accurate_ratio": 1.5}}, r"loop.accurate_ratio = 1.5 must be in \(0, 1\]"),
    ({"explore": {"steps": "many"}}, r"explore.steps = 'many' must be of type int"),
    ({"data": {"bootstrap": 0}}, r"no first committee"),
    ({"train": {"template": "se_e3_x"}}, r"train.template: .*se_e3_x is neither a shipped template"),
    ({"explore": {"lo_error": 0.1}}, r"explore.lo_error and explore.hi_error go together"),
    ({"explore": {"lo_error": 0.5, "hi_error": 0.2}}, r"explore.lo_error = 0.5 must be positive and below"),
    ({"explore": {"lo_error": "low", "hi_error": 0.2}}, r"explore.lo_error = 'low' must be a number"),
    ({"explore": {"coverage": 1.0}}, r"explore.coverage = 1.0 must be in \(0, 1\)"),
    ({"explore": {"device": "gpu"}}, r"explore.device = 'gpu' must be one of"),
    ({"explore": {"bias": -1.0}}, r"explore.bias = -1.0 must be >= 0 \(0: off\)"),
    ({"explore": {"bias": 1.0, "bias_width": 0.0}}, r"explore.bias_width = 0.0 positive"),
    ({"explore": {"lammps_args": ["-k", "on", "g", "1", "-sf", "kk"]}},
     r"need LAMMPS package\(s\) \['KOKKOS'\]"),
]


def test_config_dumps_round_trips(tmp_path):
    """config.dumps writes what load reads: strings with quotes and backslashes, lists,
    booleans, inline tables; None (TOML has no null) falls back to the default."""
    import tomllib

    cfg = {"workdir": "run", "system": {"structure": "cu.extxyz"},
           "explore": {"temperatures": [300.0, 600.0], "lo": 0.05, "hi": 0.3,
                       "deck": 'in "md" \\ deck.in', "lo_error": None, "lammps_args": []},
           "oracle": {"calculator": "emt", "kwargs": {"xc": "PBE", "kpts": [2, 2, 2],
                                                      "ldipol": True, "skip": None}},
           "train": {"warm_start": False}}
    text = dumps(cfg)
    assert tomllib.loads(text) == {
        "workdir": "run", "system": {"structure": "cu.extxyz"},
        "explore": {"temperatures": [300.0, 600.0], "lo": 0.05, "hi": 0.3,
                    "deck": 'in "md" \\ deck.in', "lammps_args": []},
        "oracle": {"calculator": "emt", "kwargs": {"xc": "PBE", "kpts": [2, 2, 2], "ldipol": True}},
        "train": {"warm_start": False}}
    write(tmp_path / "cu.extxyz", bulk("Cu", "fcc", a=3.61, cubic=True))
    (tmp_path / 'in "md" \\ deck.in').write_text("fix md all nve\n")
    (tmp_path / "run.toml").write_text(text + "[data]\nbootstrap = 4\n")
    loaded = load(str(tmp_path / "run.toml"))
    assert loaded["explore"]["lo_error"] is None and loaded["train"]["warm_start"] is False
    assert loaded["oracle"]["kwargs"] == {"xc": "PBE", "kpts": [2, 2, 2], "ldipol": True}
    assert loaded["explore"]["deck"].endswith('in "md" \\ deck.in')


@pytest.mark.parametrize("override,message", BAD, ids=[m[:28] for _, m in BAD])
def test_bad_config_message(tmp_path, override, message):
    path = write_config(tmp_path, **override)
    with pytest.raises(ConfigError, match=message):
        load(path)


def test_bad_deck_and_model_elements(tmp_path):
    path = write_config(tmp_path)
    (tmp_path / "in.md").write_text("pair_style lj/cut 2.5\nfix md all nve\n")
    with pytest.raises(ConfigError, match=r"explore.deck: 'pair_style' is set by mdsentry"):
        load(path)
    # a model that does not know an element of the structure
    write(tmp_path / "cuo.extxyz", bulk("Cu", "fcc", a=3.61, cubic=True) + bulk("O", "sc", a=2.0))
    path = write_config(tmp_path, system={"structure": "cuo.extxyz"},
                        train={"init_models": [os.path.join(MODELS, "cu_1.pth"),
                                               os.path.join(MODELS, "cu_2.pth")]})
    (tmp_path / "in.md").write_text("fix md all nve\n")
    with pytest.raises(ConfigError, match=r"cu_1.pth has no type for \['O'\]"):
        load(path)


def test_the_deck_cannot_change_units_or_atom_style(tmp_path):
    path = write_config(tmp_path)
    (tmp_path / "in.md").write_text("units real\natom_style charge\nfix md all nve\n")
    with pytest.raises(ConfigError, match=r"'units' is set by mdsentry.*units metal with "
                       r"atom_style atomic(.|\n)*'atom_style' is set by mdsentry"):
        load(path)


def test_two_initial_files_of_one_name(tmp_path):
    """data.initial with a/cu.extxyz and b/cu.extxyz: both are imported (they were keyed by
    the file name, and the second was silently skipped), and once only."""
    from ase.io import read

    from mdsentry.loop import run

    frames = read(os.path.join(HERE, "data", "cu_emt.extxyz"), ":")
    for sub, part in (("a", frames[:7]), ("b", frames[7:12])):
        os.makedirs(tmp_path / sub)
        write(tmp_path / sub / "cu.extxyz", part)
    path = write_config(tmp_path, data={"initial": [str(tmp_path / "a" / "cu.extxyz"),
                                                    str(tmp_path / "b" / "cu.extxyz")],
                                        "bootstrap": 0})
    for _ in range(2):  # the second time: nothing new
        run(path, progress=False, stop_after="import")
        os.remove(tmp_path / "run" / "state.json")
    t = store.table(str(tmp_path / "run" / "frames.h5"))
    assert sorted(set(t["source"])) == ["import:../a/cu.extxyz", "import:../b/cu.extxyz"]
    assert len(t["source"]) == 12


def test_bad_config_on_every_rank(tmp_path):
    """Two ranks, a bad config: both say why, nobody hangs, exit code 2."""
    path = write_config(tmp_path, explore={"lo": 0.5, "hi": 0.1})
    proc = mdsentry("run", path, nprocs=2, timeout=60, check=False)
    assert proc.returncode != 0
    for rank in (0, 1):
        assert f"[rank {rank}] mdsentry: error: {path}: explore.lo = 0.5" in proc.stderr
    # walkers that do not divide the ranks
    path = write_config(tmp_path, explore={"temperatures": [300.0, 400.0, 500.0]})
    proc = mdsentry("run", path, nprocs=2, timeout=60, check=False)
    assert proc.returncode == 1
    assert proc.stderr.count("2 MPI ranks cannot run 3 walkers") == 2


# ------------------------------------------------------------ end to end
def test_exploration_bias_reaches_the_walkers_only(tmp_path):
    """explore.bias: the walkers' committee carries it (pair_style committee bias A B),
    a production run's does not."""
    from mdsentry.walkers import committee_commands

    path = write_config(tmp_path, **pretrained(bias=0.5, bias_width=0.005))
    cfg = load(path)
    models = cfg["train"]["init_models"]
    assert " bias 0.5 0.005 " in committee_commands(cfg, models, explore=True)[0]
    assert "bias" not in committee_commands(cfg, models)[0]
    mdsentry("run", path, "--no-progress", "--stop-after", "explore")
    log = (tmp_path / "run" / "walkers" / "walker00" / "log.lammps").read_text()
    assert "pair_style committee every 10 bias 0.5 0.005 out_file" in log
    assert state_of(tmp_path)["current"]["row"]["walkers"][0]["end_step"] == 600


def test_end_to_end_one_rank(tmp_path):
    """Also the calibrated thresholds: the given v0 explores with explore.lo/hi, the
    trained v1 with lo/hi made from lo_error/hi_error by its calibration (set in the
    running walker by the hot swap)."""
    path = write_config(tmp_path, **pretrained(lo_error=0.1, hi_error=1.0))
    proc = mdsentry("run", path, "--no-progress")
    state = state_of(tmp_path)
    assert state["stage"] == "done" and state["done"].startswith(("iteration budget", "converged"))
    it0, it1 = [h for h in state["history"] if h["iteration"] >= 0]
    # the retrained committee extrapolates less on the same walker
    assert it1["walkers"][0]["max_devi"] < it0["walkers"][0]["max_devi"]
    assert it1["walkers"][0]["median_devi"] < it0["walkers"][0]["median_devi"]
    assert it0["labelled"] == it0["selected"] > 0 and it0["accepted"] is True
    # hot swap kept the simulation: velocities bitwise, positions, step
    kept = it0["swap_kept"]["0"]
    assert kept["v"] and kept["x"] and kept["x_bitwise_unwrapped_atoms"] and kept["step"]
    assert it1["walkers"][0]["start_step"] == it0["walkers"][0]["end_step"]
    check_store_matches_fix(tmp_path, state)
    # calibration of v1 on the held-out frames: thresholds = targets / the largest quantile
    from mdsentry import calibration

    cal = calibration.load(str(tmp_path / "run" / "iter.000" / "calibration.json"))
    q = cal["quantile"]["Cu"]
    assert 0 < q < 100 and cal["n"]["Cu"] >= 100 and cal["coverage"] == 0.9
    assert it0["thresholds"] == [0.05, 0.5]
    assert it1["thresholds"] == pytest.approx([0.1 / q, 1.0 / q])
    assert state["committee"]["thresholds"] == it1["thresholds"]
    assert (tmp_path / "run" / "iter.000" / "calibration.png").stat().st_size > 10_000
    log = (tmp_path / "run" / "walkers" / "walker00" / "sentry.log").read_text()
    assert log.count("thresholds now") == 1 and "calibration" in proc.stdout
    # the table, the plots, status and export
    assert "iter  model" in proc.stdout and f"finished: {state['done']}" in proc.stdout
    for png in ("learning_curve.png", "deviation.png", "parity.png"):
        assert os.path.getsize(tmp_path / "run" / png) > 10_000
    # the learning curve measures every committee on the same (the final) held-out frames:
    # the given v0 and the trained v1; v1's point is its validation (no labels came after)
    from mdsentry.plots import fixed_set_rmse

    with open(tmp_path / "run" / "config.json") as fh:
        points, n_valid = fixed_set_rmse(str(tmp_path / "run"), json.load(fh), state)
    assert [(v, acc) for v, acc, _ in points] == [(0, True), (1, True)]
    assert n_valid == len(store.read(str(tmp_path / "run" / "frames.h5"), status="labelled",
                                     split="valid"))
    assert points[1][2]["f"] == pytest.approx(it0["rmse"]["f"], rel=1e-6)
    assert points[0][2]["f"] == pytest.approx(it0["rmse_old"]["f"], rel=1e-6)
    status = mdsentry("status", path).stdout
    assert "import:" in status and "cu_emt.extxyz" in status and "md " in status
    assert "oracle calls so far: 10" in status
    mdsentry("export", path, "--out", str(tmp_path / "out.xyz"))
    from ase.io import read
    assert len(read(tmp_path / "out.xyz", ":")) == 120 + it0["labelled"]


@pytest.mark.slow  # two loop runs (~95 s); the budget logic itself: test_what_can_be_extended
def test_a_finished_run_goes_on_with_a_larger_budget(tmp_path):
    path = write_config(tmp_path, **pretrained(), loop={"max_iterations": 1})
    mdsentry("run", path, "--no-progress")
    first = state_of(tmp_path)
    assert first["done"] == "iteration budget spent (1)" and len(first["history"]) == 1
    assert "selected" not in first["history"][0]  # stopped before selection
    again = mdsentry("run", path, "--no-progress").stdout
    assert "extending" not in again and state_of(tmp_path) == first  # same budget: stays done

    path = write_config(tmp_path, **pretrained(), loop={"max_iterations": 2})
    out = mdsentry("run", path, "--no-progress").stdout
    state = state_of(tmp_path)
    assert f"iteration 0's {first['history'][0]['candidates']} candidates go to selection" in out
    assert state["stage"] == "done" and state["done"] == "iteration budget spent (2)"
    it0, it1 = state["history"]
    assert it0["walkers"] == first["history"][0]["walkers"]
    assert it0["labelled"] == it0["selected"] > 0 and it0["accepted"] is True
    assert state["committee"]["version"] == 1 and state["labels_used"] == it0["labelled"]
    # the walker goes on from where the first run left it
    assert it1["walkers"][0]["start_step"] == it0["walkers"][0]["end_step"]
    assert it1["walkers"][0]["median_devi"] < it0["walkers"][0]["median_devi"]
    check_store_matches_fix(tmp_path, state, whole_log=False)

    path = write_config(tmp_path, **pretrained(temperatures=[900.0, 1500.0]),
                        loop={"max_iterations": 3})
    proc = mdsentry("run", path, "--no-progress", nprocs=2, check=False)
    assert proc.returncode != 0
    assert "was run with 1 walkers; explore.temperatures now has 2" in proc.stdout + proc.stderr


def test_what_can_be_extended():
    from mdsentry.loop import extendable

    cfg = {"loop": {"max_iterations": 4, "max_labels": 100}}
    state = {"iteration": 1, "labels_used": 20}
    assert extendable(cfg, dict(state, done="iteration budget spent (2)"))
    assert extendable(cfg, dict(state, done="label budget spent (20 oracle calls)"))
    assert not extendable(cfg, dict(state, done="converged: every walker accurate >= 95 %"))
    assert not extendable(cfg, dict(state, iteration=3, done="iteration budget spent (4)"))
    assert not extendable(cfg, dict(state, labels_used=100, done="label budget spent (100)"))


def test_two_walkers_of_one_rank_with_a_failing_oracle(tmp_path):
    """mpirun -np 2, two walkers; the oracle raises for some frames and hangs for others;
    selection by maxdet on the committee's per-atom features."""
    log = tmp_path / "calls.log"
    path = write_config(
        tmp_path, **dict(pretrained(temperatures=[1300.0, 1500.0]),
                         select={"budget": 10, "method": "maxdet"}),
        oracle={"calculator": "oracles_for_tests:counting", "timeout": 5.0, "retries": 0,
                "kwargs": {"log": str(log), "fail_every": 3, "hang_every": 4}})
    proc = mdsentry("run", path, "--no-progress", nprocs=2, timeout=900)
    assert "candidates by maxdet" in proc.stdout
    state = state_of(tmp_path)
    assert state["stage"] == "done"
    it0 = state["history"][0]
    assert [w["walker"] for w in it0["walkers"]] == [0, 1]
    assert it0["walkers"][0]["temperature"] == 1300.0 and it0["walkers"][1]["temperature"] == 1500.0
    check_store_matches_fix(tmp_path, state)
    t = store.table(str(tmp_path / "run" / "frames.h5"))
    failed = t["status"] == store.STATUS["failed"]
    # calls 2, 5, 8 raise, 3 and 7 hang: 5 of the 10 selected frames fail, 5 are labelled
    assert it0["selected"] == 10 and it0["failed"] == 5 and it0["labelled"] == 5
    errors = sorted(t["error"][failed])
    assert errors == ["RuntimeError: SCF did not converge"] * 3 + ["timeout after 5.0 s"] * 2
    assert it0["failed"] == int(np.sum(failed & (t["iteration"] == 0)))
    assert set(it0["swap_kept"]) == {"0", "1"}


def test_one_walker_of_two_ranks_rewinds_after_a_halt(tmp_path):
    """One walker on two ranks that are two nodes; hi low enough to halt; after_halt =
    rewind.  Each node's first rank trains its share of the committee.  Selection:
    uniform among the candidates (select.method = "random")."""
    path = write_config(tmp_path, **dict(pretrained(hi=0.12, lo=0.04, after_halt="rewind"),
                                         select={"budget": 3, "method": "random"}))
    mdsentry("run", path, "--no-progress", nodes=["nodeA", "nodeB"], timeout=900)
    state = state_of(tmp_path)
    assert state["stage"] == "done"
    check_store_matches_fix(tmp_path, state, whole_log=False)  # a rewind starts a new instance
    it0, it1 = state["history"][0], state["history"][1]
    w0, w1 = it0["walkers"][0], it1["walkers"][0]
    assert w0["halted"] and w0["above"] == 1 and w0["end_step"] == w0["halt_step"]
    # back to the last chunk end below lo (or the start): before the halt, on a chunk boundary
    assert w1["start_step"] < w0["end_step"] and w1["start_step"] % 200 == 0
    log = (tmp_path / "run" / "mdsentry.log").read_text()
    assert f"walkers rewound to step {w1['start_step']}" in log
    assert it0["candidates"] > 3 and it0["selected"] == 3
    assert f"selected 3 of {it0['candidates']} candidates by random" in log
    # the rewound walker's statistics are its own checks, not the earlier lines of the
    # log that share its step numbers
    trace = read_trace(str(tmp_path / "run" / "walkers" / "walker00" / "sentry.log"))
    first_halt = int(np.flatnonzero(trace["status"] == "above")[0])
    after = trace["value"][first_halt + 1:]
    assert w1["max_devi"] == pytest.approx(after.max())
    assert w1["median_devi"] == pytest.approx(np.median(after))
    # member 1 trained on node A (rank 0), member 2 on node B (rank 1), each from its copy
    train = tmp_path / "run" / "iter.000" / "train"
    for member, data in [("model.01", "data.0"), ("model.02", "data.1")]:
        inp = json.loads((train / member / "input.json").read_text())
        assert all(f"/{data}/" in s for s in inp["training"]["training_data"]["systems"])


# ------------------------------------------------------------ kill + resume
def _run_until(path, condition, timeout=600):
    """Start `mdsentry run`, SIGKILL it once condition() holds."""
    proc = subprocess.Popen([MDSENTRY, "run", path, "--no-progress"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=env(), start_new_session=True)
    t0 = time.time()
    while not condition():
        if proc.poll() is not None:
            raise AssertionError("run ended before the kill:\n" + proc.stdout.read().decode())
        if time.time() - t0 > timeout:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError("condition not reached")
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its oracle / dp children
    proc.wait()


@pytest.mark.slow  # 135 s; kills at every stage boundary: test_mpi_contract, mid-training: MACE
def test_kill_mid_labelling_and_mid_training_then_resume(tmp_path):
    log = tmp_path / "calls.log"
    # members one after another, so that the kill lands between two of them
    path = write_config(tmp_path, oracle={"calculator": "oracles_for_tests:counting",
                                          "kwargs": {"log": str(log), "delay": 0.4},
                                          "timeout": 60.0},
                        train={"models": 2, "steps": 300, "jobs": 1},
                        explore={"lo_error": 0.1, "hi_error": 1.0})
    run = tmp_path / "run"
    h5 = str(run / "frames.h5")

    def mid_labelling():  # some iteration-0 candidates labelled, not all
        if not os.path.exists(run / "iter.000" / "label" / "cache"):
            return False
        return len(os.listdir(run / "iter.000" / "label" / "cache")) >= 3

    _run_until(path, mid_labelling)
    assert state_of(tmp_path)["stage"] == "label"
    member1 = run / "iter.000" / "train" / "model.01" / "member.json"
    _run_until(path, member1.exists)
    assert state_of(tmp_path)["stage"] == "train"
    mdsentry("run", path, "--no-progress")
    state = state_of(tmp_path)
    assert state["stage"] == "done"
    # no frame was sent to the oracle twice, and every stored label is there once
    keys = [line.split()[0] for line in log.read_text().splitlines()]
    assert len(keys) == len(set(keys)) == 12 + state["history"][1]["selected"]
    check_store_matches_fix(tmp_path, state, whole_log=False)
    t = store.table(h5)
    assert int(np.sum(t["status"] == store.STATUS["labelled"])) == len(keys)
    # member 1 was trained once; the committee after the kill is complete
    train_log = (run / "iter.000" / "train" / "model.01" / "train.log").read_text()
    assert train_log.count("dp --pt train") == 1
    assert state["committee"]["version"] == 1 and len(state["committee"]["models"]) == 2
    # calibrated thresholds survive the kills: the first committee's (calibrated on the
    # bootstrap's held-out frames) in the restarted walkers, then v1's after the swap
    from mdsentry import calibration

    v0 = calibration.load(str(run / "iter.000" / "train0" / "calibration.json"))
    it0, it1 = [h for h in state["history"] if h.get("walkers")]
    assert it0["thresholds"] == pytest.approx([0.1 / v0["quantile"]["Cu"],
                                               1.0 / v0["quantile"]["Cu"]])
    assert it1["thresholds"] == state["committee"]["thresholds"]
    # the walker's fix was made twice (at the first exploration; rebuilt at the swap after
    # the kills), each time with the committee's thresholds of that moment
    sentry_log = (run / "walkers" / "walker00" / "sentry.log").read_text()
    los = [float(line.split("lo = ")[1].split()[0]) for line in sentry_log.splitlines()
           if "appends: lo =" in line]
    assert los == pytest.approx([it0["thresholds"][0], it1["thresholds"][0]], rel=1e-5)


@pytest.mark.slow  # 95 s; cut cells train on core forces only: test_train's cut-cell test
def test_large_candidates_are_labelled_as_cut_cells(tmp_path):
    """A 500-atom Cu walker with select.cut_above = 200: the selected candidates are cut
    into cluster cells around their uncertain atoms (buffer = the committee's rcut), the
    cells are labelled by EMT and trained on their core forces only; the parents are
    never labelled; the row counts the atoms the oracle saw."""
    path = write_config(tmp_path, **dict(
        pretrained(temperatures=[1500.0], steps=200, chunk=200),
        select={"budget": 4, "cut_above": 200, "cut_core": 2.6, "cut_max": 2},
        train={**pretrained()["train"], "steps": 60}), loop={"max_iterations": 2})
    write(tmp_path / "cu.extxyz", bulk("Cu", "fcc", a=3.61, cubic=True).repeat(5))
    proc = mdsentry("run", path, "--no-progress", timeout=900)
    assert "into" in proc.stdout and "cells (cluster, core 2.6 A, buffer 5 A)" in proc.stdout
    t = store.table(str(tmp_path / "run" / "frames.h5"))
    cells = np.flatnonzero(t["cut_from"] >= 0)
    assert 1 <= len(cells) <= 4
    parents = np.unique(t["cut_from"][cells])
    assert all(t["split"][p] == "cut" and t["status"][p] == store.STATUS["unlabelled"]
               and t["natoms"][p] == 500 for p in parents)
    assert all(t["source"][c] == "cut" and t["split"][c] == "train" and t["natoms"][c] < 300
               for c in cells)
    assert all(t["status"][c] == store.STATUS["labelled"] for c in cells)
    row = state_of(tmp_path)["history"][0]
    assert row["oracle_atoms"] == int(t["natoms"][row_ids(t, row)].sum())
    assert {"explore", "select", "label", "train", "validate"} <= set(row["seconds"])
    assert all(v >= 0 for v in row["seconds"].values())
    frames = store.read(str(tmp_path / "run" / "frames.h5"), ids=cells)
    for cell in frames:
        assert 0 < cell.arrays["core"].sum() < len(cell)
        # each cell is centred on an uncertain atom (deviation at or above lo)
        assert cell.info["max_devi"] >= 0.05
    # the training data: cells in systems of their own with core weights
    data = tmp_path / "run" / "iter.000" / "train" / "data" / "train"
    assert any(p.name.startswith("cut.") for p in data.iterdir())
    inp = json.loads((tmp_path / "run" / "iter.000" / "train" / "model.01" / "input.json")
                     .read_text())
    assert inp["loss"]["start_pref_f"] == 0 and inp["loss"]["start_pref_pf"] > 0


def row_ids(t, row):
    """Ids of the frames the oracle got in this row's iteration (labelled or failed)."""
    sent = (t["status"] != store.STATUS["unlabelled"]) & (t["iteration"] == row["iteration"])
    return np.flatnonzero(sent & np.array([not s.startswith("import:") for s in t["source"]]))
