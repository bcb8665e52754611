"""fix sentry: halts at the first check above hi, on 1 and 2 ranks, in one run
or in `run N pre no` chunks; reports every candidate; runs continue afterwards;
the halted flag describes the current run; the halt of a `run 0` is not lost."""

import json
import sys

import numpy as np
import pytest

from conftest import run_mpi, worker


def sentry(nprocs, mode, d, lo=None, hi=None):
    argv = [sys.executable, worker("sentry_run.py"), "--mode", mode, "--dir", str(d)]
    if lo is not None:
        argv += ["--lo", repr(float(lo)), "--hi", repr(float(hi))]
    run_mpi(nprocs, argv)
    with open(d / f"{mode}_{nprocs}.json") as fh:
        return json.load(fh)


def read_log(path):
    rows = [line.split() for line in open(path) if not line.startswith("#")]
    return np.array([int(r[0]) for r in rows]), np.array([float(r[1]) for r in rows])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Every check of an un-halted run, and thresholds chosen from it with margins
    far larger than round-off, so that 1 and 2 ranks must classify alike."""
    d = tmp_path_factory.mktemp("sentry")
    sentry(1, "ref", d)
    steps, values = read_log(d / "ref_1.log")
    csteps, cvalues = read_log(d / "ref_1_compute.log")
    k = next(i for i in range(10, len(values)) if values[i] > 1.05 * values[:i].max())
    hi = 0.5 * (values[k] + values[:k].max())
    below = np.sort(values[:k])
    gaps = np.diff(below) / below[1:]
    j = int(np.argmax(gaps[len(gaps) // 4: 3 * len(gaps) // 4])) + len(gaps) // 4
    lo = 0.5 * (below[j] + below[j + 1])
    return dict(dir=d, steps=steps, values=values, csteps=csteps, cvalues=cvalues,
                k=k, lo=lo, hi=hi)


def test_reference_sources_agree(reference):
    assert np.array_equal(reference["steps"], np.arange(0, 401, 5))
    # compute and variable sources are checked from the first step after setup
    assert np.array_equal(reference["csteps"], reference["steps"][1:])
    assert np.allclose(reference["cvalues"], reference["values"][1:], rtol=1e-6)  # %e in the log


@pytest.mark.parametrize("mode", ["halt", "chunk"])
@pytest.mark.parametrize("nprocs", [1, 2])
def test_halt_at_first_check_above_hi(reference, mode, nprocs):
    r = reference
    steps, values, k, lo, hi = r["steps"], r["values"], r["k"], r["lo"], r["hi"]
    out = sentry(nprocs, mode, r["dir"], lo, hi)
    vec = out["vector"]

    assert out["step"] == steps[k]                      # stopped at that very step
    assert vec[3] == 1 and vec[6] == steps[k]           # halted flag, halt step
    assert vec[0] == pytest.approx(values[k], rel=1e-6)
    expect_cand = [s for s, v in zip(steps[:k], values[:k]) if lo <= v < hi]
    expect_trusted = [s for s, v in zip(steps[:k], values[:k]) if v < lo]
    assert len(expect_cand) > 0 and len(expect_trusted) > 0
    assert vec[1] == len(expect_trusted) and vec[4] == expect_trusted[-1]
    assert vec[2] == len(expect_cand) and vec[5] == 1

    # every candidate reported with its step, then the halting frame
    rec = np.array(out["records"])
    assert [int(s) for s in rec[:-1, 0]] == expect_cand
    assert np.all(rec[:-1, 3] == 1) and rec[-1, 3] == 2 and rec[-1, 0] == steps[k]
    assert np.allclose(rec[:, 1], [values[list(steps).index(int(s))] for s in rec[:, 0]],
                       rtol=1e-6)

    # continue semantics: the next run goes on (it may halt again at a later check)
    assert out["step_after"] > out["step"]
    after = out["vector_after"]
    if after[3]:
        assert out["step_after"] == after[6] and after[0] >= hi
    else:
        assert out["step_after"] == out["step"] + 20
    assert after[1] + after[2] + after[5] == (out["step_after"]) // 5 + 1  # no frame counted twice


def test_frames_file_matches_records(reference):
    from ase.io import read

    r = reference
    out = sentry(2, "halt", r["dir"], r["lo"], r["hi"])
    frames = read(str(r["dir"] / "halt_2.xyz"), index=":")
    rec = np.array(out["records"])
    assert len(frames) >= len(rec)  # the continued run may add frames
    for atoms, row in zip(frames, rec):
        assert atoms.info["step"] == int(row[0])
        assert atoms.info["max_devi"] == pytest.approx(row[1], rel=1e-12)
        assert atoms.info["status"] == ("candidate" if row[3] == 1 else "above")
        assert len(atoms) == 256 and set(atoms.get_chemical_symbols()) == {"Ar"}
        assert np.array_equal(atoms.arrays["id"], np.arange(1, 257))
        assert atoms.arrays["devi"].max() == pytest.approx(row[1], rel=1e-12)
        assert atoms.arrays["id"][np.argmax(atoms.arrays["devi"])] == int(row[2])


@pytest.mark.parametrize("nprocs", [1, 2])
def test_minimization(tmp_path, nprocs):
    # never halts: every minimizer iteration is checked
    out = sentry(nprocs, "min", tmp_path, 1e-9, 1e9)
    assert out["vector"][3] == 0 and out["step"] > 0
    assert out["vector"][1] + out["vector"][2] >= out["step"] // 5
    # halts at the first check (setup): the minimizer performs no iteration
    out = sentry(nprocs, "min", tmp_path, -1.0, -0.5)
    assert out["vector"][3] == 1 and out["vector"][6] == 0 and out["step"] == 0


def thermo_blocks(path):
    """Thermo rows (step, halted, halt step) of each run in a LAMMPS log."""
    blocks = []
    for line in open(path):
        words = line.split()
        if words[:1] == ["Step"]:
            blocks.append([])
        elif blocks and len(words) == 3 and all(w.lstrip("-").isdigit() for w in words):
            blocks[-1].append([int(w) for w in words])
    return blocks


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """plugin_sentry_runs.py results and thermo log per (pre, ranks), each run once."""
    d = tmp_path_factory.mktemp("runs")
    done = {}

    def get(pre, nprocs):
        if (pre, nprocs) not in done:
            run_mpi(nprocs, [sys.executable, worker("plugin_sentry_runs.py"), "--pre", pre,
                             "--dir", str(d)])
            with open(d / f"runs_{pre}_{nprocs}.json") as fh:
                out = json.load(fh)
            done[(pre, nprocs)] = (out, thermo_blocks(d / f"runs_{pre}_{nprocs}.log"))
        return done[(pre, nprocs)]
    return get


def step_halted_haltstep(out, name):
    return out[name]["step"], out[name]["vector"][3], out[name]["vector"][6]


@pytest.mark.parametrize("pre", ["yes", "no"])
@pytest.mark.parametrize("nprocs", [1, 2])
def test_halt_flag_describes_the_current_run(runs, pre, nprocs):
    """Elements 4 (halted) and 7 (halt step) belong to the last run, with `pre no` too: a
    v_ source above hi, then below lo for a whole run, then above hi again."""
    out, blocks = runs(pre, nprocs)
    assert step_halted_haltstep(out, "halt") == (5, 1, 5)
    assert step_halted_haltstep(out, "below") == (25, 0, -1)
    assert step_halted_haltstep(out, "above") == (30, 1, 30)
    # thermo output inside each run says the same, from its first row on
    assert blocks[0] == [[0, 0, -1], [5, 1, 5]]
    assert blocks[1] == [[5, 0, -1], [10, 0, -1], [15, 0, -1], [20, 0, -1], [25, 0, -1]]
    assert blocks[2] == [[25, 0, -1], [30, 1, 30]]


@pytest.mark.parametrize("pre", ["yes", "no"])
@pytest.mark.parametrize("nprocs", [1, 2])
def test_halt_of_run0_after_swap_stops_the_next_run(runs, pre, nprocs):
    """The driver's hot swap: `run 0 pre yes` finds the new models above hi; the next run
    (pre yes or no) stops before its first step and reports that halt; the one after it
    runs on (here to the next check, still above hi)."""
    out, blocks = runs(pre, nprocs)
    assert step_halted_haltstep(out, "trusted") == (50, 0, -1)
    assert step_halted_haltstep(out, "swap") == (50, 1, 50)
    assert step_halted_haltstep(out, "owed") == (50, 1, 50)
    assert step_halted_haltstep(out, "continued") == (55, 1, 55)
    above = [out[k]["vector"][5] for k in ("trusted", "swap", "owed", "continued")]
    assert above == [0, 1, 1, 2]  # the frame of step 50 is counted once
    assert blocks[-2] == [[50, 1, 50]] and blocks[-1] == [[50, 0, -1], [55, 1, 55]]


@pytest.mark.parametrize("pre", ["yes", "no"])
@pytest.mark.parametrize("nprocs", [1, 2])
def test_halt_flag_in_run_every_commands(tmp_path, pre, nprocs):
    """`run N every M "command"`: the commands run after each chunk has ended (post_run)
    while LAMMPS still counts the run as on; they see the chunk that just ended, halted or
    not.  Each chunk is a run of its own: its thermo output starts with 0 and -1, also
    after a chunk that halted in its setup without a step (same first and last step)."""
    run_mpi(nprocs, [sys.executable, worker("plugin_sentry_every.py"), "--pre", pre,
                     "--dir", str(tmp_path)])
    tag = f"every_{pre}_{nprocs}"
    rows = [line.split() for line in open(tmp_path / f"{tag}.txt") if not line.startswith("#")]
    seen = [(r[0], int(r[1]), int(float(r[2])), int(float(r[3]))) for r in rows]
    assert seen == [("variable", 10, 1, 10), ("variable", 15, 1, 15),
                    ("variable", 25, 0, -1), ("variable", 35, 0, -1),
                    ("setup", 35, 1, 35), ("setup", 40, 1, 40)]
    assert thermo_blocks(tmp_path / f"{tag}.log") == [
        [[0, 0, -1], [5, 0, -1], [10, 1, 10]],
        [[10, 0, -1], [15, 1, 15]],
        [[15, 0, -1], [20, 0, -1], [25, 0, -1]],
        [[25, 0, -1], [30, 0, -1], [35, 0, -1]],
        [[35, 1, 35]],
        [[35, 0, -1], [40, 1, 40]]]
