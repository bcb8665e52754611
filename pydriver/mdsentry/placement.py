"""Where each process runs: its GPU and its thread count, from the job's layout.

Pure functions of the environment (MPI/Slurm variables, CUDA_VISIBLE_DEVICES, the CPU
affinity mask and cgroup quota), so that every policy is unit-tested without GPUs.

Why the driver must choose: deepmd-kit picks its GPU from the node-local rank of
LAMMPS's world, which for a walker is the walker's sub-communicator, so every walker's
rank 0 would land on GPU 0; and os.cpu_count() counts the node's cores, not the ones a
batch system gave the job.
"""

import math
import os

# node-local rank, as the common MPI launchers and Slurm export it
LOCAL_RANK_VARS = ("OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "PMI_LOCAL_RANK",
                   "MV2_COMM_WORLD_LOCAL_RANK", "PALS_LOCAL_RANKID", "SLURM_LOCALID")


def node_local_rank(env=None):
    """This process's rank among the job's processes on its node, or None if no
    launcher variable says (then ``local_rank_from_hosts`` decides)."""
    env = os.environ if env is None else env
    for name in LOCAL_RANK_VARS:
        value = env.get(name, "").strip()
        if value.isdigit():
            return int(value)
    return None


def local_rank_from_hosts(hosts, rank):
    """Node-local rank of world rank ``rank`` from every rank's host name (an allgather
    of MPI.Get_processor_name()): its position among the ranks of its host."""
    return [r for r, h in enumerate(hosts) if h == hosts[rank]].index(rank)


def visible_gpus(env=None, detected=0):
    """The GPUs this process may use, as CUDA_VISIBLE_DEVICES entries: that variable's
    list when set ("" or "-1": none; ids or UUIDs up to the first invalid entry, as CUDA
    reads it), else ``detected`` devices numbered from 0."""
    env = os.environ if env is None else env
    value = env.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return [str(k) for k in range(int(detected))]
    out = []
    for item in value.split(","):
        item = item.strip()
        if not item or item.startswith("-"):
            break  # CUDA ignores this entry and every one after it
        out.append(item)
    return out


def gpu_for(local_rank, gpus):
    """The GPU of the process with node-local rank ``local_rank``: round-robin over the
    node's GPUs, so the ranks of all walkers on a node spread over all of its GPUs."""
    if not gpus:
        return None
    return gpus[int(local_rank) % len(gpus)]


def resolve_device(requested, gpus, torch_cuda=True):
    """"auto" -> "cuda" when a GPU is visible and torch was built with CUDA, else "cpu";
    "cuda" without a GPU is an error (a job that asked for GPUs must not run on CPUs by
    accident)."""
    if requested == "auto":
        return "cuda" if gpus and torch_cuda else "cpu"
    if requested == "cuda" and not gpus:
        raise RuntimeError("device 'cuda' requested but no GPU is visible to this process "
                           "(CUDA_VISIBLE_DEVICES, nvidia-smi)")
    return requested


def member_gpus(n_members, gpus):
    """GPU of each training member (round-robin over ``gpus``; None without GPUs)."""
    return [gpu_for(k, gpus) for k in range(n_members)]


def cgroup_cpus(cpu_max=None, quota_us=None, period_us=None):
    """CPUs a cgroup quota allows: cgroup v2's cpu.max text ("max 100000" or "200000
    100000") or v1's cfs quota and period; None when unlimited or unknown."""
    if cpu_max is not None:
        parts = cpu_max.split()
        if len(parts) >= 2 and parts[0] != "max":
            return max(1, math.ceil(int(parts[0]) / int(parts[1])))
        return None
    if quota_us is not None and period_us and int(quota_us) > 0:
        return max(1, math.ceil(int(quota_us) / int(period_us)))
    return None


def _read(path):
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return None


def cpu_threads(affinity=None, quota=None):
    """Cores this process may use: the CPU affinity mask (what taskset, Slurm or mpirun's
    binding gave it), capped by the cgroup's CPU quota (containers, Slurm cgroups)."""
    if affinity is None:
        try:
            affinity = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            affinity = os.cpu_count() or 1
    if quota is None:
        quota = cgroup_cpus(cpu_max=_read("/sys/fs/cgroup/cpu.max"))
        if quota is None:
            quota = cgroup_cpus(quota_us=_read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
                                period_us=_read("/sys/fs/cgroup/cpu/cpu.cfs_period_us"))
    return max(1, min(affinity, quota) if quota else affinity)


def detect_gpus():
    """Number of NVIDIA GPUs on this node (nvidia-smi -L), 0 without the tool or GPUs;
    torch is not imported (it would initialise CUDA before the placement is set)."""
    import shutil
    import subprocess

    exe = shutil.which("nvidia-smi")
    if not exe:
        return 0
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


# LAMMPS accelerator command-line arguments and the package each needs: -sf takes a
# style suffix, -pk a package style
SUFFIXES = {"kk": "KOKKOS", "omp": "OPENMP", "gpu": "GPU", "intel": "INTEL", "opt": "OPT"}
PACKAGES = {"kokkos": "KOKKOS", "omp": "OPENMP", "gpu": "GPU", "intel": "INTEL"}


def accelerator_packages(args):
    """The LAMMPS packages that command-line ``args`` need (-k on, -sf/-suffix X,
    -pk/-package X)."""
    need = set()
    args = list(args)
    for k, a in enumerate(args):
        nxt = args[k + 1] if k + 1 < len(args) else ""
        if a in ("-k", "-kokkos") and nxt == "on":
            need.add("KOKKOS")
        elif a in ("-sf", "-suffix", "-pk", "-package"):
            known = SUFFIXES if a in ("-sf", "-suffix") else PACKAGES
            if nxt not in known:
                raise ValueError(f"unknown LAMMPS accelerator {a} {nxt!r}: use one of "
                                 f"{sorted(known)}")
            need.add(known[nxt])
    return sorted(need)


def place(cfg, comm):
    """Decide this rank's devices for ``mdsentry run``; collective on ``comm``.

    explore.device and train.device ("auto", "cpu", "cuda") are resolved against the
    GPUs this node shows (CUDA_VISIBLE_DEVICES, else nvidia-smi).  With cuda walkers,
    each rank keeps one GPU, chosen by its node-local rank across the whole job
    (CUDA_VISIBLE_DEVICES set before LAMMPS or torch touch CUDA); with cpu walkers the
    GPUs are hidden from them.  The node's GPU list stays in MDSENTRY_NODE_GPUS for the
    training members (``member_env``).  A problem on any rank ends on every rank with
    the same message.  Returns (explore device, train device) and sets them in ``cfg``.
    """
    env = os.environ
    if "MDSENTRY_NODE_GPUS" in env:  # placed before in this process (or by a parent)
        gpus = [g for g in env["MDSENTRY_NODE_GPUS"].split(",") if g]
    else:
        gpus = visible_gpus(env, detected=0 if "CUDA_VISIBLE_DEVICES" in env else detect_gpus())
    local = node_local_rank(env)
    hosts = comm.allgather(node_name())
    if local is None:
        local = local_rank_from_hosts(hosts, comm.Get_rank())
    problem, devices = None, None
    try:
        cuda_torch = torch_has_cuda() if gpus else False
        devices = (resolve_device(cfg["explore"]["device"], gpus, cuda_torch),
                   resolve_device(cfg["train"]["device"], gpus, cuda_torch))
    except RuntimeError as exc:
        problem = f"{hosts[comm.Get_rank()]} (rank {comm.Get_rank()}): {exc}"
    problems = [p for p in comm.allgather(problem) if p]
    if problems:
        raise RuntimeError(problems[0])
    # every rank must agree, or walkers of one committee would differ in precision paths
    if len(set(comm.allgather(devices))) > 1:
        raise RuntimeError("the nodes of this job see different GPUs: set explore.device "
                           "and train.device to cpu or cuda explicitly")
    env["MDSENTRY_NODE_GPUS"] = ",".join(gpus)
    env["CUDA_VISIBLE_DEVICES"] = gpu_for(local, gpus) if devices[0] == "cuda" else ""
    cfg["explore"]["device"], cfg["train"]["device"] = devices
    return devices


def torch_has_cuda():
    """Whether the installed torch was built with CUDA (or ROCm); reads the build's
    version strings only, so CUDA is not initialised before CUDA_VISIBLE_DEVICES is set
    (a CPU-only torch on a GPU node must make "auto" mean cpu)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(getattr(torch.version, "cuda", None) or getattr(torch.version, "hip", None))


def node_name():
    """This process's node: MDSENTRY_NODE_NAME when set (containers that all report one
    host name; the tests' stand-in for a second node), else MPI's processor name."""
    if os.environ.get("MDSENTRY_NODE_NAME"):
        return os.environ["MDSENTRY_NODE_NAME"]
    from mpi4py import MPI

    return MPI.Get_processor_name()


def node_shares(hosts):
    """Each rank's share of the committee's training, from every rank's node name: the
    lowest rank of each node trains share (index, count), nodes in the order of their
    first rank; the other ranks None.  On a single node every rank gets None (rank 0
    trains the whole committee, as without this)."""
    nodes = list(dict.fromkeys(hosts))
    if len(nodes) < 2:
        return [None] * len(hosts)
    return [(nodes.index(h), len(nodes)) if hosts.index(h) == r else None
            for r, h in enumerate(hosts)]


def member_env(k, device):
    """Environment of training member ``k``: its own GPU of the node (round-robin over
    MDSENTRY_NODE_GPUS, else the visible ones) when training on cuda; no GPU on cpu."""
    if device != "cuda":
        return {"CUDA_VISIBLE_DEVICES": ""}
    if "MDSENTRY_NODE_GPUS" in os.environ:  # set by place() for this run
        gpus = [g for g in os.environ["MDSENTRY_NODE_GPUS"].split(",") if g]
    else:  # mdsentry train outside a run
        gpus = visible_gpus(detected=0 if "CUDA_VISIBLE_DEVICES" in os.environ
                            else detect_gpus())
    gpu = gpu_for(k, gpus)
    return {"CUDA_VISIBLE_DEVICES": gpu} if gpu is not None else {}
