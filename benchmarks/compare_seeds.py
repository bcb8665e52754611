"""The seeds' comparison, reproducible: DeePMD vs MACE committees on the same CHGNet labels.

Frames come from CHGNet's own MD (ASE Langevin, 1 fs) started from a deck's structure,
one labelled frame every --stride steps after --equilibrate steps; they are cached in
--out, so a rerun only trains.  Training frames come from the first temperature; the
held-out frames are the last fifth of that trajectory; every further temperature and the
crystal of the phase (rattled) are transfer sets.  Then ``mdsentry.compare.compare``.

    .venv/bin/python benchmarks/compare_seeds.py li2co3 --out runs/compare_li2co3
    .venv/bin/python benchmarks/compare_seeds.py naps --out runs/compare_naps

Systems: li2co3 (the tutorial's amorphous Li2CO3, 96 atoms; 900 K train, 1300 K and
crystalline Li2CO3 transfer), naps (the Na3PS4 + Na3PS3O glass deck, 64 atoms; 700 K
train, 1000 K transfer).
"""

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
INPUTS = HERE.parent / "inputs"
SYSTEMS = {
    "li2co3": {"structure": INPUTS / "li2co3_amorphous" / "structure.extxyz",
               "temperatures": [900, 1300], "crystal": ("Li2CO3", (1, 2, 1))},
    "naps": {"structure": INPUTS / "naps_glass" / "structure.extxyz",
             "temperatures": [700, 1000], "crystal": None},
}


def labelled(atoms, calc):
    from ase.calculators.singlepoint import SinglePointCalculator

    a = atoms.copy()
    a.calc = calc
    e, f, s = a.get_potential_energy(), a.get_forces(), a.get_stress()
    a.calc = SinglePointCalculator(a, energy=e, forces=f, stress=s)
    return a


def md_frames(start, calc, temperature, n, stride, equilibrate, seed):
    """n labelled frames of CHGNet Langevin MD at ``temperature``."""
    from ase import units
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    atoms = start.copy()
    atoms.calc = calc
    rng = np.random.default_rng(seed)
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
    dyn = Langevin(atoms, 1.0 * units.fs, temperature_K=temperature, friction=0.02, rng=rng)
    dyn.run(equilibrate)
    frames = []
    for _ in range(n):
        dyn.run(stride)
        frames.append(labelled(atoms, calc))
    return frames


def crystal_frames(name, repeat, calc, n, seed):
    from mdsentry.build import bulk

    base = bulk(name).repeat(repeat)
    out = []
    for k in range(n):
        a = base.copy()
        a.rattle(0.05, seed=seed + k)
        out.append(labelled(a, calc))
    return out


def cached(path, make):
    from ase.io import read, write

    if path.exists():
        return read(path, ":")
    frames = make()
    write(path, frames)
    return frames


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("system", choices=sorted(SYSTEMS))
    ap.add_argument("--out", required=True)
    # CHGNet takes ~1 s per MD step of 96 atoms on one core: the defaults label 40 frames
    # per temperature in ~400 steps (frames 8 fs apart are correlated; more is better)
    ap.add_argument("--frames", type=int, default=40, help="frames per temperature")
    ap.add_argument("--stride", type=int, default=8)
    ap.add_argument("--equilibrate", type=int, default=40)
    ap.add_argument("--models", type=int, default=2)
    ap.add_argument("--deepmd-steps", type=int, default=4000)
    ap.add_argument("--mace-steps", type=int, default=2000)
    ap.add_argument("--mace-template", default="mace_small")
    ap.add_argument("--frames-only", action="store_true", help="label and cache, do not train")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    from ase.io import read

    from mdsentry.compare import compare, table
    from mdsentry.oracles import chgnet

    spec = SYSTEMS[args.system]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    calc = chgnet(threads=1)
    start = read(spec["structure"])
    temps = spec["temperatures"]
    sets = {}
    for k, t in enumerate(temps):
        sets[t] = cached(out / f"chgnet_{t}K.extxyz",
                         lambda t=t, k=k: md_frames(start, calc, t, args.frames, args.stride,
                                                    args.equilibrate, seed=k))
    first = sets[temps[0]]
    cut = int(0.8 * len(first))  # held-out: the end of the trajectory, not interleaved
    train, valid = first[:cut], first[cut:]
    transfer = {f"{t} K": sets[t] for t in temps[1:]}
    if spec["crystal"]:
        name, repeat = spec["crystal"]
        transfer[f"crystal {name}"] = cached(out / f"chgnet_crystal_{name}.extxyz",
                                             lambda: crystal_frames(name, repeat, calc, 10, 99))
    if args.frames_only:
        return 0
    report = compare(train, valid, out, transfer=transfer, n_models=args.models,
                     steps={"deepmd": args.deepmd_steps, "mace": args.mace_steps},
                     templates={"mace": args.mace_template}, jobs=0)
    report["system"] = args.system
    (out / "compare.json").write_text(json.dumps(report, indent=1))
    print(f"{args.system}: trained at {temps[0]} K, transfer to {', '.join(transfer)}")
    print(table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
