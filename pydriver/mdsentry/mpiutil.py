"""Collective helpers that never leave a rank waiting on an error, nor spinning.

MPICH's blocking calls busy-wait: ranks idling in a broadcast while rank 0
trains for minutes would take CPU from it.  These helpers poll with sleeps.
"""

import sys
import time
import traceback

_TAG = 7301
ABORT_GRACE = 1.0  # seconds between an error's message and MPI_Abort


def child_env(**extra):
    """Environment for a child program (dp, a DFT code) started by an MPI rank: without
    the launcher's variables, which would make it join (and break) the driver's job."""
    import os

    drop = ("PMI_", "PMIX_", "HYDRA_", "HYDI_", "MPIR_", "OMPI_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(extra)
    return env


class StageError(RuntimeError):
    """An error that every rank raises together (by construction, as in ``on_root``), so
    the job can end cleanly with an exit code instead of an abort."""


def abort(exc):
    """Say what went wrong on this rank and end the whole MPI job.

    The fail-fast half of the MPI contract: an error that only some ranks see
    cannot be shared with the others, which may be waiting in a collective (a
    LAMMPS run on the walker's communicator, a broadcast) that will never
    complete.  MPI_Abort on COMM_WORLD ends every rank at once, as ``python -m
    mpi4py`` does for an uncaught exception.  On a single rank the error is
    simply raised.
    """
    from mpi4py import MPI

    world = MPI.COMM_WORLD
    if world.Get_size() == 1:
        raise exc
    message = (f"[rank {world.Get_rank()}] mdsentry: error: {exc}\n"
               f"[rank {world.Get_rank()}] mdsentry: aborting all {world.Get_size()} MPI ranks")
    print(message, file=sys.stderr, flush=True)
    from mdsentry.logs import run_log

    if run_log():  # the run's log keeps it whatever happens to the terminal's copy
        with open(run_log(), "a") as fh:
            print(message, file=fh)
    # The launcher forwards a rank's output asynchronously and MPI_Abort kills the
    # ranks at once: under load (seen in CI) the message was lost before it reached
    # mpirun's output.  A moment's wait lets it be forwarded.
    time.sleep(ABORT_GRACE)
    world.Abort(1)


def on_root(comm, fn, share=True, poll=0.05):
    """fn() on rank 0; its result (on rank 0 only if not ``share``) or its error, as
    StageError, on every rank.  fn must not run collectives: the other ranks wait here.
    """
    result, failure = None, None
    if comm.Get_rank() == 0:
        try:
            result = fn()
        except Exception as exc:  # noqa: BLE001 - re-raised on every rank below
            traceback.print_exc()
            failure = f"{type(exc).__name__}: {exc}"
        for r in range(1, comm.Get_size()):
            comm.send((result if share else None, failure), dest=r, tag=_TAG)
    else:
        while not comm.Iprobe(source=0, tag=_TAG):
            time.sleep(poll)
        result, failure = comm.recv(source=0, tag=_TAG)
    if failure:
        raise StageError(failure)
    return result


def on_shares(comm, share, fn, poll=0.05):
    """fn(share) on the ranks given a share (one per node, ``placement.node_shares``)
    while the others wait idle; an error on any of them is raised as StageError on every
    rank, with its node's message.  fn must not run collectives."""
    failure = None
    if share is not None:
        try:
            fn(share)
        except BaseException as exc:  # noqa: BLE001 - even an interrupt: the others wait below
            traceback.print_exc()
            failure = f"{type(exc).__name__} (training share {share[0] + 1} of {share[1]}): {exc}"
    # reached by every rank whatever it did above
    idle_barrier(comm, poll)
    failures = [f for f in comm.allgather(failure) if f]
    if failures:
        raise StageError(failures[0])


def idle_barrier(comm, poll=0.05):
    req = comm.Ibarrier()
    while not req.Test():
        time.sleep(poll)


def collective(comm, fn):
    """fn() on every rank of ``comm``, where fn may itself run collectives (a walker's
    LAMMPS on its sub-communicator, a barrier).  An error raised by fn on some ranks
    aborts the job (``abort``): the ranks that did not fail may be inside fn's
    collectives, waiting for the failed ones, and no exchange of the error can
    reach them."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - any error on one rank ends the job
        traceback.print_exc()
        abort(exc)
