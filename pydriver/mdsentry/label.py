"""Labelling: any ASE calculator, frames farmed out over MPI ranks.

The pool is mpi4py.futures' ``MPICommExecutor`` on the driver's communicator
(rank 0 submits, the other ranks label; on one rank tasks run in a thread).
Each frame is computed in a child process so that a crashed or hanging
calculator costs one frame, not the loop: the child is killed after
``timeout`` seconds, retried ``retries`` times, and the failure is reported.

An oracle is a dict: ``{"calculator": "emt" | "chgnet" | "module:factory",
"kwargs": {...}}``; the factory returns an ASE calculator (VASP, CP2K, QE, ...).

    python -m mdsentry.label IN.npz OUT.npz ORACLE.json   (the child)
"""

import json
import os
import subprocess
import sys
from importlib import import_module

import numpy as np

KNOWN = {
    "emt": "ase.calculators.emt:EMT",
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


def _child_env():
    # a DFT code's own mpirun must not see the driver's MPI launcher
    drop = ("PMI_", "PMIX_", "HYDRA_", "HYDI_", "MPIR_", "OMPI_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def label_one(atoms, oracle, timeout, retries, workdir) -> dict:
    """Label one frame in a child process; returns {"ok", "energy", "forces", "stress", ...}."""
    os.makedirs(workdir, exist_ok=True)
    # plain npz, not extxyz (rounds positions) nor ASE's .traj (written on MPI rank 0 only)
    src, dst = os.path.join(workdir, "in.npz"), os.path.join(workdir, "out.npz")
    spec = os.path.join(workdir, "oracle.json")
    np.savez(src, numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell.array,
             pbc=atoms.pbc)
    with open(spec, "w") as fh:
        json.dump(oracle, fh)
    error = ""
    for attempt in range(1, retries + 2):
        if os.path.exists(dst):
            os.remove(dst)
        try:
            proc = subprocess.run([sys.executable, "-m", "mdsentry.label", src, dst, spec],
                                  capture_output=True, text=True, timeout=timeout, cwd=workdir,
                                  env=_child_env())
        except subprocess.TimeoutExpired:
            error = f"timeout after {timeout} s"
            continue
        if proc.returncode == 0 and os.path.exists(dst):
            with np.load(dst) as out:
                stress = out["stress"] if "stress" in out else None
                return {"ok": True, "energy": float(out["energy"]), "forces": out["forces"],
                        "stress": stress, "attempts": attempt}
        lines = (proc.stderr or proc.stdout or "").strip().splitlines()
        error = lines[-1] if lines else f"exit code {proc.returncode}"
    return {"ok": False, "error": error, "attempts": retries + 1}


def label_frames(frames, oracle, workdir, *, timeout=3600.0, retries=1, comm=None,
                 progress=True, on_result=None):
    """Label ``frames`` over the ranks of ``comm`` (collective call).

    ``on_result(k, result)`` is called on rank 0 as soon as frame k is done.
    Returns one result dict per frame on rank 0, None on the other ranks.
    """
    from concurrent.futures import as_completed

    from mpi4py import MPI
    from mpi4py.futures import MPICommExecutor

    comm = comm or MPI.COMM_WORLD
    with MPICommExecutor(comm, root=0) as pool:
        if pool is None:
            return None  # this rank served tasks until the root finished
        futures = {pool.submit(label_one, atoms, oracle, timeout, retries,
                               os.path.join(os.path.abspath(workdir), f"frame{k:05d}")): k
                   for k, atoms in enumerate(frames)}
        results = [None] * len(frames)
        bar = None
        if progress and futures:
            from tqdm import tqdm

            bar = tqdm(total=len(futures), desc=f"labelling ({oracle_name(oracle)})", unit="frame")
        for fut in as_completed(futures):
            k = futures[fut]
            results[k] = fut.result()
            if on_result:
                on_result(k, results[k])
            if bar:
                bar.update()
        if bar:
            bar.close()
        return results


def _on_root(comm, fn, share=True):
    """fn() on rank 0; its result on every rank (on rank 0 only if not ``share``),
    or its error raised on every rank."""
    result, failure = None, None
    if comm.Get_rank() == 0:
        try:
            result = fn()
        except Exception as exc:  # noqa: BLE001 - re-raised on every rank below
            failure = f"{type(exc).__name__}: {exc}"
    shared, failure = comm.bcast((result if share else None, failure), root=0)
    if failure:
        raise RuntimeError(f"labelling failed on rank 0: {failure}")
    return result if comm.Get_rank() == 0 else shared


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

    todo = _on_root(comm, pending)
    if not todo:
        return 0, 0
    frames = _on_root(comm, lambda: store.read(path, ids=todo), share=False)  # root submits
    name = oracle_name(oracle)
    tally = [0, 0]

    def record(k, r):
        if r["ok"]:
            stress = r["stress"] if r["stress"] is not None else [float("nan")] * 6
            store.set_labels(path, [todo[k]], [r["energy"]], [r["forces"]], [stress], oracle=name)
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
    if failures:
        raise RuntimeError(f"labelling failed: {failures[0]}")
    return tuple(comm.bcast(tuple(tally), root=0))


def _main(argv):
    from ase import Atoms

    src, dst, spec = argv
    with open(spec) as fh:
        oracle = json.load(fh)
    with np.load(src) as d:
        atoms = Atoms(numbers=d["numbers"], positions=d["positions"], cell=d["cell"],
                      pbc=d["pbc"])
    atoms.calc = load_calculator(oracle)
    results = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces()}
    if all(atoms.pbc):
        try:
            results["stress"] = atoms.get_stress()
        except Exception:  # noqa: BLE001 - calculators without stress still label E and F
            pass
    with open(dst + ".part", "wb") as fh:
        np.savez(fh, **results)
    os.replace(dst + ".part", dst)


if __name__ == "__main__":
    _main(sys.argv[1:])
