"""Training backends.  Each backend module exposes the same plain functions:

    train_committee(train, valid, workdir, *, n_models, steps, template, init_models,
                    seeds, type_map, resume, progress) -> CommitteeResult
    evaluate(model_path, frames) -> dict of RMSEs
    predict(model_path, frames) -> [(energy, forces, virial 3x3)] per frame
    type_map(model_path) -> elements the model knows
    pair_style_members(model_paths, elements) -> (pair_style member string,
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
