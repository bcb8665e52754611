"""The driver's MPI contract: an error on one rank ends the whole job with its message
(never a hang), and a run killed at any stage resumes with the same collectives on
every rank.  Each job runs under `mpirun -np 2`, as users start it."""

import os
import signal
import subprocess
import time

import pytest

from conftest import MPIRUN
from test_loop import MDSENTRY, check_store_matches_fix, env, pretrained, state_of, write_config


def run_to_the_end(argv, timeout):
    """Start a 2-rank job; (returncode, output, seconds), killed after ``timeout`` s."""
    t0 = time.time()
    proc = subprocess.Popen([MPIRUN, "-np", "2", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env(),
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        raise AssertionError(f"the job hung (> {timeout} s):\n{out[-3000:]}") from None
    return proc.returncode, out, time.time() - t0


FAULTS = {
    # LAMMPS error->one on rank 0 of a walker of two ranks (rank 1 waits inside `run`)
    "lammps error on one rank of a 2-rank walker": (
        {"temperatures": [1500.0]}, "dump d all atom 50 /missing/dir/x.dump\n", None,
        "Cannot open dump file"),
    # the same in one of two one-rank walkers: the other walker waits for it at the gather
    "lammps error in one of two walkers": (
        {"temperatures": [900.0, 1500.0]},
        'if "${walker} == 1" then "dump d all atom 50 /missing/dir/x.dump"\n', None,
        "Cannot open dump file"),
    # a Python error in one walker's file handling (its directory cannot be made)
    "OSError in one of two walkers": (
        {"temperatures": [900.0, 1500.0]}, "", "walkers/walker01",
        "walker01"),
}


@pytest.mark.parametrize("name", list(FAULTS))
def test_a_fault_on_one_rank_ends_the_job(tmp_path, name):
    explore, deck_extra, blocker, message = FAULTS[name]
    path = write_config(tmp_path, **pretrained(**explore))
    with open(tmp_path / "in.md", "a") as fh:
        fh.write(deck_extra)
    if blocker:  # a file where the walker's directory must go
        (tmp_path / "run" / blocker).parent.mkdir(parents=True)
        (tmp_path / "run" / blocker).write_text("not a directory\n")
    code, out, seconds = run_to_the_end([MDSENTRY, "run", path, "--no-progress"], timeout=180)
    assert code != 0
    assert message in out and "mdsentry: error:" in out, out[-3000:]
    assert "aborting all 2 MPI ranks" in out, out[-3000:]
    # the run's log keeps the message too (whatever the terminal got)
    assert message in (tmp_path / "run" / "mdsentry.log").read_text()


def _stages(tmp_path):
    return [line for line in (tmp_path / "run" / "mdsentry.log").read_text().splitlines()
            if line.startswith("resuming")]


def test_kill_and_resume_at_every_stage_with_two_walkers_and_rewind(tmp_path):
    """Two walkers of one rank, after_halt = rewind, only the hot one halts.  The run is
    stopped at every stage boundary of the first iteration and resumed by a new process
    each time -- as after a kill there: the state file and the restarts are all a new
    process has.  Resuming at the swap with one walker halted deadlocked (the halted
    walker split the world communicator, the other started its walker).  The run
    finishes, no frame is labelled twice and every candidate the sentries counted is
    stored once."""
    log = tmp_path / "calls.log"
    sections = pretrained(temperatures=[300.0, 2500.0], hi=0.12, lo=0.04, after_halt="rewind")
    sections["train"].update(steps=200, warm_steps=100, jobs=1)
    sections["select"] = {"budget": 6}
    path = write_config(tmp_path, **sections,
                        oracle={"calculator": "oracles_for_tests:counting",
                                "kwargs": {"log": str(log)}, "timeout": 60.0})
    order = ["import", "bootstrap", "first_train", "explore", "select", "label", "train",
             "validate", "swap"]
    for stage in order:
        code, out, _ = run_to_the_end([MDSENTRY, "run", path, "--no-progress", "--stop-after",
                                       stage], timeout=600)
        assert code == 0, out[-3000:]
        assert state_of(tmp_path)["stage"] == (order + ["next"])[order.index(stage) + 1]
        if stage == "explore":
            walkers = state_of(tmp_path)["current"]["row"]["walkers"]
            assert [w["halted"] for w in walkers] == [False, True], walkers
    code, out, _ = run_to_the_end([MDSENTRY, "run", path, "--no-progress"], timeout=900)
    assert code == 0, out[-3000:]
    state = state_of(tmp_path)
    assert state["stage"] == "done"
    it0, it1 = state["history"][0], state["history"][1]
    # the hot walker went back before its halt, the other went on from where it ended
    hot0, hot1 = it0["walkers"][1], it1["walkers"][1]
    assert hot1["start_step"] < hot0["end_step"]
    assert it1["walkers"][0]["start_step"] == it0["walkers"][0]["end_step"]
    mdlog = (tmp_path / "run" / "mdsentry.log").read_text()
    assert "resuming" in mdlog and "stage swap" in mdlog and "rewound to step" in mdlog
    keys = [line.split()[0] for line in log.read_text().splitlines()]
    assert len(keys) == len(set(keys)), "a frame was labelled twice"
    assert len(_stages(tmp_path)) == len(order)  # every process after the first resumed
    check_store_matches_fix(tmp_path, state, whole_log=False)
