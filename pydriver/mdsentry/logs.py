"""Where third-party output goes: the run's files, not the user's terminal.

A run prints its table, its progress bars and real problems.  Libraries it
drives talk a lot besides: deepmd-kit's LAMMPS plugin prints a model summary for
every member at every swap (C++ ``std::cout``), its CUDA stubs warn about a
missing ``libcudart`` on CPU machines, deepmd's Python inference suggests
``DP_INFER_BATCH_SIZE`` and torch says that Triton is missing.  That output is
kept -- in the walker's ``output.log`` and the run's ``mdsentry.log`` -- but not
shown.  Errors still reach the user: LAMMPS errors as exceptions, mdsentry's own
messages on stderr.
"""

import contextlib
import ctypes
import logging
import os
import sys
import threading

# Python loggers of the libraries the driver calls, sent to the run's log
LIBRARIES = ("deepmd", "torch", "e3nn", "chgnet", "matplotlib", "h5py")


_SINK = None  # the run's log once ``libraries_to`` named it


def libraries_to(logfile):
    """Send the libraries' log records (warnings included) to ``logfile`` only.

    torch installs its own stderr handler on the "torch" logger when it is imported
    (``torch._logging``), so torch is imported first and its handlers replaced.
    """
    try:
        import torch  # noqa: F401 - sets up torch's handlers, replaced below
    except ImportError:
        pass
    global _SINK
    _SINK = logfile
    handler = logging.FileHandler(logfile)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    for name in LIBRARIES:
        log = logging.getLogger(name)
        for old in list(log.handlers):
            log.removeHandler(old)
            if getattr(old, "mdsentry", False):
                old.close()
        handler.mdsentry = True
        log.addHandler(handler)
        log.propagate = False


def run_log():
    """The run's log file once ``libraries_to`` named it, else None."""
    return _SINK


_LOCK = threading.Lock()
_ACTIVE = {"depth": 0, "saved": None}


@contextlib.contextmanager
def output_to(path):
    """Within the block, what this process writes to its stdout and stderr file
    descriptors -- C and C++ libraries included -- is appended to ``path``.

    File descriptors belong to the process: blocks that overlap (committee members
    validated in threads) share one redirection, which the first opens and the last
    closes (the first block's path is used)."""
    with _LOCK:
        if _ACTIVE["depth"] == 0:
            sys.stdout.flush()
            sys.stderr.flush()
            saved = [os.dup(1), os.dup(2)]
            target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(target, 1)
            os.dup2(target, 2)
            os.close(target)
            _ACTIVE["saved"] = saved
        _ACTIVE["depth"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _ACTIVE["depth"] -= 1
            if _ACTIVE["depth"] == 0:
                ctypes.CDLL(None).fflush(None)  # C stdio / std::cout buffers go to the file
                sys.stdout.flush()
                sys.stderr.flush()
                saved = _ACTIVE["saved"]
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                for fd in saved:
                    os.close(fd)
                _ACTIVE["saved"] = None


def rest_to(path):
    """From here to the end of the process, stdout and stderr go to ``path``: called when
    a verb has said everything, so that library destructors at exit (deepmd's CUDA stub
    reports a missing libcudart on CPU machines) do not end the user's output."""
    sys.stdout.flush()
    sys.stderr.flush()
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(target, 1)
    os.dup2(target, 2)
    os.close(target)


@contextlib.contextmanager
def quiet():
    """Around a call into a chatty library (deepmd's Python inference prints thread advice
    and batch-size hints, and installs its own log handlers on import): its output goes
    to the run's log (``libraries_to``).  Before a run has a log (checking a config's
    models) it is held back and shown only if the call fails."""
    if _SINK:
        with output_to(_SINK):
            yield
        return
    import tempfile

    with tempfile.NamedTemporaryFile("r", suffix=".log") as held:
        try:
            with output_to(held.name):
                yield
        except BaseException:
            sys.stderr.write(held.read())
            raise
