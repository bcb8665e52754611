"""Regenerate the tiny DeePMD test models in tests/data/deepmd/.

    .venv/bin/python tests/data/make_deepmd_models.py      (~2 min on 2 cores)

Data: 32-atom Cu cells from Langevin MD with ASE's EMT at 300-1200 K, with a
few percent of random strain, labelled by EMT (energy, forces, stress).
Models: two small se_e2_a members trained on the same frames with different
seeds (cu_1.pth, cu_2.pth), so that their forces differ slightly: a committee;
and cu_1.ckpt.pt, cu_2.ckpt.pt, their checkpoints, for warm-start tests.
"""

import shutil
import sys
from pathlib import Path

import numpy as np
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

HERE = Path(__file__).resolve().parent
OUT = HERE / "deepmd"


def emt_frames(temperatures, per_temperature=30, seed=0, stride=10):
    rng = np.random.default_rng(seed)
    frames = []
    for t in temperatures:
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2))
        strain = np.eye(3) + 0.02 * rng.standard_normal((3, 3))
        atoms.set_cell(atoms.cell.array @ (0.5 * (strain + strain.T)), scale_atoms=True)
        atoms.calc = EMT()
        MaxwellBoltzmannDistribution(atoms, temperature_K=t, rng=rng)
        dyn = Langevin(atoms, 2.0 * units.fs, temperature_K=t, friction=0.02, rng=rng)
        for _ in range(per_temperature):
            dyn.run(stride)
            snap = atoms.copy()
            snap.calc = SinglePointCalculator(snap, energy=atoms.get_potential_energy(),
                                              forces=atoms.get_forces(),
                                              stress=atoms.get_stress())
            frames.append(snap)
    return frames


def main():
    from mdsentry.train.deepmd import train_committee

    frames = emt_frames([300, 600, 900, 1200])
    write(HERE / "cu_emt.extxyz", frames)
    work = HERE / "_work"
    res = train_committee(frames[::2], frames[1::2], work, n_models=2, steps=1500,
                          template="se_e2_a", seeds=[11, 23])
    OUT.mkdir(exist_ok=True)
    for k, model in enumerate(res.models, 1):
        shutil.copy2(model, OUT / f"cu_{k}.pth")
    for k, ckpt in enumerate(res.checkpoints, 1):  # warm-start tests start here
        shutil.copy2(ckpt, OUT / f"cu_{k}.ckpt.pt")
    print("validation RMSE per member:", res.rmse)
    shutil.rmtree(work)


if __name__ == "__main__":
    sys.exit(main())
