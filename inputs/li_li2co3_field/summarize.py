"""The study's numbers and figure from run.sh's logs: for each field, the carbonate's Li
displacement along z relative to the carbonate's C (c_zli - c_zc, so a drift of the
whole slab does not count), its mean over the second half of the run with a block
standard error, the field's energy and dipole, and the committee's largest force
deviation (model_devi_E.out).

    python summarize.py [--fields 0.0 0.03 -0.03] [--dt 0.0005] [--out li_displacement.png]
"""

import argparse
import os

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))


def thermo(path):
    """The thermo table of a LAMMPS log (the run's block) as a dict of arrays."""
    rows, names = [], None
    with open(path) as fh:
        for line in fh:
            parts = line.split()
            if parts[:1] == ["Step"]:
                names, rows = parts, []
                continue
            if names and parts[:1] == ["Loop"]:
                break
            if names and len(parts) == len(names):
                try:
                    rows.append([float(x) for x in parts])
                except ValueError:
                    pass
    if not names:
        raise ValueError(f"{path}: no thermo table")
    data = np.array(rows)
    return {n: data[:, k] for k, n in enumerate(names)}


def block_error(x, blocks=5):
    """Mean and standard error of ``x`` from ``blocks`` contiguous blocks."""
    parts = np.array_split(np.asarray(x), blocks)
    means = np.array([p.mean() for p in parts])
    return float(np.mean(x)), float(means.std(ddof=1) / np.sqrt(blocks))


def max_deviation(path):
    """Largest max force deviation in a deepmd-style model_devi.out (column 5)."""
    if not os.path.exists(path):
        return float("nan")
    data = np.loadtxt(path, ndmin=2)
    return float(data[:, 4].max()) if len(data) else float("nan")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fields", nargs="+", default=["0.0", "0.03", "-0.03"])
    p.add_argument("--dt", type=float, default=0.0005, help="timestep (ps)")
    p.add_argument("--out", default=os.path.join(here, "li_displacement.png"))
    args = p.parse_args()
    from mdsentry.plots import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    print(f"{'E (V/A)':>8s} {'dz Li-C, 2nd half (A)':>24s} {'end (A)':>9s} {'dE field (eV)':>14s} "
          f"{'dipole (e A)':>13s} {'max devi (eV/A)':>16s} {'T (K)':>7s}")
    for e in args.fields:
        t = thermo(os.path.join(here, f"log.field_{e}"))
        rel = (t["c_zli"] - t["c_zc"]) - (t["c_zli"][0] - t["c_zc"][0])
        time = (t["Step"] - t["Step"][0]) * args.dt
        half = rel[len(rel) // 2:]
        mean, err = block_error(half)
        devi = max_deviation(os.path.join(here, f"model_devi_{e}.out"))
        print(f"{float(e):8.3f} {mean:+15.4f} +- {err:.4f} {rel[-1]:+9.4f} "
              f"{np.mean(t['f_field']):14.4f} {np.mean(t['f_field[2]']):13.3f} {devi:16.3f} "
              f"{np.mean(t['Temp'][len(rel) // 2:]):7.0f}")
        ax.plot(time, rel, label=f"E = {float(e):+.2f} V/Å")
    ax.axhline(0.0, color="0.6", lw=0.8)
    ax.set_xlabel("time (ps)")
    ax.set_ylabel("carbonate Li against C along z (Å)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
