"""What the label-cost benchmarks of issue #14 share (bench_label_efficiency.py,
bench_label_online.py, bench_label_sei.py): the committee's per-atom deviation and the
held-out errors, the oracle (CHGNet Langevin runs and cached labels), a frozen pool
from LAMMPS MD with one DeePMD model, and the cost to reach random's final RMSE with
its bootstrap interval over paired seeds."""

import json
import os
import sys

import numpy as np

# ---- the committee and the held-out errors ---------------------------------------------


def atom_deviation(models, frames):
    """Per frame, each atom's force deviation sigma_i (deepmd-kit's definition)."""
    from mdsentry.train.deepmd import predict

    forces = np.array([[f for _, f, _ in predict(m, frames)] for m in models])  # (M, N, n, 3)
    return np.sqrt(np.mean(np.sum((forces - forces.mean(axis=0)) ** 2, axis=-1), axis=0))


def force_errors(model, frames):
    """|F_model - F_label| of every atom of every frame."""
    from mdsentry.train.deepmd import predict

    return np.concatenate([np.linalg.norm(f - a.get_forces(), axis=1)
                           for (_, f, _), a in zip(predict(model, frames), frames)])


# ---- the oracle --------------------------------------------------------------------------


def oracle_trajectory(atoms, temperature, steps, every, seed):
    """CHGNet Langevin MD (1 fs, one thread) of ``atoms``: every ``every``-th frame with
    CHGNet's energy, forces and stress, the starting frame included (the field deck's
    make_potential.trajectory, which made the stand-in committee's data)."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                    "inputs", "li_li2co3_field"))
    from make_potential import trajectory

    return trajectory(temperature, steps, every, seed, atoms=atoms)


def oracle_md(atoms, jobs):
    """oracle_trajectory of ``atoms`` for each (temperature, steps, every, seed), one
    process per run; not the first frame of a run (the given structure itself, the same
    in every run)."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=min(len(jobs), os.cpu_count() or 1)) as ex:
        runs = list(ex.map(oracle_trajectory, [atoms] * len(jobs), *zip(*jobs)))
    return [f for run in runs for f in run[1:]]


class Oracle:
    """CHGNet energies and forces (and stress: ``stress=True``, for whole periodic
    frames); a frame given a ``key`` is labelled once (paired seeds that pick the same
    pool frame share its label)."""

    def __init__(self):
        from mdsentry.oracles import chgnet

        self.calc = chgnet(threads=int(os.environ.get("OMP_NUM_THREADS", "1")))
        self.cache = {}

    def label(self, atoms, key=None, stress=False):
        from ase.calculators.singlepoint import SinglePointCalculator

        if key is not None and key in self.cache:
            return self.cache[key]
        a = atoms.copy()
        a.calc = self.calc
        e, f = a.get_potential_energy(), a.get_forces()
        out = atoms.copy()
        out.calc = SinglePointCalculator(out, energy=e, forces=f,
                                         stress=a.get_stress(voigt=True) if stress else None)
        if key is not None:
            self.cache[key] = out
        return out


# ---- the frozen candidate pool ---------------------------------------------------------


def pool_md(model, atoms, elements, temperature, frames, every, seed, workdir):
    """Frames of a LAMMPS NVT run (0.5 fs steps) of ``atoms`` with one DeePMD model,
    every ``every`` steps after 2 x ``every`` steps of warm-up."""
    from ase.io import write

    from mdsentry.lmp import lammps

    data = os.path.join(workdir, f"pool_{temperature:g}.data")
    write(data, atoms, format="lammps-data", specorder=elements, masses=True)
    lmp = lammps()
    lmp.commands_string(f"""units metal
atom_style atomic
read_data {data}
pair_style deepmd {model}
pair_coeff * * {' '.join(elements)}
timestep 0.0005
velocity all create {temperature} {seed} mom yes rot no dist gaussian
fix md all nvt temp {temperature} {temperature} 0.05
thermo 1000
run {2 * every}
""")
    out = []
    for _ in range(frames):
        lmp.command(f"run {every} pre no post no")
        x = np.ctypeslib.as_array(lmp.gather_atoms("x", 1, 3)).reshape(-1, 3)
        frame = atoms.copy()
        frame.positions = x
        frame.wrap()
        frame.info["temperature"] = temperature
        out.append(frame)
    lmp.close()
    return out


# ---- the cost to reach random's final RMSE ------------------------------------------------


def calls_to_reach(points, target):
    """Cost (calls, or atoms) at which a curve of (cost, RMSE) points first reaches
    target (linear between points); None if it never does."""
    for (c0, r0), (c1, r1) in zip(points, points[1:]):
        if r1 <= target:
            frac = 1.0 if r0 <= r1 else min(1.0, max(0.0, (r0 - target) / (r0 - r1)))
            return c0 + frac * (c1 - c0)
    return None


def cost_summary(points, strategies, seeds, cap, unit="oracle calls"):
    """Print and return, per strategy, the cost each paired seed needs to reach random's
    final RMSE of that seed and the ratio random/strategy with its bootstrap interval.
    ``points[(strategy, seed)]``: (cost, RMSE) pairs; ``cap[(strategy, seed)]``: the
    cost charged when the target is never reached."""
    rng = np.random.default_rng(0)
    print(f"\n{unit} to reach random's final RMSE (per seed) and random/strategy, "
          "bootstrap 90 % over seeds")
    summary = {}
    for s in strategies:
        need, base = [], []
        for k in seeds:
            target = points[("random", k)][-1][1]
            need.append(calls_to_reach(points[(s, k)], target))
            base.append(calls_to_reach(points[("random", k)], target))
        ratio, ci = cost_ratio(need, base, [cap[(s, k)] for k in seeds], rng)
        summary[s] = {"calls": need, "ratio": ratio, "ci90": ci}
        print(f"  {s:10s} {['-' if x is None else round(x, 1) for x in need]}  "
              f"{ratio:.2f}x [{ci[0]:.2f}, {ci[1]:.2f}]")
    return summary


def cost_ratio(need, base, cap, rng, draws=2000):
    """random/strategy cost over paired seeds: the sum of random's over the sum of the
    strategy's (a seed that never reaches the target charged cap[k]), and its bootstrap
    90 % interval over seeds."""
    n = np.array([c if x is None else x for x, c in zip(need, cap)], float)
    b = np.array(base, float)
    boots = [b[i].sum() / n[i].sum() for i in (rng.integers(0, len(n), len(n))
                                               for _ in range(draws))]
    return float(b.sum() / n.sum()), [float(x) for x in np.percentile(boots, [5, 95])]


def write_results(path, res, **fields):
    """Write ``fields`` and, per "strategy/seed", the curve and the p99 force error of
    ``res[(strategy, seed)] = (curve, p99)`` to the JSON file ``path``."""
    with open(path, "w") as fh:
        json.dump(dict(fields, curves={f"{s}/{k}": v[0] for (s, k), v in res.items()},
                       p99={f"{s}/{k}": v[1] for (s, k), v in res.items()}), fh, indent=1)
