"""Misbehaving ASE calculators for the labelling tests (imported by the child)."""

import os
import time

from ase.calculators.emt import EMT


def flaky(fail_above=None, hang_above=None):
    """EMT, except: raises for frames whose first x > fail_above, hangs above hang_above."""

    class Flaky(EMT):
        def calculate(self, atoms=None, properties=("energy",), system_changes=()):
            x = atoms.positions[0, 0]
            if hang_above is not None and x > hang_above:
                time.sleep(3600)
            if fail_above is not None and x > fail_above:
                raise RuntimeError(f"SCF did not converge (pid {os.getpid()})")
            super().calculate(atoms, properties, system_changes)

    return Flaky()


def counting(log, delay=0.0, fail_every=None, hang_every=None):
    """EMT that appends one line per finished calculation to ``log`` (frame hash, pid), optionally
    slowed down; the n-th call (from 0, counted in ``log``.started) raises when n % fail_every is
    fail_every - 1, and hangs when n % hang_every is hang_every - 1."""
    import hashlib

    class Counting(EMT):
        def calculate(self, atoms=None, properties=("energy",), system_changes=()):
            key = hashlib.sha1(atoms.positions.tobytes()).hexdigest()
            started = log + ".started"
            n = sum(1 for _ in open(started)) if os.path.exists(started) else 0
            with open(started, "a") as fh:
                fh.write(f"{key}\n")
            time.sleep(delay)
            try:
                if hang_every and n % hang_every == hang_every - 1:
                    time.sleep(3600)
                if fail_every and n % fail_every == fail_every - 1:
                    raise RuntimeError("SCF did not converge")
                super().calculate(atoms, properties, system_changes)
            finally:  # a call counts once it ended (a killed one did not)
                with open(log, "a") as fh:
                    fh.write(f"{key} {os.getpid()}\n")

    return Counting()


def in_field(log, efield=0.0):
    """EMT that notes the field it was given (a DFT code's field keyword, here ignored by
    the physics): one line per calculation in ``log``."""

    class InField(EMT):
        def calculate(self, atoms=None, properties=("energy",), system_changes=()):
            with open(log, "a") as fh:
                fh.write(f"{efield}\n")
            super().calculate(atoms, properties, system_changes)

    return InField()
