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
