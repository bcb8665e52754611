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

# Python loggers of the libraries the driver calls, sent to the run's log
LIBRARIES = ("deepmd", "torch", "e3nn", "chgnet", "matplotlib", "h5py")


def libraries_to(logfile):
    """Send the libraries' log records (warnings included) to ``logfile`` only.

    torch installs its own stderr handler on the "torch" logger when it is imported
    (``torch._logging``), so torch is imported first and its handlers replaced.
    """
    try:
        import torch  # noqa: F401 - sets up torch's handlers, replaced below
    except ImportError:
        pass
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


@contextlib.contextmanager
def output_to(path):
    """Within the block, what this process writes to its stdout and stderr file
    descriptors -- C and C++ libraries included -- is appended to ``path``."""
    sys.stdout.flush()
    sys.stderr.flush()
    libc = ctypes.CDLL(None)
    saved = [os.dup(1), os.dup(2)]
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(target, 1)
        os.dup2(target, 2)
        yield
    finally:
        libc.fflush(None)  # C stdio and std::cout buffers belong to the file
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, target):
            os.close(fd)


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
