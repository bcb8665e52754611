"""Training backends.  Each backend module exposes the same plain functions:

    train_committee(train, valid, workdir, *, n_models, steps, template, init_models,
                    seeds, type_map, resume, progress, jobs, device, share, collect)
        -> CommitteeResult (share=None), or the member indices trained (a share);
        collect=True only gathers members trained before (by the nodes' shares)
    evaluate(model_path, frames) -> dict of RMSEs
    predict(model_path, frames) -> [(energy, forces, virial 3x3)] per frame
    type_map(model_path) -> elements the model knows
    pair_style_members(model_paths, elements, device) -> (pair_style member string,
                                                 [pair_coeff args of each member])
    write_data(frames, outdir, type_map=None) -> the backend's own training-data files

Each backend owns its data format and checkpoints: the store knows frames only.

``train`` and ``valid`` are lists of labelled ASE Atoms (energy, forces, and
stress when available).  The active-learning loop only calls these, so a new
backend (MACE) plugs in by adding a module and a line to BACKENDS.
"""

import importlib
from dataclasses import dataclass, field

BACKENDS = {"deepmd": "mdsentry.train.deepmd", "mace": "mdsentry.train.mace"}


@dataclass
class CommitteeResult:
    models: list          # frozen model files, member 1 first
    checkpoints: list     # what the next iteration warm-starts from
    rmse: list = field(default_factory=list)  # per model: {"e_per_atom", "f", "v_per_atom"}


def get_backend(name: str):
    if name not in BACKENDS:
        raise ValueError(f"unknown training backend {name!r}; known: {', '.join(BACKENDS)}")
    return importlib.import_module(BACKENDS[name])


# ---- what both backends share: labels in, RMSEs out ------------------------------------

def type_map_from(frames) -> list:
    """Elements present in the frames, ordered by atomic number."""
    from ase.data import atomic_numbers

    symbols = {s for atoms in frames for s in atoms.get_chemical_symbols()}
    return sorted(symbols, key=lambda s: atomic_numbers[s])


def is_cut(atoms) -> bool:
    """Whether a frame is a cut-out cell (``cut.cut``): only its core atoms' forces are
    training data, its energy and virial are those of an artificial cell."""
    return int(atoms.info.get("cut_from", -1)) >= 0 or "core" in atoms.arrays


def trained_atoms(atoms):
    """Boolean mask of the atoms whose forces are training data: every atom of a whole
    frame, the core of a cut cell (its buffer sits at an artificial surface)."""
    import numpy as np

    return np.asarray(atoms.arrays.get("core", np.ones(len(atoms), bool)), bool)


def training_labels(atoms):
    """(energy, forces, Voigt stress or None, virial 3x3 or None) of a labelled frame; the
    virial is -stress * volume (energy units), defined for periodic cells only."""
    from ase.stress import voigt_6_to_full_3x3_stress

    from mdsentry.frames import labels

    e, f, stress = labels(atoms)
    if f is None:
        raise ValueError("every training frame needs energy and forces (an ASE calculator result)")
    if stress is None or atoms.cell.rank != 3 or not atoms.pbc.all():
        return e, f, None, None
    return e, f, stress, -voigt_6_to_full_3x3_stress(stress) * atoms.get_volume()


def rmse(frames, predictions) -> dict:
    """RMSE of energy per atom, force components and virial per atom (where labelled) of
    a backend's ``predict`` output against the frames' labels."""
    import numpy as np

    de, df, dv = [], [], []
    for atoms, (e, f, v) in zip(frames, predictions):
        ref_e, ref_f, _, ref_v = training_labels(atoms)
        n = len(atoms)
        de.append((e - ref_e) / n)
        df.append((np.asarray(f) - ref_f).ravel())
        if ref_v is not None:
            dv.append((np.asarray(v) - ref_v).ravel() / n)
    out = {"e_per_atom": float(np.sqrt(np.mean(np.square(de)))),
           "f": float(np.sqrt(np.mean(np.square(np.concatenate(df)))))}
    out["v_per_atom"] = float(np.sqrt(np.mean(np.square(dv)))) if dv else None
    return out


def members_of(n_models, share=None) -> list:
    """The committee members one training process trains: all of them, or with ``share``
    = (index, count) every count-th from index (one share per node, ``loop.train_shares``).
    A member's position in this list is its slot on the node, which picks its GPU."""
    if share is None:
        return list(range(n_models))
    index, count = share
    if not 0 <= index < count:
        raise ValueError(f"share {index} of {count}")
    return list(range(index, n_models, count))


def member_record(workdir, k):
    """Where member k's training result is recorded once it is complete."""
    from pathlib import Path

    return Path(workdir) / f"model.{k + 1:02d}" / "member.json"


def members_to_train(workdir, n_models, share=None, resume=False, collect=False) -> tuple:
    """(ks, todo): the members this call handles (``members_of``) and those of them left
    to train (all, or without a record when resuming).  ``collect``: the nodes' shares
    trained them before, so one left is an error naming it (never retrained here)."""
    ks = members_of(n_models, share)
    todo = [k for k in ks if not (resume and member_record(workdir, k).exists())]
    if todo and collect:
        raise RuntimeError(
            f"committee member(s) {[k + 1 for k in todo]} were not trained in {workdir}: "
            "their node's training share did not finish, or the run directory is not "
            "shared by the job's nodes (it must be)")
    return ks, todo


def run_members(member, ks, jobs=1, desc=None) -> list:
    """``member(k)`` for each k in ``ks`` (a list, or a count meaning 0 .. ks-1), ``jobs``
    at a time (threads, each running a one-thread training process; 0 = one per core of
    this process), with a progress bar when ``desc`` is given.  Returns the results in
    the order of ``ks``; the first failure is raised."""
    from concurrent.futures import ThreadPoolExecutor

    ks = list(range(ks)) if isinstance(ks, int) else list(ks)
    if not ks:
        return []
    bar = None
    if desc:
        from tqdm import tqdm

        bar = tqdm(total=len(ks), desc=desc, unit="model")
    from mdsentry.placement import cpu_threads

    # the cores this process may use (affinity mask, cgroup quota), not the node's
    jobs = max(1, min(len(ks), jobs or cpu_threads()))
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(member, k) for k in ks]
        for fut in futures:
            fut.add_done_callback(lambda _: bar.update() if bar else None)
        results = [fut.result() for fut in futures]
    if bar:
        bar.close()
    return results


def backend_of(model_path) -> str:
    """The backend a model file belongs to: mace-torch's ``X.model`` and its LAMMPS export
    ``X.model-lammps.pt`` are MACE's, anything else (``.pth``, ``.pb``) deepmd's."""
    name = str(model_path)
    return "mace" if name.endswith((".model", ".model-lammps.pt")) else "deepmd"


def set_thread_env(name: str):
    """The backend's thread settings (its THREAD_ENV) for this process and the LAMMPS it
    runs, unless the user set them: single-threaded torch is several times faster on
    small CPU runs."""
    import os

    for key, value in getattr(get_backend(name), "THREAD_ENV", {}).items():
        os.environ.setdefault(key, value)
