"""Labelling: any ASE calculator, frames farmed out over MPI ranks.

The pool is mpi4py.futures' ``MPICommExecutor`` on the driver's communicator
(rank 0 submits, the other ranks label; on one rank tasks run in a thread).
Frames are computed in child processes (a batch per child, so that a
calculator's start-up is paid once per batch) so that a crashed or hanging
calculator costs one frame, not the loop: the child is killed after
``timeout`` seconds on a frame, the frame is retried ``retries`` times in a
fresh child, and the failure is reported.

An oracle is a dict: ``{"calculator": "emt" | "chgnet" | "module:factory",
"kwargs": {...}}``; the factory returns an ASE calculator (VASP, CP2K, QE, ...).

    python -m mdsentry.label BATCHDIR FIRST N   (the child)
"""

import json
import os
import shutil
import subprocess
import sys
import time
from importlib import import_module

import numpy as np

from mdsentry.mpiutil import StageError, child_env, on_root

KNOWN = {
    "emt": "ase.calculators.emt:EMT",
    "chgnet": "mdsentry.oracles:chgnet",
}


def load_calculator(oracle):
    """The ASE calculator an oracle dict describes."""
    name = oracle["calculator"]
    target = KNOWN.get(name, name)
    module, _, attr = target.partition(":")
    if not attr:
        raise ValueError(f"oracle calculator {name!r}: use one of {sorted(KNOWN)} or 'module:factory'")
    factory = getattr(import_module(module), attr)
    return factory(**oracle.get("kwargs", {}))


def oracle_name(oracle) -> str:
    return oracle.get("name") or oracle["calculator"]


def _write_frame(path, atoms):
    # plain npz, not extxyz (rounds positions) nor ASE's .traj (written on MPI rank 0 only)
    np.savez(path, numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell.array,
             pbc=atoms.pbc)


def _tail(path):
    try:
        with open(path, errors="replace") as fh:
            lines = fh.read().strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


def frame_key(atoms, oracle) -> str:
    """Content hash of a frame and the oracle that labels it."""
    import hashlib

    h = hashlib.sha1(json.dumps(oracle, sort_keys=True).encode())
    for arr in (atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def _result(path, attempts):
    with np.load(path) as d:
        return {"ok": True, "energy": float(d["energy"]), "forces": d["forces"],
                "stress": d["stress"] if "stress" in d else None, "attempts": attempts}


def label_batch(frames, oracle, timeout, retries, workdir, poll=0.05, cache=None) -> list:
    """Label frames in one child process; returns one result dict per frame
    ({"ok", "energy", "forces", "stress", "attempts"} or {"ok": False, "error", ...}).

    One child labels the frames one after the other, so the calculator is set up
    once (CHGNet: seconds; a DFT code: nothing).  Each frame has its own
    ``timeout``: a child that takes longer, raises or crashes is killed, the
    frame is retried up to ``retries`` times in a fresh child, then recorded as
    failed, and a new child goes on with the next frame.

    ``cache``: a directory where each result is kept under the frame's content
    hash as soon as it exists; frames found there are not computed again (a
    driver killed while a batch was running loses no oracle call).
    """
    workdir = os.path.abspath(workdir)
    os.makedirs(workdir, exist_ok=True)
    results = [None] * len(frames)
    keys = [frame_key(a, oracle) for a in frames] if cache else [None] * len(frames)
    if cache:
        os.makedirs(cache, exist_ok=True)
        for k, key in enumerate(keys):
            hit = os.path.join(cache, key + ".npz")
            if os.path.exists(hit):
                results[k] = dict(_result(hit, 0), cached=True)
    todo = [k for k in range(len(frames)) if results[k] is None]
    spec = os.path.join(workdir, "oracle.json")
    with open(spec, "w") as fh:
        json.dump(oracle, fh)
    for j, k in enumerate(todo):
        _write_frame(os.path.join(workdir, f"in{j:05d}.npz"), frames[k])
    attempts = [0] * len(todo)
    j = 0
    while j < len(todo):
        for name in os.listdir(workdir):
            if name.startswith(("out", "err")):
                os.remove(os.path.join(workdir, name))
        log = open(os.path.join(workdir, "child.log"), "w")
        proc = subprocess.Popen([sys.executable, "-m", "mdsentry.label", workdir, str(j),
                                 str(len(todo))], stdout=log, stderr=subprocess.STDOUT,
                                cwd=workdir, env=child_env())
        deadline = time.monotonic() + timeout
        error = None
        while j < len(todo):
            out = os.path.join(workdir, f"out{j:05d}.npz")
            if os.path.exists(out):
                attempts[j] += 1
                results[todo[j]] = _result(out, attempts[j])
                if cache:
                    dst = os.path.join(cache, keys[todo[j]] + ".npz")
                    shutil.copyfile(out, dst + ".part")
                    os.replace(dst + ".part", dst)
                j += 1
                deadline = time.monotonic() + timeout
                continue
            err = os.path.join(workdir, f"err{j:05d}.txt")
            if os.path.exists(err):
                proc.wait()
                error = _tail(err) or "the oracle raised"
                break
            if proc.poll() is not None:
                if os.path.exists(out) or os.path.exists(err):
                    continue  # finished just now
                error = _tail(log.name) or f"oracle process exited with code {proc.returncode}"
                break
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                error = f"timeout after {timeout} s"
                break
            time.sleep(poll)
        if proc.poll() is None:
            proc.wait()
        log.close()
        if error is not None:
            attempts[j] += 1
            if attempts[j] > retries:
                results[todo[j]] = {"ok": False, "error": error, "attempts": attempts[j]}
                j += 1
    return results


def label_one(atoms, oracle, timeout, retries, workdir) -> dict:
    """Label one frame in a child process (see ``label_batch``)."""
    return label_batch([atoms], oracle, timeout, retries, workdir)[0]


def label_frames(frames, oracle, workdir, *, timeout=3600.0, retries=1, comm=None,
                 progress=True, on_result=None, batch=None):
    """Label ``frames`` over the ranks of ``comm`` (collective call).

    Frames go out in batches of ``batch`` (default: an even share per worker,
    at most 16), one child process per batch.  ``on_result(k, result)`` is
    called on rank 0 for each frame k as soon as its batch is done.
    Returns one result dict per frame on rank 0, None on the other ranks.
    """
    from concurrent.futures import as_completed

    from mpi4py import MPI
    from mpi4py.futures import MPICommExecutor

    comm = comm or MPI.COMM_WORLD
    with MPICommExecutor(comm, root=0) as pool:
        if pool is None:
            return None  # this rank served tasks until the root finished
        workers = max(1, comm.Get_size() - 1)
        size = int(batch or min(16, max(1, -(-len(frames) // workers))))
        root = os.path.abspath(workdir)
        futures = {}
        for b, first in enumerate(range(0, len(frames), size)):
            ks = list(range(first, min(first + size, len(frames))))
            fut = pool.submit(label_batch, [frames[k] for k in ks], oracle, timeout, retries,
                              os.path.join(root, f"batch{b:04d}"),
                              cache=os.path.join(root, "cache"))
            futures[fut] = ks
        results = [None] * len(frames)
        bar = None
        if progress and frames:
            from tqdm import tqdm

            bar = tqdm(total=len(frames), desc=f"labelling ({oracle_name(oracle)})", unit="frame")
        for fut in as_completed(futures):
            for k, r in zip(futures[fut], fut.result()):
                results[k] = r
                if on_result:
                    on_result(k, r)
            if bar:
                bar.update(len(futures[fut]))
        if bar:
            bar.close()
        return results


def label_store(path, oracle, workdir, ids=None, **kwargs):
    """Label the store's unlabelled frames (all, or those among ``ids``); collective.

    Each label or failure is written to the store by rank 0 as soon as its frame
    comes back, so a killed driver loses only the frames in flight; frames that
    are labelled or failed are never submitted again.
    Returns (n_labelled, n_failed) on every rank.
    """
    from mpi4py import MPI

    from mdsentry import store

    comm = kwargs.get("comm") or MPI.COMM_WORLD

    def pending():
        table = store.table(path)
        return [int(i) for i in (range(len(table["status"])) if ids is None else ids)
                if table["status"][i] == store.STATUS["unlabelled"]]

    todo = on_root(comm, pending)
    if not todo:
        return 0, 0
    # the field each label is computed in: the frame's own when the oracle is given it
    fields = on_root(comm, lambda: store.table(path)["efield"][todo] if oracle.get("field")
                     else np.zeros((len(todo), 3)), share=False)
    frames = on_root(comm, lambda: store.read(path, ids=todo), share=False)  # root submits
    name = oracle_name(oracle)
    tally = [0, 0]

    def record(k, r):
        if r["ok"]:
            stress = r["stress"] if r["stress"] is not None else [float("nan")] * 6
            store.set_labels(path, [todo[k]], [r["energy"]], [r["forces"]], [stress], oracle=name,
                             label_efield=[fields[k]])
            tally[0] += 1
        else:
            store.set_failed(path, [todo[k]], r["error"], oracle=name)
            tally[1] += 1

    failure = None
    try:
        label_frames(frames, oracle, workdir, on_result=record, **kwargs)
    except Exception as exc:  # noqa: BLE001 - re-raised on every rank below
        failure = f"{type(exc).__name__}: {exc}"
    # an error on one rank (the store, say) must not leave the others waiting
    failures = [f for f in comm.allgather(failure) if f]
    if failures:  # every rank has them: a clean, collective error
        raise StageError(f"labelling failed: {failures[0]}")
    return tuple(comm.bcast(tuple(tally), root=0))


def _main(argv):
    """Child: label in<k>.npz for k = first..n-1 of a batch directory, in order;
    out<k>.npz on success, err<k>.txt and exit 1 on the first failure."""
    import traceback

    from ase import Atoms

    workdir, first, n = argv[0], int(argv[1]), int(argv[2])
    with open(os.path.join(workdir, "oracle.json")) as fh:
        oracle = json.load(fh)
    calc = load_calculator(oracle)
    for k in range(first, n):
        dst = os.path.join(workdir, f"out{k:05d}.npz")
        try:
            with np.load(os.path.join(workdir, f"in{k:05d}.npz")) as d:
                atoms = Atoms(numbers=d["numbers"], positions=d["positions"], cell=d["cell"],
                              pbc=d["pbc"])
            atoms.calc = calc
            results = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces()}
            if all(atoms.pbc):
                try:
                    results["stress"] = atoms.get_stress()
                except Exception:  # noqa: BLE001 - calculators without stress still label E, F
                    pass
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which retries
            traceback.print_exc()
            with open(os.path.join(workdir, f"err{k:05d}.txt"), "w") as fh:
                fh.write(f"{type(exc).__name__}: {exc}\n")
            sys.exit(1)
        with open(dst + ".part", "wb") as fh:
            np.savez(fh, **results)
        os.replace(dst + ".part", dst)


if __name__ == "__main__":
    _main(sys.argv[1:])
