"""Production MD with a run's committee: one LAMMPS per temperature, watched by fix sentry.

    mpirun -np N mdsentry md run.toml --temperatures 700 900 1100 --steps 20000

The committee is the run's accepted one (state.json); the structure is the
run's start (or ``--structure``).  Each temperature is a walker on its own MPI
sub-communicator (N must be a multiple of their number).  ``fix sentry`` runs
with ``halt no`` (``halt=True``: the run stops at the first check above hi):
every check is logged, and the summary says which share of the trajectory stayed
below lo (trusted) -- the number that tells whether the trajectory can be believed.
"""

import json
import os

import numpy as np


def committee_of(workdir):
    """The accepted committee of a run directory: (models, config, version); the
    config's explore.lo/hi are the committee's calibrated thresholds when it has them."""
    from mdsentry.loop import load_state

    state = load_state(workdir)
    if state is None or not state.get("committee"):
        raise FileNotFoundError(f"{workdir}: no trained committee (state.json) yet")
    with open(os.path.join(workdir, "config.json")) as fh:
        cfg = json.load(fh)
    from mdsentry.walkers import thresholds_of

    # the committee's calibrated thresholds (explore.lo_error/hi_error), if any
    cfg["explore"]["lo"], cfg["explore"]["hi"] = thresholds_of(
        cfg, state["committee"].get("thresholds"))
    return state["committee"]["models"], cfg, state["committee"]["version"]


def thermostat(temperature, timestep):
    """The default production ensemble: NVT, Nose-Hoover chain, damping 100 time steps."""
    return f"fix md all nvt temp {temperature} {temperature} {100 * timestep}"


def deck(cfg, models, data, temperature, seed, steps, equilibrate, dump_every, timestep, outdir,
         halt=False, md_commands=None, boundary=None):
    """The production deck; ``md_commands``: the user's ensemble (fixes, computes; with
    ``${temp}`` and ``${seed}`` defined) in place of the default ``thermostat``."""
    from mdsentry.walkers import system_commands

    ex, elements = cfg["explore"], cfg["system"]["elements"]
    return "\n".join([
        *system_commands(cfg, models, data, workdir_var=outdir, boundary=boundary),
        f"fix watch all sentry {ex['every']} {ex['lo']} {ex['hi']} halt {'yes' if halt else 'no'} "
        f"elements "
        f"{' '.join(elements)} file {outdir}/sentry.log",
        f"timestep {timestep}",
        f"velocity all create {temperature} {seed} mom yes rot yes dist gaussian",
        f"variable temp equal {temperature}", f"variable seed equal {seed}",
        md_commands if md_commands is not None else thermostat(temperature, timestep),
        "thermo_style custom step temp pe press f_watch[1] f_watch[2] f_watch[3]",
        "thermo 1000",
        f"run {equilibrate}",
        f"dump traj all custom {dump_every} {outdir}/traj.dump id element x y z",
        f"dump_modify traj element {' '.join(elements)} sort id",
        f"run {steps}", ""])


def production(workdir, temperatures, steps, equilibrate=2000, dump_every=50, timestep=None,
               structure=None, outdir=None, seed=4928, halt=False, md_deck=None, comm=None):
    """Run production MD at each temperature; returns a summary dict per temperature
    (on every rank): trusted share, candidate and above-hi checks, max deviation, and
    the step where the run stopped above hi (``halt``; None when it did not).
    ``md_deck``: a file of LAMMPS commands for the ensemble (default: ``thermostat``)."""
    from mpi4py import MPI

    from mdsentry.engine import split_walkers
    from mdsentry.explore import devi_since
    from mdsentry.lmp import lammps
    from mdsentry.mpiutil import collective

    comm = comm or MPI.COMM_WORLD
    models, cfg, version = committee_of(workdir)
    from mdsentry.train import set_thread_env

    set_thread_env(cfg["train"]["backend"])  # one thread per walker rank, as in the loop
    md_commands = None
    if md_deck is not None:
        from mdsentry.config import deck_problems

        with open(md_deck) as fh:
            md_commands = fh.read()
        problems = deck_problems(md_commands, md_deck)
        if problems:
            raise ValueError("; ".join(problems))
    outdir = os.path.abspath(outdir or os.path.join(workdir, "production"))
    timestep = timestep or cfg["explore"]["timestep"]
    if structure is None:
        from mdsentry.walkers import initial_data_file
        from mdsentry.mpiutil import on_root

        data = on_root(comm, lambda: initial_data_file(cfg))
    else:
        data = structure
    # a structure of the user's: its own boundary (a LAMMPS data file: periodic)
    boundary = "p p p" if structure else None
    if structure and not structure.endswith(".data"):
        from mdsentry.mpiutil import on_root
        from mdsentry.structure import boundary as boundary_of
        from mdsentry.structure import read_structure, write_data

        def convert():
            os.makedirs(outdir, exist_ok=True)
            path = os.path.join(outdir, "start.data")
            atoms = read_structure(structure)
            write_data(atoms, path, cfg["system"]["elements"])
            return path, boundary_of(atoms)

        data, boundary = on_root(comm, convert)
    index, sub = split_walkers(comm, len(temperatures))
    temperature = temperatures[index]
    tdir = os.path.join(outdir, f"T{temperature:g}")

    def one():
        if sub.Get_rank() == 0:
            os.makedirs(tdir, exist_ok=True)
        sub.Barrier()
        lmp = lammps(comm=sub, args=["-nocite", "-screen", "none", "-log",
                                     os.path.join(tdir, "log.lammps")],
                     deepmd=cfg["train"]["backend"] == "deepmd")
        try:
            block = []
            for line in deck(cfg, models, data, temperature, seed + index, steps, equilibrate,
                             dump_every, timestep, tdir, halt=halt,
                             md_commands=md_commands, boundary=boundary).splitlines():
                block.append(line)
                if line.startswith("run"):
                    lmp.commands_string("\n".join(block))
                    block = []
                    if lmp.extract_fix("watch", 0, 1, 3):
                        break  # halted above hi: no production after a failed equilibration
            vec = [lmp.extract_fix("watch", 0, 1, i) for i in range(9)]
        finally:
            lmp.close()
        devi = devi_since(os.path.join(tdir, "sentry.log"), 0, sub)[:2]
        return vec, devi

    vec, devi = collective(comm, one)
    checks = {"trusted": int(vec[1]), "candidate": int(vec[2]), "above": int(vec[5])}
    total = sum(checks.values())
    mine = {"temperature": temperature, "dir": tdir, "trajectory": os.path.join(tdir, "traj.dump"),
            **checks, "trusted_share": checks["trusted"] / total if total else 1.0,
            **dict(zip(("max_devi", "median_devi"), devi)),
            "committee": version, "dt_ps": dump_every * timestep,
            "halted_at": int(vec[6]) if vec[3] else None}
    everyone = comm.allgather(mine if sub.Get_rank() == 0 else None)
    return [r for r in everyone if r is not None]
