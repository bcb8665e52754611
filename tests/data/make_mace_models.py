"""Regenerate the tiny MACE test models in tests/data/mace/.

    OMP_NUM_THREADS=1 .venv/bin/python tests/data/make_mace_models.py      (~2 min on 1 core)

Each model is kept as mace-torch's ``X.model`` and the LAMMPS TorchScript export
``X.model-lammps.pt`` that ``mace_create_lammps_model`` writes next to it:

* ``cuau.model``: Cu and Au (two elements, so type-to-element mapping is exercised),
  L=1 features, 2 interactions, r_max 4 A, float64; trained on 32-atom fcc CuAu
  cells rattled and strained, labelled by ASE's EMT (generated here, seed 0).
* ``cuau_f32.model``: the same weights exported as float32.
* ``cu_1.model``, ``cu_2.model``: Cu only, two seeds on tests/data/cu_emt.extxyz
  (the frames of the DeePMD test models): a MACE committee, and with
  tests/data/deepmd/cu_*.pth a mixed DeePMD + MACE committee.

The models are small and briefly trained: they are smooth, exact test objects, not
accurate potentials.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import read, write

HERE = Path(__file__).resolve().parent
OUT = HERE / "mace"
BIN = Path(sys.executable).parent
ARCH = ["--model", "MACE", "--hidden_irreps", "8x0e+8x1o", "--max_L", "1", "--correlation", "2",
        "--num_interactions", "2", "--num_radial_basis", "6", "--MLP_irreps", "8x0e",
        "--default_dtype", "float64", "--device", "cpu", "--batch_size", "4",
        "--energy_key", "REF_energy", "--forces_key", "REF_forces", "--stress_key", "REF_stress"]


def cuau_frames(n=48, seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n):
        a = bulk("Cu", "fcc", a=3.75, cubic=True).repeat((2, 2, 2))
        sym = a.get_chemical_symbols()
        for i in rng.choice(len(a), int(rng.integers(4, 13)), replace=False):
            sym[i] = "Au"
        a.set_chemical_symbols(sym)
        strain = np.eye(3) + 0.03 * rng.standard_normal((3, 3))
        a.set_cell(a.cell.array @ (0.5 * (strain + strain.T)), scale_atoms=True)
        a.rattle(0.12, seed=int(rng.integers(1 << 30)))
        frames.append(a)
    return frames


def with_ref_labels(frames):
    out = []
    for a in frames:
        b = a.copy()
        if a.calc is not None:
            e, f, s = a.get_potential_energy(), a.get_forces(), a.get_stress()
        else:
            b.calc = EMT()
            e, f, s = b.get_potential_energy(), b.get_forces(), b.get_stress()
        b.calc = None
        b.info["REF_energy"], b.arrays["REF_forces"], b.info["REF_stress"] = e, f, s
        out.append(b)
    return out


def train(name, frames, r_max, seed, epochs, work):
    data = work / f"{name}.xyz"
    write(data, with_ref_labels(frames))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run([str(BIN / "mace_run_train"), "--name", name, "--train_file", str(data),
                    "--valid_fraction", "0.15", "--E0s", "average", "--r_max", str(r_max),
                    "--seed", str(seed), "--max_num_epochs", str(epochs), *ARCH],
                   cwd=work, env=env, check=True, stdout=subprocess.DEVNULL)
    return work / f"{name}.model"


def export(model, dest, dtype="float64"):
    shutil.copy2(model, dest)
    subprocess.run([str(BIN / "mace_create_lammps_model"), str(dest), "--head", "Default",
                    "--dtype", dtype], check=True, stdout=subprocess.DEVNULL)


def main():
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cuau = train("cuau", cuau_frames(), 4.0, 1, 40, work)
        export(cuau, OUT / "cuau.model")
        export(cuau, OUT / "cuau_f32.model", dtype="float32")
        cu = read(HERE / "cu_emt.extxyz", ":")
        for k, seed in enumerate((11, 23), 1):
            export(train(f"cu_{k}", cu[::2], 4.5, seed, 25, work), OUT / f"cu_{k}.model")
    for f in sorted(OUT.iterdir()):
        print(f"{f.name}: {f.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    sys.exit(main())
