"""Put mace-torch into the environment beside deepmd-kit.

mace-torch 0.3.16 (the newest release) declares ``e3nn==0.4.4``.  That e3nn does
not import under torch 2.13 (its ``torch.load`` of ``constants.pt`` trips the
``weights_only`` default) and deepmd-kit 3.2.0's pt descriptors need
``e3nn>=0.5.9``.  mace-torch itself runs, trains and exports ``LAMMPS_MACE``
with e3nn 0.6.0, so the environment holds e3nn 0.6.0 (``pip install
'.[mace]'`` installs mace-torch's other requirements) and ``ensure()`` installs
mace-torch with ``--no-deps``: pip's resolver would otherwise refuse the
combination.  ``pip check`` therefore reports the e3nn pin; ``mdsentry doctor``
says why that is expected.

    mdsentry setup      # installs mace-torch==MACE_TORCH when it is missing
"""

import re
import subprocess
import sys
from importlib import metadata

# keep equal to the mace-torch line of pydriver/constraints.txt (a test checks)
MACE_TORCH = "0.3.16"
E3NN_MIN = (0, 5, 9)


def log(msg):
    print(f"[mdsentry setup] {msg}", flush=True)


def _version(dist):
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _tuple(version):
    return tuple(int(x) for x in re.findall(r"\d+", version)[:3])


def wanted() -> bool:
    """The MACE extra is installed (its e3nn is the marker), so mace-torch belongs here."""
    return _version("torch-ema") is not None and _version("e3nn") is not None


def status() -> tuple:
    """(ok, detail) of mace-torch in this environment."""
    mace, e3nn = _version("mace-torch"), _version("e3nn")
    if mace is None:
        return False, "mace-torch is not installed"
    if e3nn is None or _tuple(e3nn) < E3NN_MIN:
        return False, f"e3nn {e3nn} (mace-torch needs e3nn >= 0.5.9 under torch 2.13)"
    return True, f"mace-torch {mace} with e3nn {e3nn} (its e3nn==0.4.4 pin is bypassed on purpose)"


def ensure() -> int:
    if not wanted():
        log("the mace extra is not installed (pip install '.[mace]'): mace-torch not needed")
        return 0
    if _version("mace-torch") != MACE_TORCH:
        log(f"installing mace-torch=={MACE_TORCH} without its e3nn==0.4.4 pin "
            f"(e3nn {_version('e3nn')} is installed)")
        cmd = [sys.executable, "-m", "pip", "install", "--no-deps", f"mace-torch=={MACE_TORCH}"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            log(f"`{' '.join(cmd)}` failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
            return 1
    # import it for real: the e3nn/torch combination is what can break
    probe = "import mace, e3nn; from mace.calculators import LAMMPS_MACE, MACECalculator"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    if proc.returncode != 0:
        log(f"mace-torch does not import: {proc.stderr.strip().splitlines()[-1:]}")
        return 1
    ok, detail = status()
    log(detail)
    return 0 if ok else 1
