"""The deck's stand-in ML potential, when no interface committee of an mdsentry run exists:
CHGNet molecular dynamics of the Li(111)/Li2CO3(001) interface (its weights ship in its
wheel) at a few temperatures, every k-th frame kept with CHGNet's energy, forces and stress,
then a DeePMD committee trained on them with `mdsentry train`.

    python make_potential.py [--steps 2000] [--every 10] [--temperatures 400 600]
    mdsentry train --data chgnet_md.extxyz --models 2 --steps 20000 --out potential

This is direct learning of the oracle's own trajectories (no active learning): it is
enough for picoseconds near the sampled temperatures, and `pair_style committee` with
`fix sentry` in the field runs records how far the committee trusts itself there.
The labels are at zero field: fix qeq/field adds the field response on top.
"""

import argparse
import os
from concurrent.futures import ProcessPoolExecutor

here = os.path.dirname(os.path.abspath(__file__))


def trajectory(temperature, steps, every, seed, atoms=None):
    """Frames of a CHGNet Langevin run (1 fs) of the interface, or of ``atoms``, every
    ``every``-th with CHGNet's energy, forces and stress, the starting frame included
    (one thread: the runs go in parallel)."""
    import numpy as np
    from ase import units
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import read
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    from mdsentry.oracles import chgnet

    if atoms is None:
        atoms = read(os.path.join(here, "..", "li_li2co3_interface", "structure.extxyz"))
        del atoms.arrays["region"]
    else:
        atoms = atoms.copy()
    atoms.calc = chgnet(threads=1)
    rng = np.random.default_rng(seed)
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
    dyn = Langevin(atoms, 1.0 * units.fs, temperature_K=temperature, friction=0.02, rng=rng)
    frames = []

    def keep():
        frame = atoms.copy()
        frame.calc = SinglePointCalculator(frame, energy=atoms.get_potential_energy(),
                                           forces=atoms.get_forces(),
                                           stress=atoms.get_stress(voigt=True))
        frame.info["temperature"] = temperature
        frames.append(frame)

    dyn.attach(keep, interval=every)
    dyn.run(steps)
    return frames


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--temperatures", type=float, nargs="+", default=[400.0, 600.0])
    p.add_argument("--steps", type=int, default=2000, help="1 fs steps per temperature")
    p.add_argument("--every", type=int, default=10, help="keep every k-th frame")
    p.add_argument("--out", default=os.path.join(here, "chgnet_md.extxyz"))
    args = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from ase.io import write

    with ProcessPoolExecutor(max_workers=min(len(args.temperatures), os.cpu_count() or 1)) as ex:
        runs = list(ex.map(trajectory, args.temperatures, [args.steps] * len(args.temperatures),
                           [args.every] * len(args.temperatures),
                           range(len(args.temperatures))))
    frames = [f for run in runs for f in run]
    write(args.out, frames)
    print(f"{args.out}: {len(frames)} frames at {args.temperatures} K")


if __name__ == "__main__":
    main()
