"""Exploration: the walkers' LAMMPS decks and one exploration stage.

A walker's deck is assembled here from the config: the structure (a data file
at the start, a binary restart afterwards), the committee of the current models,
``fix sentry``, velocities (fresh starts only) and then the user's deck with
``${temp}``, ``${seed}``, ``${walker}`` and ``${workdir}`` defined.  Every walker
keeps restarts in its directory: ``iterNNN.restart`` (state at the start of
exploration NNN, to redo it after a kill), ``explored.restart`` (state at the
end of the last one) and ``trusted.restart`` (last chunk end below lo, for
rewinds).
"""

import os
import time

import numpy as np

from mdsentry.engine import Walker, split_walkers
from mdsentry.structure import mass_commands, read_structure, write_data

SENTRY = "mdsentry_sentry"


def committee_commands(cfg, models, workdir_var="${workdir}"):
    """pair_style committee + pair_coeff lines for the models of a committee."""
    from mdsentry.train import get_backend

    backend = get_backend(cfg["train"]["backend"])
    elements = cfg["system"]["elements"]
    members, coeff = backend.pair_style_members(models, elements)
    every = cfg["explore"]["every"]
    style = (f"pair_style committee every {every} out_file {workdir_var}/model_devi.out "
             f"out_freq {every} out_append yes {members}")
    coeffs = [f"pair_coeff * * {k + 1} {coeff}" for k in range(len(models))]
    return style, coeffs


def walker_deck(cfg, models, start, fresh, temperature, seed):
    """LAMMPS commands for one walker; ``start`` is a data file or restart."""
    ex = cfg["explore"]
    elements = cfg["system"]["elements"]
    head = ["units metal", "atom_style atomic", f"read_data {start}"] if fresh \
        else [f"read_restart {start}"]
    style, coeffs = committee_commands(cfg, models)
    lines = [*head, *mass_commands(elements), style, *coeffs,
             f"fix {SENTRY} all sentry {ex['every']} {ex['lo']} {ex['hi']} "
             f"elements {' '.join(elements)} file ${{workdir}}/sentry.log "
             f"frames ${{workdir}}/candidates.xyz append yes",
             f"timestep {ex['timestep']}"]
    if fresh:
        lines.append(f"velocity all create {temperature} {seed} mom yes rot yes dist gaussian")
    with open(ex["deck"]) as fh:
        lines.append(fh.read())
    return "\n".join(lines) + "\n"


def walker_dir(cfg, index):
    return os.path.join(cfg["workdir"], "walkers", f"walker{index:02d}")


def initial_data_file(cfg):
    """The structure as a LAMMPS data file in the work directory (written once)."""
    path = os.path.join(cfg["workdir"], "start.data")
    if not os.path.exists(path):
        atoms = read_structure(cfg["system"]["structure"], cfg["system"]["elements"])
        write_data(atoms, path + ".part", cfg["system"]["elements"])
        os.replace(path + ".part", path)
    return path


def make_walker(cfg, comm, index, models, start=None, deepmd=None):
    """Walker ``index`` on ``comm`` with the given committee; from ``start`` (a
    restart file) or, when None, from the structure with fresh velocities."""
    ex = cfg["explore"]
    temperature = ex["temperatures"][index]
    seed = ex["seed"] + index
    fresh = start is None
    if fresh:
        start = os.path.join(cfg["workdir"], "start.data")  # initial_data_file, written once
    deck = walker_deck(cfg, models, start, fresh, temperature, seed)
    if deepmd is None:
        deepmd = cfg["train"]["backend"] == "deepmd"
    walker = Walker(comm, index, walker_dir(cfg, index), deck, sentry=SENTRY,
                    variables={"temp": temperature, "seed": seed, "walker": index},
                    deepmd=deepmd)
    # the sentry log is appended to by every instance (a rewind starts one at an earlier
    # step): this instance's checks start at the log's current end
    log = os.path.join(walker.workdir, "sentry.log")
    walker.log_mark = os.path.getsize(log) if os.path.exists(log) else 0
    return walker


def explore(walker, cfg, progress=True):
    """Run one exploration of ``explore.steps`` steps (or up to a halt) in chunks.

    Returns (candidates on the walker root, stats dict).  The stats count this
    exploration's checks only (the fix's totals minus those at its start).
    """
    ex = cfg["explore"]
    wdir = walker.workdir
    # counts since the end of the previous exploration: a hot swap re-checks the
    # current step with the new models, and that check belongs to this one
    before = getattr(walker, "explore_mark", None) or [0.0] * 9
    start_step = walker.step()
    candidates, halted = [], False
    bar = None
    if progress and walker.comm.Get_rank() == 0 and walker.index == 0:
        from tqdm import tqdm

        bar = tqdm(total=ex["steps"], desc="MD (walker 0)", unit="step")
    t0 = time.perf_counter()
    while walker.step() - start_step < ex["steps"]:
        left = ex["steps"] - (walker.step() - start_step)
        chunk = walker.run(min(ex["chunk"], left))
        candidates += chunk.candidates
        vec = walker.sentry_vector()
        if bar:
            bar.n = walker.step() - start_step
            bar.refresh()
        if chunk.halted:
            halted = True
            break
        if vec[0] < ex["lo"]:
            walker.write_restart(os.path.join(wdir, "trusted.restart"))
    if bar:
        bar.close()
    walker.write_restart(os.path.join(wdir, "explored.restart"))
    after = walker.explore_mark = walker.sentry_vector()
    checks = {k: int(after[i] - before[i]) for k, i in (("trusted", 1), ("candidate", 2),
                                                           ("above", 5))}
    total = sum(checks.values())
    devi_max, devi_median, walker.log_mark = devi_since(os.path.join(wdir, "sentry.log"),
                                                        getattr(walker, "log_mark", 0), walker.comm)
    stats = {"walker": walker.index, "temperature": ex["temperatures"][walker.index],
             "start_step": start_step, "end_step": walker.step(), "halted": halted,
             "halt_step": int(after[6]) if halted else None, **checks,
             "accurate": checks["trusted"] / total if total else 1.0,
             "max_devi": devi_max, "median_devi": devi_median,
             "seconds": time.perf_counter() - t0}
    for atoms in candidates:
        atoms.info["temperature"] = stats["temperature"]
    return candidates, stats


def devi_since(log, offset, comm):
    """(largest, median) deviation of the checks logged after byte ``offset`` of the
    sentry log, and the log's end (the next offset).  The median shows a committee's
    progress; the maximum is one frame's."""
    value = (0.0, 0.0, offset)
    if comm.Get_rank() == 0:
        trace = read_trace(log, offset)
        end = os.path.getsize(log) if os.path.exists(log) else offset
        if len(trace["value"]):
            value = (float(trace["value"].max()), float(np.median(trace["value"])), end)
        else:
            value = (0.0, 0.0, end)
    return comm.bcast(value, root=0)


def read_trace(path, offset=0):
    """The sentry log (from byte ``offset``) as arrays: step, value, status ("trusted",
    "candidate", "above")."""
    steps, values, status = [], [], []
    if os.path.exists(path):
        with open(path) as fh:
            fh.seek(offset)
            for line in fh:
                if line.startswith("#") or not line.strip():
                    continue
                parts = line.split()
                if len(parts) < 3:
                    continue  # a line cut by a kill
                steps.append(int(parts[0]))
                values.append(float(parts[1]))
                status.append(parts[2])
    return {"step": np.array(steps, dtype=int), "value": np.array(values),
            "status": np.array(status, dtype=object)}


def start_walkers(cfg, comm, models, starts):
    """This rank's walker; ``starts``: one restart file (or None) per walker."""
    from mdsentry.mpiutil import on_root

    on_root(comm, lambda: initial_data_file(cfg))
    index, sub = split_walkers(comm, len(cfg["explore"]["temperatures"]))
    return make_walker(cfg, sub, index, models, start=starts[index])
