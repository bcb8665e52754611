"""Make deepmd-kit's PyTorch C++ libraries match the installed torch.

deepmd-kit 3.2.0's wheels are compiled against torch 2.11; with any other
torch (here the CPU build of 2.13.0) ``libdeepmd_op_pt.so`` and
``libdeepmd_backend_pt.so`` fail to load, which breaks ``dp --pt`` and
``pair_style deepmd``.  ``ensure()`` probes both libraries and, when they do
not load, rebuilds exactly those two from the deepmd-kit sdist against the
installed torch and copies them into the package.  Builds are cached outside
the repository, keyed by the deepmd-kit, torch and Python versions, so a
fresh clone reuses them; a bare machine builds once (2-8 min on 2 cores).

    mdsentry setup            # what the README commands run
    mdsentry setup --force    # rebuild even when the libraries load
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import time
import urllib.request
from importlib import metadata
from pathlib import Path

LIBS = ("libdeepmd_op_pt.so", "libdeepmd_backend_pt.so")
TARGETS = ("deepmd_op_pt", "deepmd_backend_pt")

_PROBE = r"""
import ctypes, sys
import torch
lib = sys.argv[1]
torch.ops.load_library(lib + "/libdeepmd_op_pt.so")
ctypes.CDLL(lib + "/libdeepmd_backend_pt.so", mode=ctypes.RTLD_GLOBAL)
print(torch.__version__)
"""


def log(msg):
    print(f"[mdsentry setup] {msg}", flush=True)


def cache_root() -> Path:
    base = os.environ.get("MDSENTRY_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "mdsentry")
    return Path(base)


def deepmd_lib_dir() -> Path | None:
    """deepmd/lib of the installed deepmd-kit, found without importing it (torch is slow)."""
    try:
        dist = metadata.distribution("deepmd-kit")
    except metadata.PackageNotFoundError:
        return None
    return Path(dist.locate_file("deepmd/lib"))


def probe(lib_dir: Path) -> tuple[bool, str]:
    """Do both libraries load next to this torch? Runs in a child process."""
    proc = subprocess.run([sys.executable, "-c", _PROBE, str(lib_dir)], capture_output=True,
                          text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    if proc.returncode == 0:
        return True, proc.stdout.strip()
    err = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
    return False, err


def cache_key(dp_version: str, torch_version: str) -> str:
    py = f"py{sys.version_info.major}{sys.version_info.minor}"
    return f"deepmd-{dp_version}_torch-{torch_version}_{py}_{sysconfig.get_platform()}"


def _torch_version() -> str:
    return metadata.version("torch")


def _sdist(dp_version: str, dest: Path) -> Path:
    """The deepmd-kit sdist from the package index (verified by its sha256)."""
    name = f"deepmd_kit-{dp_version}.tar.gz"
    path = dest / name
    if path.is_file():
        return path
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
    page = urllib.request.urlopen(f"{index}/deepmd-kit/", timeout=120).read().decode()
    links = [u for u in re.findall(r'href="([^"]+)"', page) if name in u]
    if not links:
        raise RuntimeError(f"{name} is not on {index}")
    url, _, digest = links[0].partition("#sha256=")
    if url.startswith("/"):
        url = index.split("/simple")[0] + url
    log(f"downloading {name}")
    data = urllib.request.urlopen(url, timeout=600).read()
    if digest and hashlib.sha256(data).hexdigest() != digest:
        raise RuntimeError(f"sha256 mismatch for {url}")
    dest.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.rename(path)
    return path


def _cmake() -> str:
    """pip's cmake (>= 3.25.2, the sdist needs it) from this environment, else PATH."""
    exe = Path(sys.executable).with_name("cmake")
    return str(exe) if exe.is_file() else (shutil.which("cmake") or "cmake")


def build(dp_version: str, out: Path, jobs: int) -> None:
    """Compile the two libraries into ``out`` (atomically: out appears only when done)."""
    work = cache_root() / "build" / out.name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    src_tar = _sdist(dp_version, cache_root() / "sdist")
    with tarfile.open(src_tar) as tar:
        tar.extractall(work, filter="data")
    source = work / f"deepmd_kit-{dp_version}" / "source"
    env = dict(os.environ, DP_ENABLE_TENSORFLOW="0",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    cmake = _cmake()
    configure = [cmake, "-S", str(source), "-B", str(work / "b"), "-DENABLE_PYTORCH=ON",
                 "-DENABLE_TENSORFLOW=OFF", "-DUSE_PT_PYTHON_LIBS=TRUE",
                 "-DCMAKE_BUILD_WITH_INSTALL_RPATH=ON", "-DCMAKE_BUILD_TYPE=Release",
                 f"-DPython_EXECUTABLE={sys.executable}"]
    logfile = work / "build.log"
    log(f"building {', '.join(LIBS)} against torch {_torch_version()} "
        f"(log: {logfile}; 2-8 min on 2 cores)")
    t0 = time.time()
    with open(logfile, "w") as fh:
        for cmd in (configure, [cmake, "--build", str(work / "b"), "-j", str(jobs),
                                "--target", *TARGETS]):
            if subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env).returncode:
                raise RuntimeError(f"deepmd-kit rebuild failed: see {logfile}")
    staged = work / "libs"
    staged.mkdir()
    for lib in LIBS:
        found = list((work / "b").rglob(lib))
        if not found:
            raise RuntimeError(f"{lib} was not produced: see {logfile}")
        shutil.copy2(found[0], staged / lib)
    (staged / "stamp.json").write_text(json.dumps(
        {"deepmd_kit": dp_version, "torch": _torch_version(), "python": sys.version,
         "built": time.strftime("%Y-%m-%d %H:%M:%S"), "seconds": round(time.time() - t0)}))
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out, ignore_errors=True)
    staged.rename(out)
    shutil.rmtree(work, ignore_errors=True)
    log(f"built in {time.time() - t0:.0f} s, cached in {out}")


def install(cached: Path, lib_dir: Path) -> None:
    for lib in LIBS:
        target = lib_dir / lib
        orig = lib_dir / (lib + ".wheel")
        if target.exists() and not orig.exists():
            shutil.copy2(target, orig)  # keep the wheel's file for reference
        tmp = lib_dir / (lib + ".tmp")
        shutil.copy2(cached / lib, tmp)
        os.replace(tmp, target)
    # deepmd-kit reports the torch version from run_config.ini
    ini = lib_dir / "run_config.ini"
    if ini.is_file():
        text = re.sub(r"(?m)^PT_VERSIOn = .*$", f"PT_VERSIOn = {_torch_version()}",
                      ini.read_text())
        ini.write_text(text)


def ensure(force: bool = False, jobs: int | None = None) -> int:
    lib_dir = deepmd_lib_dir()
    if lib_dir is None:
        log("deepmd-kit is not installed: nothing to do")
        return 0
    dp_version = metadata.version("deepmd-kit")
    torch_version = _torch_version()
    ok, detail = probe(lib_dir)
    if ok and not force:
        log(f"deepmd-kit {dp_version} C++ libraries load with torch {torch_version}: "
            "no rebuild needed")
        return 0
    if not ok:
        log(f"deepmd-kit {dp_version} C++ libraries do not load with torch {torch_version} "
            f"({detail}): rebuilding them")
    cached = cache_root() / cache_key(dp_version, torch_version)
    if not force and (cached / "stamp.json").is_file():
        log(f"using the cached rebuild {cached}")
    else:
        from mdsentry.placement import cpu_threads

        # the cores this process may use (a batch job's allocation), not the node's
        build(dp_version, cached, jobs or cpu_threads())
    install(cached, lib_dir)
    ok, detail = probe(lib_dir)
    if not ok:
        log(f"the rebuilt libraries still do not load: {detail}")
        return 1
    log(f"deepmd-kit {dp_version} C++ libraries now match torch {torch_version}")
    return 0


if __name__ == "__main__":
    sys.exit(ensure(force="--force" in sys.argv))
