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


def counting(log, delay=0.0, fail_mod=None, hang_mod=None):
    """EMT that appends one line per calculation to ``log`` (frame hash, pid), optionally
    slowed down, and failing / hanging for frames whose hash is 0 mod fail_mod / hang_mod."""
    import hashlib

    class Counting(EMT):
        def calculate(self, atoms=None, properties=("energy",), system_changes=()):
            key = hashlib.sha1(atoms.positions.tobytes()).hexdigest()
            with open(log, "a") as fh:
                fh.write(f"{key} {os.getpid()}\n")
            time.sleep(delay)
            if hang_mod and int(key, 16) % hang_mod == 0:
                time.sleep(3600)
            if fail_mod and int(key, 16) % fail_mod == 0:
                raise RuntimeError("SCF did not converge")
            super().calculate(atoms, properties, system_changes)

    return Counting()
