"""mdsentry: on-the-fly active learning of ML interatomic potentials in LAMMPS.

Kept import-light on purpose: mdsentry-plugin.pth imports mdsentry._autoload
at every interpreter start of the environment it is installed in.
"""

__version__ = "0.1.0"


def run(config, **kwargs):
    """Run or resume the active-learning loop (a config path or dict); see mdsentry.loop.run."""
    from mdsentry.loop import run as _run

    return _run(config, **kwargs)


def load_config(path):
    """Read and validate a TOML run configuration (see mdsentry.config)."""
    from mdsentry.config import load

    return load(path)


def plot(workdir, outdir=None):
    """Write the PNG plots of a run directory; returns their paths."""
    from mdsentry.plots import plot_run

    return plot_run(workdir, outdir)
