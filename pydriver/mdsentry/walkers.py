"""The job's walkers: their decks, and their lifecycle -- start, rebuild after a kill,
rewind after a halt, hot swap of the committee.  Where the model is swapped.

Every function that takes the world communicator is called by every rank
together and makes the same collectives on every rank, whatever its walker
did: the halted-or-not and alive-or-killed branches only choose *which*
restart file a walker starts from, never *whether* a rank joins a collective.
Errors inside are for ``mpiutil.collective`` to turn into a job abort.

Restart files in each walker's directory: ``iterNNN.restart`` (the state at
the start of exploration NNN, to redo it after a kill), ``explored.restart``
(the end of the last exploration) and ``trusted.restart`` (the last chunk end
below lo, where a rewind goes).
"""

import os

import numpy as np

from mdsentry.engine import Walker, split_walkers, walker_index
from mdsentry.structure import mass_commands, read_structure, write_data

SENTRY = "mdsentry_sentry"
# mdsentry writes the system commands of every deck: the ML potentials it trains
# and runs are in metal units on point atoms.  Decks may not change these.
UNITS, ATOM_STYLE = "metal", "atomic"


def committee_commands(cfg, models, workdir_var="${workdir}", explore=False):
    """pair_style committee + pair_coeff lines for the models of a committee; an
    exploration's carries the uncertainty-seeking bias of ``explore.bias`` (production
    never does: its dynamics must be the model's)."""
    from mdsentry.train import get_backend

    backend = get_backend(cfg["train"]["backend"])
    elements = cfg["system"]["elements"]
    # "cuda" once placement.place resolved it for this run ("auto" is not resolved yet)
    device = "cuda" if cfg["explore"].get("device") == "cuda" else "cpu"
    members, coeff = backend.pair_style_members(models, elements, device)
    every = cfg["explore"]["every"]
    bias = cfg["explore"]["bias"]
    bias = f"bias {bias!r} {cfg['explore']['bias_width']!r} " if explore and bias > 0 else ""
    style = (f"pair_style committee every {every} {bias}out_file {workdir_var}/model_devi.out "
             f"out_freq {every} out_append yes {members}")
    coeffs = [f"pair_coeff * * {k + 1} {c}" for k, c in enumerate(coeff)]
    return style, coeffs


def system_commands(cfg, models, start, fresh=True, workdir_var="${workdir}", boundary=None,
                    explore=False):
    """The head of every deck (exploration and production): units, the boundary (default:
    that of the run's structure), the structure (a data file, or a binary restart when
    not ``fresh``), masses and the committee."""
    head = [f"units {UNITS}", f"atom_style {ATOM_STYLE}",
            f"boundary {boundary or _boundary(cfg)}",
            f"read_data {start}"] if fresh else [f"read_restart {start}"]
    style, coeffs = committee_commands(cfg, models, workdir_var=workdir_var, explore=explore)
    return [*head, *mass_commands(cfg["system"]["elements"]), style, *coeffs]


def _boundary(cfg):
    """From the structure's pbc: a slab with pbc T T F runs in "p p f" (fix qeq/field
    needs the field along a non-periodic axis)."""
    from mdsentry.structure import boundary

    return boundary(read_structure(cfg["system"]["structure"], cfg["system"]["elements"]))


def thresholds_of(cfg, thresholds=None):
    """The sentry's (lo, hi): a committee's calibrated thresholds when it has them
    (``explore.lo_error``/``hi_error``, see calibration.py), else explore.lo/hi."""
    if thresholds is not None:
        return float(thresholds[0]), float(thresholds[1])
    return cfg["explore"]["lo"], cfg["explore"]["hi"]


def walker_deck(cfg, models, start, fresh, temperature, seed, thresholds=None):
    """LAMMPS commands for one walker; ``start`` is a data file or restart."""
    ex = cfg["explore"]
    lo, hi = thresholds_of(cfg, thresholds)
    lines = [*system_commands(cfg, models, start, fresh, explore=True),
             f"fix {SENTRY} all sentry {ex['every']} {lo!r} {hi!r} "
             f"elements {' '.join(cfg['system']['elements'])} file ${{workdir}}/sentry.log "
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


def make_walker(cfg, comm, index, models, start=None, deepmd=None, thresholds=None):
    """Walker ``index`` on its sub-communicator ``comm`` with the given committee (and
    its sentry thresholds, see ``thresholds_of``); from ``start`` (a restart file) or,
    when None, from the structure with fresh velocities."""
    ex = cfg["explore"]
    temperature = ex["temperatures"][index]
    seed = ex["seed"] + index
    fresh = start is None
    if fresh:
        start = os.path.join(cfg["workdir"], "start.data")  # initial_data_file, written once
    deck = walker_deck(cfg, models, start, fresh, temperature, seed, thresholds)
    if deepmd is None:
        deepmd = cfg["train"]["backend"] == "deepmd"
    walker = Walker(comm, index, walker_dir(cfg, index), deck, sentry=SENTRY,
                    variables={"temp": temperature, "seed": seed, "walker": index,
                               # files the deck reads (QEq parameters) sit beside it
                               "deckdir": os.path.dirname(os.path.abspath(ex["deck"])),
                               **dict(zip(("ex", "ey", "ez"), cfg["field"]["efield"]))},
                    deepmd=deepmd, lammps_args=ex["lammps_args"])
    # the sentry log is appended to by every instance (a rewind starts one at an earlier
    # step): this instance's checks start at the log's current end
    log = os.path.join(walker.workdir, "sentry.log")
    walker.log_mark = os.path.getsize(log) if os.path.exists(log) else 0
    walker.thresholds = thresholds_of(cfg, thresholds)
    return walker


def start_walkers(cfg, comm, models, starts, thresholds=None):
    """This rank's walker; ``starts``: one restart file (or None) per walker.  Collective
    on ``comm`` (the world): every rank writes nothing but joins the same calls."""
    from mdsentry.mpiutil import on_root

    on_root(comm, lambda: initial_data_file(cfg))
    index, sub = split_walkers(comm, len(cfg["explore"]["temperatures"]))
    return make_walker(cfg, sub, index, models, start=starts[index], thresholds=thresholds)


def rewind_start(cfg, index, starts):
    """Where a halted walker goes back to: its last trusted snapshot, else the state it
    started the exploration from (None: the structure with fresh velocities)."""
    trusted = os.path.join(walker_dir(cfg, index), "trusted.restart")
    return trusted if os.path.exists(trusted) else starts[index]


def hot_swap(walker, cfg, models, thresholds=None):
    """Install ``models`` (and their sentry thresholds) in the running LAMMPS of
    ``walker``; collective on its communicator.  Returns (seconds, what was kept
    exactly: x, v, step)."""
    from mdsentry.ase_lammps import lammps_cell

    style, coeffs = committee_commands(cfg, models, explore=True)
    lo, hi = thresholds_of(cfg, thresholds)
    if (lo, hi) != walker.thresholds:  # before the swap's check of the current step
        walker.set_thresholds(lo, hi)
        walker.thresholds = (lo, hi)
    before = walker.gather("x", 3), walker.gather("v", 3), walker.gather("image", 3), walker.step()
    seconds = walker.swap(style, coeffs)
    after = walker.gather("x", 3), walker.gather("v", 3), walker.gather("image", 3), walker.step()
    # the swap's re-neighboring may wrap atoms back into the box: compare unwrapped
    cell = lammps_cell(walker.lmp)[1]  # rows a, b, c: triclinic boxes too
    unwrap = [x + img @ cell for x, img in ((before[0], before[2]), (after[0], after[2]))]
    same_image = ~np.any(before[2] != after[2], axis=1)
    return seconds, {
        "x": bool(np.allclose(unwrap[0], unwrap[1], rtol=0, atol=1e-9)),
        "x_bitwise_unwrapped_atoms": bool(np.array_equal(before[0][same_image],
                                                         after[0][same_image])),
        "v": bool(np.array_equal(before[1], after[1])),
        "step": before[3] == after[3]}


def install_committee(cfg, comm, walker, models, starts, halted, accepted, iteration,
                      thresholds=None):
    """After an exploration: every walker continues with the committee ``models``.

    Collective on ``comm`` (the world).  ``walker`` is this rank's walker, or None on
    every rank after a kill (then all walkers are rebuilt together, a halted one at
    its rewind point when ``explore.after_halt = "rewind"``, the others at the end of
    the exploration).  A running walker that halted is rewound (``rewind``) on its own
    communicator; the others get the models by hot swap when ``accepted``.  Every
    walker then writes the restart that starts iteration ``iteration + 1``.

    Returns (walker, (how, restart file, swap seconds, exactness dict)).
    """
    n = len(cfg["explore"]["temperatures"])
    index = walker_index(comm, n)
    rewind = [cfg["explore"]["after_halt"] == "rewind" and bool(halted[i]) for i in range(n)]
    seconds, exact = 0.0, {}
    if walker is None:
        begin = [rewind_start(cfg, i, starts) if rewind[i]
                 else os.path.join(walker_dir(cfg, i), "explored.restart") for i in range(n)]
        walker = start_walkers(cfg, comm, models, begin, thresholds)
        how = f"rewound to step {walker.step()}" if rewind[index] else "resumed"
    elif rewind[index]:
        sub = walker.comm
        walker.close()
        walker = make_walker(cfg, sub, index, models, start=rewind_start(cfg, index, starts),
                             thresholds=thresholds)
        how = f"rewound to step {walker.step()}"
    else:
        if accepted:
            seconds, exact = hot_swap(walker, cfg, models, thresholds)
        how = "resumed"
    restart = os.path.join(walker_dir(cfg, index), f"iter{iteration + 1:03d}.restart")
    walker.write_restart(restart)
    return walker, (how, restart, seconds, exact)

