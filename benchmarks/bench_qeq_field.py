"""Cost of fix qeq/field every step relative to the ML pair style alone.

The Li(111)/Li2CO3(001) interface of inputs/li_li2co3_field (prepare.py), replicated to
about 1000 atoms, p p f, 10 A of vacuum each side; NVT at 400 K, 0.5 fs.  Rows:

* the DeePMD model alone;
* + fix qeq/field 1 10.0 1e-8 200 at 0.03 V/A, metal and carbonate each neutral (the
  deck's settings): 4 solves per step (zero field, field, two constraint groups);
* the same with the field off (2 solves: only the zero-field charges are computed).

"fix/pair time" is the fix's own time (LAMMPS's Modify row less the thermostat's) over
the pair style's time in the same run: the fix's cost free of the pair style's
run-to-run noise.  Goal (issue #13): < 20 % over the pair style alone for a ~1000-atom slab with a DeePMD
model.  The default model is the shipped tiny Cu test model with every type mapped to Cu
(cost only: rcut 5 A, a small network, so the fix's share is the largest it gets);
--model/--elements take a real Li/C/O model (e.g. one of benchmarks/compare_seeds.py).

    .venv/bin/python benchmarks/bench_qeq_field.py [--steps 200] [--repeat 2]
        [--model m.pth --elements Li C O] [--np 2]
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DECK = os.path.join(HERE, "..", "inputs", "li_li2co3_field")
TINY = os.path.join(HERE, "..", "tests", "data", "deepmd", "cu_1.pth")


def prepare(workdir, replicate):
    """interface.data and interface.vars in workdir, from the deck's prepare.py."""
    import shutil

    for name in ("li_li2co3_field", "li_li2co3_interface"):
        src = os.path.join(HERE, "..", "inputs", name)
        dst = os.path.join(workdir, name)
        if not os.path.isdir(dst):
            shutil.copytree(src, dst)
    deck = os.path.join(workdir, "li_li2co3_field")
    subprocess.run([sys.executable, "prepare.py"], cwd=deck, check=True, capture_output=True)
    return deck


def run_case(deck, model, elements, fix, steps, replicate):
    from mpi4py import MPI

    from mdsentry.lmp import lammps

    log = os.path.join(deck, "bench.log")
    lmp = lammps(comm=MPI.COMM_WORLD, deepmd=True,
                 args=("-nocite", "-screen", "none", "-log", log))
    with open(os.path.join(deck, "interface.vars")) as fh:
        zsplit = float(fh.read().split()[3])
    lmp.commands_string(f"""units metal
atom_style charge
boundary p p f
read_data {deck}/interface.data
replicate {replicate[0]} {replicate[1]} 1
pair_style deepmd {model}
pair_coeff * * {' '.join(elements)}
region metal block INF INF INF INF INF {zsplit} units box
group metal region metal
group sei subtract all metal
velocity all create 400 4171 dist gaussian
fix md all nvt temp 400 400 0.05
timestep 0.0005
thermo 1000
""")
    if fix:
        lmp.command(fix.format(params=os.path.join(deck, "qeq_lico.params")))
        lmp.command("fix_modify field energy yes virial yes")
    lmp.command("run 20")  # warm: model load, lists, warm-start histories
    t0 = time.perf_counter()
    lmp.command(f"run {steps}")
    seconds = time.perf_counter() - t0
    natoms = lmp.get_natoms()
    iterations = None
    if fix:
        from lammps import LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR

        iterations = lmp.extract_fix("field", LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR, 3)
    lmp.close()
    return {"steps_per_s": steps / seconds, "natoms": natoms, "iterations": iterations,
            **breakdown(log)}


def breakdown(log):
    """Seconds in Pair and in Modify (the fixes) of the last run, from LAMMPS's timing
    table: the fix's own cost, free of run-to-run noise in the pair style."""
    out = {}
    with open(log) as fh:
        for line in fh:
            parts = [p.strip() for p in line.split("|")]
            if len(parts) >= 3 and parts[0] in ("Pair", "Modify"):
                out[parts[0].lower()] = float(parts[2])  # avg time over ranks
    return out


FIX = ("fix field all qeq/field 1 10.0 1e-8 200 {params} efield 0 0 %s "
       "qgroup metal 0.0 qgroup sei 0.0")
CASES = {"pair alone": None, "+ qeq/field at 0.03 V/A": FIX % "0.03",
         "+ qeq/field at 0 V/A": FIX % "0.0"}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--model", default=TINY)
    p.add_argument("--elements", nargs=3, default=["Cu", "Cu", "Cu"])
    p.add_argument("--replicate", type=int, nargs=2, default=[2, 4])
    p.add_argument("--np", type=int, default=1)
    p.add_argument("--workdir", default="/tmp/bench_qeq_field")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.np > 1 and not args.worker:
        cmd = [os.path.join(os.path.dirname(sys.executable), "mpirun"), "-np", str(args.np),
               sys.executable, __file__, "--worker", *sys.argv[1:]]
        sys.exit(subprocess.call(cmd))
    from mpi4py import MPI

    os.makedirs(args.workdir, exist_ok=True)
    if MPI.COMM_WORLD.rank == 0:
        prepare(args.workdir, args.replicate)
    MPI.COMM_WORLD.Barrier()
    deck = os.path.join(args.workdir, "li_li2co3_field")
    best = {}
    for _ in range(args.repeat):
        for name, fix in CASES.items():
            r = run_case(deck, args.model, args.elements, fix, args.steps, args.replicate)
            if name not in best or r["steps_per_s"] > best[name]["steps_per_s"]:
                best[name] = r
    if MPI.COMM_WORLD.rank == 0:
        base = best["pair alone"]["steps_per_s"]
        print(f"{best['pair alone']['natoms']} atoms, model {os.path.basename(args.model)} "
              f"({' '.join(args.elements)}), {args.np} rank(s), best of {args.repeat}")
        nvt = best["pair alone"]["modify"]  # the thermostat's share of Modify
        print(f"{'case':28s} {'steps/s':>9s} {'time ratio':>11s} {'fix/pair time':>14s} "
              f"{'CG iterations/step':>19s}")
        for name, r in best.items():
            it = "" if r["iterations"] is None else f"{r['iterations']:.0f}"
            share = (r["modify"] - nvt) / r["pair"]
            print(f"{name:28s} {r['steps_per_s']:9.2f} {base / r['steps_per_s']:11.3f} "
                  f"{share:14.3f} {it:>19s}")
        print(json.dumps({k: v["steps_per_s"] for k, v in best.items()}))


if __name__ == "__main__":
    main()
