"""Walkers on MPI sub-communicators: two walkers of one rank and one walker of
two ranks; every counted candidate is collected; a hot swap keeps the state."""

import json
import sys

import pytest

from conftest import run_mpi, worker


@pytest.fixture(scope="module")
def walkers(tmp_path_factory):
    out = {}
    for n in (2, 1):
        d = tmp_path_factory.mktemp(f"walkers{n}")
        run_mpi(2, [sys.executable, worker("engine_walkers.py"), "--walkers", str(n),
                    "--dir", str(d)])
        out[n] = [json.load(open(d / f"walker{k}.json")) for k in range(n)]
    return out


@pytest.mark.parametrize("layout", [(2, 0), (2, 1), (1, 0)])
def test_walker(walkers, layout):
    n, k = layout
    w = walkers[n][k]
    assert w["ranks"] == 2 // n
    final = w["final"]
    # every candidate and above-hi frame the fix counted was collected
    assert len(w["candidates"]) == final[2] + final[5] > 0
    assert all(c[2] == 256 for c in w["candidates"])
    # the sentry halted once (its halt step describes the run it halted: the later chunks
    # did not halt, so it reads -1 after them); the swap kept velocities, positions, step
    assert final[5] == 1 and final[3] == 0 and final[6] == -1
    assert w["swap_v_equal"] and w["swap_x_equal"] and w["swap_step_equal"]
    assert w["swap_seconds"] > 0
    # identical members after the swap: every later check is trusted, the run goes on
    assert final[4] == final[8] >= 400 and final[0] == 0.0
    halted = [c for c in w["chunks"] if c[1]]
    assert len(halted) == 1 and halted[0][0] == w["halt_step"]


def test_decomposition_does_not_change_the_walk(walkers):
    one_rank, two_ranks = walkers[2][0], walkers[1][0]
    assert two_ranks["halt_step"] == one_rank["halt_step"]
    assert two_ranks["final"][1:7] == one_rank["final"][1:7]
    assert [c[:2] for c in two_ranks["candidates"]] == [c[:2] for c in one_rank["candidates"]]


@pytest.mark.parametrize("ranks", [1, 2])
def test_chunks_after_a_restart_file_walk_on(tmp_path, ranks):
    """write_restart moves atoms and ghosts between chunks: the next chunk must not
    reuse the old neighbor lists (it did: wrong forces, or deepmd's index error)."""
    import numpy as np

    run_mpi(ranks, [sys.executable, worker("engine_restart_chunks.py"), "--dir", str(tmp_path)])
    res = json.load(open(tmp_path / "result.json"))
    plain, written = res["False"], res["True"]
    assert np.allclose(plain["x"], written["x"], rtol=0, atol=1e-8)
    assert np.allclose(plain["v"], written["v"], rtol=0, atol=1e-8)
    assert abs(plain["pe"] - written["pe"]) < 1e-9


@pytest.mark.parametrize("ranks", [1, 2])
def test_chunks_of_an_exploration_are_one_run(tmp_path, ranks):
    """A temperature ramp over the exploration: chunked with start/stop = one run."""
    import numpy as np

    run_mpi(ranks, [sys.executable, worker("engine_ramp_chunks.py"), "--dir", str(tmp_path)])
    res = json.load(open(tmp_path / "result.json"))
    one, chunks, restarted = res["one"], res["chunks"], res["chunks_without_window"]
    assert one["step"] == chunks["step"] == 180
    assert np.allclose(one["v"], chunks["v"], rtol=0, atol=1e-8)
    # without the window every 15-step chunk ramps from 0.5 again: the system lags behind
    assert one["temp"] > 2.5 and restarted["temp"] < 0.6 * one["temp"]
