"""Collective helpers that never leave a rank waiting on an error, nor spinning.

MPICH's blocking calls busy-wait: ranks idling in a broadcast while rank 0
trains for minutes would take CPU from it.  These helpers poll with sleeps.
"""

import time
import traceback

_TAG = 7301


def child_env(**extra):
    """Environment for a child program (dp, a DFT code) started by an MPI rank: without
    the launcher's variables, which would make it join (and break) the driver's job."""
    import os

    drop = ("PMI_", "PMIX_", "HYDRA_", "HYDI_", "MPIR_", "OMPI_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(extra)
    return env


class StageError(RuntimeError):
    """An error raised on one rank, re-raised on every rank."""


def on_root(comm, fn, poll=0.05):
    """fn() on rank 0; its result (or its error) on every rank."""
    result, failure = None, None
    if comm.Get_rank() == 0:
        try:
            result = fn()
        except Exception as exc:  # noqa: BLE001 - re-raised on every rank below
            traceback.print_exc()
            failure = f"{type(exc).__name__}: {exc}"
        for r in range(1, comm.Get_size()):
            comm.send((result, failure), dest=r, tag=_TAG)
    else:
        while not comm.Iprobe(source=0, tag=_TAG):
            time.sleep(poll)
        result, failure = comm.recv(source=0, tag=_TAG)
    if failure:
        raise StageError(failure)
    return result


def idle_barrier(comm, poll=0.05):
    req = comm.Ibarrier()
    while not req.Test():
        time.sleep(poll)


def all_or_none(comm, fn):
    """fn() on every rank; an error on any rank is raised on all of them."""
    result, failure = None, None
    try:
        result = fn()
    except Exception as exc:  # noqa: BLE001
        traceback.print_exc()
        failure = f"rank {comm.Get_rank()}: {type(exc).__name__}: {exc}"
    idle_barrier(comm)
    failures = [f for f in comm.allgather(failure) if f]
    if failures:
        raise StageError(failures[0])
    return result
