"""Command line: ``mdsentry demo | doctor | setup | train | plugin-path``."""

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


def cmd_train(args):
    """Train a committee on labelled frames and report validation RMSEs."""
    from mdsentry.frames import read_frames, split
    from mdsentry.train import get_backend

    backend = get_backend(args.backend)
    frames = read_frames(args.data)
    if args.valid:
        train, valid = frames, read_frames(args.valid)
    else:
        train, valid = split(frames, args.valid_fraction, seed=0)
    print(f"{len(train)} training and {len(valid)} validation frames")
    res = backend.train_committee(train, valid, args.out, n_models=args.models, steps=args.steps,
                                  template=args.template, init_models=args.init)
    print(f"{'model':48s} {'E (meV/atom)':>13s} {'F (meV/A)':>10s} {'W (meV/atom)':>13s}")
    for model, r in zip(res.models, res.rmse):
        if r is None:
            print(f"{model:48s} (no validation frames)")
            continue
        v = f"{1000 * r['v_per_atom']:13.2f}" if r["v_per_atom"] is not None else f"{'-':>13s}"
        print(f"{model:48s} {1000 * r['e_per_atom']:13.2f} {1000 * r['f']:10.1f} {v}")
    return 0


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

    p = sub.add_parser("train", help="train a committee of models on labelled frames")
    p.add_argument("--data", required=True, help="extxyz (or any ASE format) or deepmd npy dir")
    p.add_argument("--valid", help="held-out frames (default: --valid-fraction of --data)")
    p.add_argument("--valid-fraction", type=float, default=0.1)
    p.add_argument("--backend", default="deepmd")
    p.add_argument("--models", type=int, default=4, help="committee size (different seeds)")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--template", default="se_e2_a", help="se_e2_a, dpa1 or a dp input.json")
    p.add_argument("--init", nargs="+", help="checkpoints to warm-start from, one per model")
    p.add_argument("--out", default="runs/train")
    p.set_defaults(func=cmd_train)

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
