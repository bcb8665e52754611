"""Command line: ``mdsentry run | status | export | plot | demo | doctor | setup | train | compare | build | md | analyze``.

``mpirun -np N mdsentry run config.toml`` runs the active-learning loop on N ranks.
"""

import argparse
import os
import sys

from mdsentry.logs import rest_to


def _repo_inputs():
    here = os.path.dirname(os.path.abspath(__file__))
    for base in (os.path.join(here, "..", "..", "inputs"), os.path.join(os.getcwd(), "inputs")):
        if os.path.isdir(base):
            return os.path.abspath(base)
    raise SystemExit("mdsentry: cannot find the inputs/ directory; run from the repository root")


def cmd_demo(args):
    """The active-learning demo: LiF, CHGNet labels, a DeePMD committee (inputs/lif_demo)."""
    if args.cu_sentry:
        return demo_cu_sentry(args)
    config, cfg = demo_config(args.outdir)
    print(f"mdsentry demo: {config} -> {cfg['workdir']}")
    from mdsentry.loop import run
    from mdsentry.plots import plot_run

    state = run(cfg, progress=not args.no_progress)
    if state["stage"] == "done":
        for path in plot_run(cfg["workdir"]):
            print(f"wrote {path}")
    rest_to(os.path.join(cfg["workdir"], "mdsentry.log"))
    return 0


def demo_config(outdir=None):
    """(config path, validated config) of the LiF demo; its run directory is the config's
    own workdir, so `mdsentry status|export|plot inputs/lif_demo/run.toml` find the run."""
    from mdsentry.config import load

    config = os.path.join(_repo_inputs(), "lif_demo", "run.toml")
    cfg = load(config)
    if outdir:
        cfg["workdir"] = os.path.abspath(outdir)
    return config, cfg


def demo_cu_sentry(args):
    """Committee + sentry on heated Cu: four EAM members, no training."""
    from mdsentry.lmp import lammps
    from mdsentry.potentials import sutton_chen_committee

    out = os.path.abspath(args.outdir or "runs/demo_cu")
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
    from mdsentry.frames import split
    from mdsentry.store import load_frames
    from mdsentry.train import get_backend

    backend = get_backend(args.backend)
    frames = load_frames(args.data)
    if args.valid:
        train, valid = frames, load_frames(args.valid)
    else:
        train, valid = split(frames, args.valid_fraction, seed=0)
    print(f"{len(train)} training and {len(valid)} validation frames")
    template = args.template or backend.TEMPLATES[0]
    res = backend.train_committee(train, valid, args.out, n_models=args.models, steps=args.steps,
                                  template=template, init_models=args.init, jobs=args.jobs,
                                  device=args.device)
    print(f"{'model':48s} {'E (meV/atom)':>13s} {'F (meV/A)':>10s} {'W (meV/atom)':>13s}")
    for model, r in zip(res.models, res.rmse):
        if r is None:
            print(f"{model:48s} (no validation frames)")
            continue
        v = f"{1000 * r['v_per_atom']:13.2f}" if r["v_per_atom"] is not None else f"{'-':>13s}"
        print(f"{model:48s} {1000 * r['e_per_atom']:13.2f} {1000 * r['f']:10.1f} {v}")
    return 0


def _workdir(target):
    """A run directory from a config file (its workdir) or the directory itself."""
    if os.path.isfile(target) and target.endswith(".toml"):
        from mdsentry.config import load

        return load(target)["workdir"]
    if os.path.isdir(target):
        return target
    raise SystemExit(f"mdsentry: {target} is neither a config file nor a run directory")


def cmd_run(args):
    from mdsentry.config import load
    from mdsentry.loop import run

    cfg = load(args.config)
    state = run(cfg, progress=not args.no_progress, stop_after=args.stop_after)
    from mpi4py import MPI

    if MPI.COMM_WORLD.Get_rank() == 0 and state["stage"] == "done" and not args.no_plots:
        from mdsentry.plots import plot_run

        for path in plot_run(cfg["workdir"]):
            print(f"wrote {path}")
    rest_to(os.path.join(cfg["workdir"], "mdsentry.log"))
    return 0


def cmd_md(args):
    from mpi4py import MPI

    from mdsentry.production import production

    results = production(_workdir(args.target), args.temperatures, args.steps,
                         equilibrate=args.equilibrate, dump_every=args.dump_every,
                         timestep=args.timestep, structure=args.structure, outdir=args.out,
                         halt=args.halt, md_deck=args.deck)
    if MPI.COMM_WORLD.Get_rank() == 0:
        print(f"{'T (K)':>7s} {'trusted':>8s} {'candidate':>9s} {'above hi':>8s} "
              f"{'median devi':>11s} {'max devi':>9s}  trajectory (frames every dt ps)")
        for r in results:
            print(f"{r['temperature']:7g} {100 * r['trusted_share']:7.1f}% {r['candidate']:9d} "
                  f"{r['above']:8d} {r['median_devi']:11.3f} {r['max_devi']:9.3f}  "
                  f"{r['trajectory']} (dt {r['dt_ps']:g})"
                  + (f"  HALTED at step {r['halted_at']} (deviation >= hi)" if r["halted_at"]
                     is not None else ""))
    return 0


# what bad input raises: said in one line, without a traceback
USER_ERRORS = (OSError, ValueError, KeyError)


def report_error(exc):
    """Say what went wrong, on every rank that has the error, and end the verb.

    ConfigError and StageError are raised by every rank together: each says so and
    the job exits cleanly.  Any other error under mpirun may be one rank's alone while
    the others wait in a collective: it ends the whole job (``mpiutil.abort``).
    """
    import traceback

    from mdsentry.config import ConfigError
    from mdsentry.mpiutil import StageError, abort

    from mdsentry.store import StoreError

    if not isinstance(exc, (ConfigError, StageError, StoreError, *USER_ERRORS)):
        traceback.print_exception(exc)  # a bug: the traceback says where
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is None and any(k in os.environ for k in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE",
                                                       "PMIX_RANK")):
        from mpi4py import MPI as mpi  # started by mpirun: every rank says who it is
    size = mpi.COMM_WORLD.Get_size() if mpi is not None else 1
    if size > 1 and not isinstance(exc, (ConfigError, StageError)):
        abort(exc)
    prefix = f"[rank {mpi.COMM_WORLD.Get_rank()}] " if size > 1 else ""
    message = str(exc) if not isinstance(exc, KeyError) else f"{exc.args[0]!r} not found"
    print(f"{prefix}mdsentry: error: {message}", file=sys.stderr, flush=True)
    return 2 if isinstance(exc, ConfigError) else 1


def cmd_status(args):
    from mdsentry import store
    from mdsentry.loop import load_state
    from mdsentry.report import summary

    workdir = _workdir(args.target)
    state = load_state(workdir)
    if state is None:
        raise SystemExit(f"mdsentry: {workdir} has no state.json yet")
    where = f"finished ({state['done']})" if state["stage"] == "done" else \
        f"at iteration {state['iteration']}, next stage {state['stage']}"
    print(f"{workdir}: {where}")
    committee = state.get("committee") or {}
    if committee:
        print(f"committee v{committee['version']}: {len(committee['models'])} models")
    path = os.path.join(workdir, "frames.h5")
    if os.path.exists(path):
        t = store.table(path)
        print(f"store {path}: {len(t['status'])} frames")
        for source in sorted(set(t["source"])):
            sel = t["source"] == source
            counts = ", ".join(f"{int((t['status'][sel] == v).sum())} {k}"
                               for k, v in store.STATUS.items())
            print(f"  {source:24s} {int(sel.sum()):6d} frames: {counts}")
        print(f"  oracle calls so far: {state['labels_used']}")
    print()
    print(summary(state))
    return 0


def cmd_export(args):
    from mdsentry import store

    target = args.target
    path = target if target.endswith((".h5", ".hdf5")) else \
        os.path.join(_workdir(target), "frames.h5")
    if args.format == "extxyz":
        out = store.export(path, args.out, status=args.status)
        print(f"wrote {out}")
    else:  # a training backend's own format
        from mdsentry.train import get_backend

        systems = get_backend(args.format).write_data(store.read(path, status=args.status),
                                                      args.out)
        print(f"wrote {len(systems)} {args.format} systems in {args.out}")
    return 0


def cmd_plot(args):
    from mdsentry.plots import plot_run

    for path in plot_run(_workdir(args.target), args.out):
        print(f"wrote {path}")
    return 0


def cmd_compare(args):
    """DeePMD vs MACE committees on the same labelled frames."""
    from mdsentry.compare import compare
    from mdsentry.frames import split
    from mdsentry.store import load_frames

    frames = load_frames(args.data)
    if args.valid:
        train, valid = frames, load_frames(args.valid)
    else:
        train, valid = split(frames, args.valid_fraction, seed=0)
    transfer = {os.path.basename(p): load_frames(p) for p in args.transfer or []}
    report = compare(train, valid, args.out, transfer=transfer, n_models=args.models,
                     steps={"deepmd": args.deepmd_steps, "mace": args.mace_steps},
                     templates={"deepmd": args.deepmd_template, "mace": args.mace_template},
                     md_steps=args.md_steps, jobs=args.jobs)
    from mdsentry.compare import table

    print(table(report))
    print(f"wrote {args.out}/compare.json, compare.md, compare_parity.png")
    return 0


def cmd_setup(args):
    from mdsentry import setup_deepmd, setup_mace

    rc = setup_deepmd.ensure(force=args.force, jobs=args.jobs)
    return rc or setup_mace.ensure()


def cmd_plugin_path(args):
    from mdsentry.plugin import plugin_path

    print(plugin_path())
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="mdsentry", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run or resume the active-learning loop of a config file "
                       "(mpirun -np N mdsentry run config.toml)")
    p.add_argument("config")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--no-plots", action="store_true", help="do not write PNG plots at the end")
    p.add_argument("--stop-after", metavar="STAGE",
                   help="stop after this stage (explore, select, label, train, ...)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("md", help="production MD with a run's committee at several temperatures "
                       "(one walker each; fix sentry logs every check, --halt stops above hi)")
    p.add_argument("target", help="config file or run directory")
    p.add_argument("--temperatures", type=float, nargs="+", required=True)
    p.add_argument("--steps", type=int, required=True, help="production steps (after equilibration)")
    p.add_argument("--equilibrate", type=int, default=2000)
    p.add_argument("--dump-every", type=int, default=50)
    p.add_argument("--timestep", type=float, help="ps (default: the run's explore.timestep)")
    p.add_argument("--structure", help="start structure (default: the run's start.data)")
    p.add_argument("--out", help="directory (default: RUN/production)")
    p.add_argument("--halt", action="store_true",
                   help="stop a temperature's run at its first check above hi")
    p.add_argument("--deck", help="file of LAMMPS commands for the ensemble (fixes; ${temp} and "
                   "${seed} are defined) instead of the default NVT (Nose-Hoover, damping "
                   "100 steps)")
    p.set_defaults(func=cmd_md)

    p = sub.add_parser("status", help="where a run is: stage, store counts, iteration table")
    p.add_argument("target", help="config file or run directory")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("export", help="write the store's frames as extxyz or deepmd npy")
    p.add_argument("target", help="config file, run directory or store .h5")
    p.add_argument("--out", required=True, help="file (extxyz) or directory (deepmd)")
    p.add_argument("--format", default="extxyz", choices=("extxyz", "deepmd", "mace"))
    p.add_argument("--status", default="labelled", choices=("labelled", "unlabelled", "failed"))
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("plot", help="learning curve, deviation trace and parity plots (PNG)")
    p.add_argument("target", help="config file or run directory")
    p.add_argument("--out", help="directory for the PNG files (default: the run directory)")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("demo", help="active learning of LiF with the CHGNet oracle "
                       "(--cu-sentry: committee + sentry on heated Cu only)")
    p.add_argument("--outdir", help="run directory (default: the workdir of "
                   "inputs/lif_demo/run.toml, i.e. inputs/lif_demo/runs/lif_demo; runs/demo_cu)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--cu-sentry", action="store_true",
                   help="the plugin-only demo: 4 EAM members, fix sentry halts the heating")
    p.add_argument("--lo", type=float, default=0.04, help="candidate threshold (eV/A)")
    p.add_argument("--hi", type=float, default=0.07, help="halt threshold (eV/A)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("doctor", help="check LAMMPS, MPI, the plugin and the ML backends")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("train", help="train a committee of models on labelled frames")
    p.add_argument("--data", required=True, help="extxyz (or any ASE format) or deepmd npy dir")
    p.add_argument("--valid", help="held-out frames (default: --valid-fraction of --data)")
    p.add_argument("--valid-fraction", type=float, default=0.1)
    p.add_argument("--backend", default="deepmd", help="deepmd or mace")
    p.add_argument("--models", type=int, default=4, help="committee size (different seeds)")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--template", default=None,
                   help="a shipped template (deepmd: se_e2_a, dpa1; mace: mace_small, mace_l1; "
                        "default the first) or your own file (dp input.json / mace options)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--init", nargs="+", help="checkpoints to warm-start from, one per model")
    p.add_argument("--jobs", type=int, default=0, help="members trained at once (0: one per core)")
    p.add_argument("--out", default="runs/train")
    p.set_defaults(func=cmd_train)

    from mdsentry.cli_analyze import add_parser as add_analyze
    from mdsentry.cli_build import add_parser as add_build

    add_build(sub)
    add_analyze(sub)

    p = sub.add_parser("setup", help="rebuild deepmd-kit's torch libraries if they do not "
                       "match the installed torch (cached), install mace-torch beside "
                       "deepmd-kit (idempotent)")
    p.add_argument("--force", action="store_true", help="rebuild even if they load")
    p.add_argument("--jobs", type=int, default=None, help="parallel compile jobs")
    p.set_defaults(func=cmd_setup)

    p = sub.add_parser("compare", help="train DeePMD and MACE committees on the same labelled "
                       "frames and compare accuracy, transferability, cost and MD speed")
    p.add_argument("--data", required=True, help="labelled frames (extxyz, store .h5, ...)")
    p.add_argument("--valid", help="held-out frames (default: --valid-fraction of --data)")
    p.add_argument("--valid-fraction", type=float, default=0.2)
    p.add_argument("--transfer", nargs="+", help="labelled frames of another phase/temperature")
    p.add_argument("--models", type=int, default=2, help="members per committee")
    p.add_argument("--deepmd-steps", type=int, default=2000)
    p.add_argument("--mace-steps", type=int, default=2000)
    p.add_argument("--deepmd-template", default=None)
    p.add_argument("--mace-template", default=None)
    p.add_argument("--md-steps", type=int, default=50, help="NVE steps timed per backend")
    p.add_argument("--jobs", type=int, default=0, help="members trained at once (0: one per core)")
    p.add_argument("--out", default="runs/compare")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("plugin-path", help="print the path of mdsentryplugin.so")
    p.set_defaults(func=cmd_plugin_path)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - every verb ends in a message, never a hang
        return report_error(exc)


if __name__ == "__main__":
    sys.exit(main())
