"""GPU benchmark harness: one member alone vs a committee of four, on one GPU.

Run on a GPU node (a CUDA build of torch and of deepmd-kit's LAMMPS library, the
mdsentry plugins installed), one rank per GPU:

    python benchmarks/gpu/bench_gpu.py --device cuda --atoms 1000 10000 100000 \\
        --every 1 10 100 [--deepmd m1.pth m2.pth m3.pth m4.pth] \\
        [--mace m1.model-lammps.pt ...] [--element Cu] [--json out.json]

For each backend and size it prints steps/s and atom-steps/s of one member alone
(``pair_style deepmd`` / ``pair_style mace``) and of ``pair_style committee every k``
with four members, and the committee's time per step against the member alone,
measured in the same process (best of --repeat interleaved runs), with the hardware
named.  Without models it uses the tiny Cu models of tests/data (their cost is not a
production model's: give your own).  The goal of issue #15: N=4 every 10 <= 1.35x one
member on one GPU.  Anchors: DeePMD ~4.5e4 atom-steps/s per V100 (Summit); MACE
6.7e4 atom-steps/s on 2 x A100 at 2,300 atoms (symmetrix); MACE 180 ps/day for 1,440
atoms on one A100.

The driver's placement on several GPUs: ``mpirun -np 4 python bench_gpu.py --placement``
prints the GPU every rank keeps (placement.place with explore.device cuda) and the one
torch then sees.

--device cpu runs the same cases on the CPU (tests/test_bench_gpu.py keeps the harness
working where no GPU is).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "tests", "data")
TINY = {"deepmd": [os.path.join(DATA, "deepmd", f"cu_{k}.pth") for k in (1, 2, 1, 2)],
        "mace": [os.path.join(DATA, "mace", f"cu_{k}.model-lammps.pt") for k in (1, 2, 1, 2)]}
LATTICE = 3.61  # fcc Cu, the tiny models' element


def hardware(device):
    """The device the numbers belong to, in words."""
    if device == "cuda":
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total",
                                  "--format=csv,noheader"], capture_output=True, text=True,
                                 timeout=30).stdout.strip().splitlines()
            if out:
                return f"{out[0]} (x{len(out)} on the node)"
        except (OSError, subprocess.TimeoutExpired):
            pass
        import torch

        return torch.cuda.get_device_name(0)
    cpu = platform.processor() or "CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    from mdsentry.placement import cpu_threads

    return f"{cpu}, {cpu_threads()} cores available"


def repeats_for(natoms):
    """fcc repeats n (4 n^3 atoms) closest to natoms."""
    return max(2, round((natoms / 4) ** (1 / 3)))


def system(n, element, mass):
    return f"""units metal
lattice fcc {LATTICE}
region box block 0 {n} 0 {n} 0 {n}
create_box 1 box
create_atoms 1 box
mass 1 {mass}
displace_atoms all random 0.05 0.05 0.05 4711
velocity all create 600.0 4928459 mom yes rot yes dist gaussian
fix nve all nve
timestep 0.001
thermo 1000
"""


def cases(backend, models, element, device, every):
    """name -> LAMMPS commands: the member alone, then the committee every k."""
    if backend == "deepmd":
        alone = [f"pair_style deepmd {models[0]}", f"pair_coeff * * {element}"]
        members = " ".join(f"deepmd {m}" for m in models)
        coeff = [f"pair_coeff * * {k} {element}" for k in range(1, len(models) + 1)]
    else:
        alone = [f"pair_style mace device {device}", f"pair_coeff * * {models[0]} {element}"]
        members = " ".join(f"mace device {device}" for _ in models)
        coeff = [f"pair_coeff * * {k} {m} {element}" for k, m in enumerate(models, 1)]
    out = {"member alone": alone}
    for k in every:
        out[f"committee N={len(models)} every {k}"] = [
            f"pair_style committee every {k} {members}", *coeff]
    return out


def rate(commands, n, element, mass, steps, deepmd, align):
    from mdsentry.lmp import lammps

    lmp = lammps(deepmd=deepmd)
    try:
        lmp.commands_string(system(n, element, mass))
        lmp.commands_list(commands)
        # neighbor lists, CUDA contexts and torch's first (profiling) calls of every member.
        # The timed run's last step is a thermo step, on which LAMMPS tallies energy and
        # virial and so the committee evaluates every member: the warm-up makes it end on
        # a multiple of the largest every, one of the scheduled deviation steps (as in a
        # production run), instead of adding an unscheduled one.
        lmp.command(f"run {20 + (-(20 + steps)) % align}")
        t0 = time.perf_counter()
        lmp.command(f"run {steps} pre no post no")
        dt = time.perf_counter() - t0
        return steps / dt, lmp.get_natoms()
    finally:
        lmp.close()


def bench(args):
    from ase.data import atomic_masses, atomic_numbers

    mass = atomic_masses[atomic_numbers[args.element]]
    rows = []
    for backend in args.backends:
        models = getattr(args, backend) or TINY[backend]
        if len(models) < 2:
            raise SystemExit(f"--{backend}: give the committee's members (four for N=4)")
        for natoms in args.atoms:
            n = repeats_for(natoms)
            best = {}
            for _ in range(args.repeat):  # interleaved: drifts in clock speed hit all cases
                for name, cmds in cases(backend, models, args.element, args.device,
                                        args.every).items():
                    r, nat = rate(cmds, n, args.element, mass, args.steps, backend == "deepmd",
                                  max(args.every))
                    best[name] = max(best.get(name, 0.0), r)
            base = best["member alone"]
            for name, r in best.items():
                rows.append({"backend": backend, "atoms": nat, "case": name, "steps_per_s": r,
                             "atom_steps_per_s": r * nat, "time_ratio": base / r})
    return rows


def placement_report():
    """Under mpirun: each rank's GPU after placement.place (explore.device cuda)."""
    from mpi4py import MPI

    from mdsentry.placement import node_name, place

    comm = MPI.COMM_WORLD
    cfg = {"explore": {"device": "cuda"}, "train": {"device": "cuda"}}
    place(cfg, comm)
    seen = "none"
    try:
        import torch

        if torch.cuda.is_available():
            seen = f"{torch.cuda.get_device_name(0)} (torch device 0 of {torch.cuda.device_count()})"
    except ImportError:
        pass
    rows = comm.gather((comm.rank, node_name(), os.environ.get("CUDA_VISIBLE_DEVICES"), seen))
    if comm.rank == 0:
        print(f"{'rank':>4}  {'node':<20} {'CUDA_VISIBLE_DEVICES':<22} torch sees")
        for r, node, gpu, what in rows:
            print(f"{r:>4}  {node:<20} {gpu!s:<22} {what}")
        gpus = {(node, g) for _, node, g, _ in rows}
        print(f"{len(gpus)} distinct GPUs for {len(rows)} ranks")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument("--backends", nargs="+", choices=["deepmd", "mace"],
                    default=["deepmd", "mace"])
    ap.add_argument("--deepmd", nargs="+", help="the committee's deepmd models (.pth)")
    ap.add_argument("--mace", nargs="+", help="the committee's MACE exports (-lammps.pt)")
    ap.add_argument("--element", default="Cu", help="the element the models know (fcc cell)")
    ap.add_argument("--atoms", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--every", type=int, nargs="+", default=[1, 10, 100])
    ap.add_argument("--steps", type=int, default=200,
                    help="timed steps; a multiple of the largest --every gives every k "
                         "exactly steps/k deviation steps")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--json", help="write the rows here")
    ap.add_argument("--placement", action="store_true",
                    help="report the driver's GPU placement of every rank (under mpirun)")
    args = ap.parse_args(argv)
    if args.placement:
        placement_report()
        return
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # deepmd would take a GPU it sees
    what = hardware(args.device)
    rows = bench(args)
    print(f"# {what}; {args.steps} steps, best of {args.repeat}")
    print(f"{'backend':<7} {'atoms':>7}  {'case':<26} {'steps/s':>9} {'atom-steps/s':>13} "
          f"{'time / member alone':>20}")
    for r in rows:
        print(f"{r['backend']:<7} {r['atoms']:>7}  {r['case']:<26} {r['steps_per_s']:>9.2f} "
              f"{r['atom_steps_per_s']:>13.3e} {r['time_ratio']:>19.2f}x")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"hardware": what, "device": args.device, "steps": args.steps,
                       "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    sys.exit(main())
