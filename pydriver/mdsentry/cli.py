"""Command line: ``mdsentry demo | doctor | setup | plugin-path``."""

import argparse
import os
import sys


def _repo_inputs():
    here = os.path.dirname(os.path.abspath(__file__))
    for base in (os.path.join(here, "..", "..", "inputs"), os.path.join(os.getcwd(), "inputs")):
        if os.path.isdir(base):
            return os.path.abspath(base)
    raise SystemExit("mdsentry: cannot find the inputs/ directory; run from the repository root")


def cmd_demo(args):
    """Committee + sentry demo on the shipped Cu example (no training yet)."""
    from mdsentry.lmp import lammps
    from mdsentry.potentials import sutton_chen_committee

    out = os.path.abspath(args.outdir)
    os.makedirs(out, exist_ok=True)
    pots = sutton_chen_committee(out, size=4, spread=0.03, seed=7)
    deck = os.path.join(_repo_inputs(), "cu_committee", "in.committee")
    cmd = ["-nocite", "-log", os.path.join(out, "log.lammps")]
    for k, p in enumerate(pots, 1):
        cmd += ["-var", f"pot{k}", p]
    cmd += ["-var", "outdir", out, "-var", "lo", str(args.lo), "-var", "hi", str(args.hi)]
    lmp = lammps(args=cmd)
    lmp.file(deck)
    watch = [lmp.extract_fix("watch", 0, 1, i) for i in range(9)]
    step = lmp.get_thermo("step")
    lmp.close()
    print()
    print(f"demo finished at step {int(step)}: {int(watch[1])} trusted, {int(watch[2])} candidate "
          f"and {int(watch[5])} above-hi checks")
    if watch[3]:
        print(f"fix sentry halted the run at step {int(watch[6])} "
              f"(max force deviation {watch[0]:.3f} eV/A >= hi = {args.hi})")
    else:
        print("the run finished without crossing hi")
    print(f"outputs in {out}: model_devi.out, sentry.log, candidates.xyz, traj.dump, log.lammps")
    return 0


def cmd_doctor(args):
    from mdsentry.doctor import run_checks

    return run_checks()


def cmd_setup(args):
    from mdsentry.setup_deepmd import ensure

    return ensure(force=args.force, jobs=args.jobs)


def cmd_plugin_path(args):
    from mdsentry.plugin import plugin_path

    print(plugin_path())
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="mdsentry", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="committee + sentry demo on a heated Cu crystal")
    p.add_argument("--outdir", default="runs/demo")
    p.add_argument("--lo", type=float, default=0.04, help="candidate threshold (eV/A)")
    p.add_argument("--hi", type=float, default=0.07, help="halt threshold (eV/A)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("doctor", help="check LAMMPS, MPI, the plugin and the ML backends")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("setup", help="rebuild deepmd-kit's torch libraries if they do not "
                       "match the installed torch (cached, idempotent)")
    p.add_argument("--force", action="store_true", help="rebuild even if they load")
    p.add_argument("--jobs", type=int, default=None, help="parallel compile jobs")
    p.set_defaults(func=cmd_setup)

    p = sub.add_parser("plugin-path", help="print the path of mdsentryplugin.so")
    p.set_defaults(func=cmd_plugin_path)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
