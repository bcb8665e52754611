"""Walkers: one LAMMPS simulation per walker, each on its own MPI sub-communicator.

``mpirun -np N`` runs ``n_walkers`` walkers of N / n_walkers ranks each.  A
walker's deck defines the system, the committee and a ``fix sentry`` that
writes its candidate frames; MD then advances in chunks (``run n pre no post
no``) and after each chunk -- or a sentry halt -- the walker's root collects
the frames the fix recorded since the last chunk.  ``swap`` installs new
models in the running simulation: positions, velocities, thermostat state and
the step counter are kept.
"""

import os
import time
from dataclasses import dataclass, field

import numpy as np

from mdsentry.logs import output_to


def walker_index(comm, n_walkers):
    """The walker of this rank: contiguous blocks of ranks per walker."""
    size = comm.Get_size()
    if n_walkers < 1 or size % n_walkers:
        raise ValueError(f"{size} MPI ranks cannot be split into {n_walkers} equal walkers")
    return comm.Get_rank() // (size // n_walkers)


def split_walkers(comm, n_walkers):
    """(walker index, sub-communicator); collective on ``comm``."""
    color = walker_index(comm, n_walkers)
    return color, comm.Split(color, comm.Get_rank())


@dataclass
class Chunk:
    step: int                 # step reached
    halted: bool              # fix sentry stopped the run (deviation >= hi)
    candidates: list = field(default_factory=list)  # Atoms, walker root only
    counts: dict = field(default_factory=dict)      # the fix's trusted/candidate/above totals


class Walker:
    """A LAMMPS instance on ``comm`` driven in chunks.

    ``deck``: LAMMPS commands up to (not including) the first run; it must define
    ``fix <sentry> ... frames ${workdir}/<frames_file>`` (``workdir`` is set).
    """

    def __init__(self, comm, index, workdir, deck, sentry="sentry", frames_file="candidates.xyz",
                 variables=None, deepmd=False, lammps_args=()):
        from mdsentry.lmp import lammps

        self.comm, self.index, self.sentry = comm, index, sentry
        self.workdir = os.path.abspath(workdir)
        if comm.Get_rank() == 0:
            os.makedirs(self.workdir, exist_ok=True)
        comm.Barrier()
        self.frames_file = os.path.join(self.workdir, frames_file)
        args = ["-nocite", "-screen", "none", "-log", os.path.join(self.workdir, "log.lammps"),
                "-var", "workdir", self.workdir]
        for name, value in (variables or {}).items():
            args += ["-var", name, str(value)]
        args += list(lammps_args)  # accelerators (-k on g 1 -sf kk, -sf omp), checked by config
        # the plugins' and ML libraries' chatter (model summaries, CUDA stub warnings) goes
        # to the walker's output.log; LAMMPS errors still come back as exceptions
        self.output = os.path.join(self.workdir, "output.log")
        with output_to(self.output):
            self.lmp = lammps(comm=comm, args=args, deepmd=deepmd)
            self.lmp.commands_string(deck)
        # frames written before this instance (``append yes``) are not ours
        self._read_offset = 0
        if comm.Get_rank() == 0 and os.path.exists(self.frames_file):
            self._read_offset = os.path.getsize(self.frames_file)
        self._seen = 0
        self._initialised = False

    # --------------------------------------------------------------- state
    def step(self) -> int:
        return int(self.lmp.get_thermo("step"))

    def sentry_vector(self):
        return [self.lmp.extract_fix(self.sentry, 0, 1, i) for i in range(9)]

    def gather(self, name, count):
        """Per-atom property ordered by atom ID (same on every rank of the walker)."""
        dtype = 0 if name in ("type", "id", "image") else 1
        return np.array(self.lmp.gather_atoms(name, dtype, count)).reshape(-1, count)

    # ----------------------------------------------------------------- MD
    def run(self, nsteps, start=None, stop=None) -> Chunk:
        """Advance up to ``nsteps``; stops early at a sentry halt.

        ``start``/``stop``: the steps of the whole run this chunk belongs to, so that
        time-dependent fixes (a temperature ramp, ``fix deform``, ``v_`` of ``elapsed``)
        see one run from ``start`` to ``stop`` instead of restarting every chunk.
        """
        pre = "no" if self._initialised else "yes"
        window = "" if start is None else f" start {int(start)} stop {int(stop)}"
        self.lmp.command(f"run {int(nsteps)}{window} pre {pre} post no")
        self._initialised = True
        vec = self.sentry_vector()
        counts = {"trusted": int(vec[1]), "candidate": int(vec[2]), "above": int(vec[5])}
        return Chunk(step=self.step(), halted=bool(vec[3]), candidates=self._new_frames(counts),
                     counts=counts)

    def _new_frames(self, counts):
        """Frames the fix wrote since the last call; checked against its counts."""
        expected = counts["candidate"] + counts["above"]
        frames = []
        if self.comm.Get_rank() == 0:
            from ase.io import read

            if os.path.exists(self.frames_file):
                with open(self.frames_file) as fh:
                    fh.seek(self._read_offset)
                    text = fh.read()
                if text:
                    import io

                    frames = read(io.StringIO(text), index=":", format="extxyz", parallel=False)
                    self._read_offset += len(text.encode())
            for atoms in frames:
                atoms.info["walker"] = self.index
            if self._seen + len(frames) != expected:
                raise RuntimeError(
                    f"walker {self.index}: fix {self.sentry} counted {expected} candidate/above "
                    f"frames but {self.frames_file} holds {self._seen + len(frames)}")
            self._seen += len(frames)
        return frames

    # --------------------------------------------------------------- swap
    def swap(self, pair_style, pair_coeffs) -> float:
        """Install new models; returns the seconds the swap took.

        ``run 0`` with ``pre yes`` re-initialises LAMMPS around the new pair
        style (``pre no`` right after a pair style change would crash).
        """
        t0 = time.perf_counter()
        with output_to(self.output):
            self.lmp.command(pair_style)
            for c in pair_coeffs:
                self.lmp.command(c)
            self.lmp.command("run 0 pre yes post no")
        self._initialised = True
        return time.perf_counter() - t0

    def set_thresholds(self, lo, hi):
        """New lo/hi of the sentry for the checks from now on (fix_modify thresholds)."""
        with output_to(self.output):
            self.lmp.command(f"fix_modify {self.sentry} thresholds {lo!r} {hi!r}")

    def write_restart(self, path):
        """Binary restart (positions, velocities, box, step, thermostat states), written
        under a temporary name and renamed, so ``path`` is always complete."""
        tmp = f"{path}.part"
        self.lmp.command(f"write_restart {tmp}")
        # it re-wraps atoms and rebuilds ghosts but not the neighbor lists: the next
        # run needs its setup (with `pre no` forces came from stale lists, or atoms were lost)
        self._initialised = False
        self.comm.Barrier()
        if self.comm.Get_rank() == 0:
            os.replace(tmp, path)
        self.comm.Barrier()
        return path

    def close(self):
        self.lmp.close()
