"""The study's numbers and figure from run.sh's logs: for each run, the carbonate's Li
displacement along z relative to the carbonate's C (c_zli - c_zc, so a drift of the
whole slab does not count), its mean over the second half of a time window with a block
standard error and its change from the zero-field run, the field's energy and dipole,
and the committee's largest force deviation (model_devi_TAG.out).

    python summarize.py [--upto 10000 6000] [--dt 0.0005] [--out li_displacement.png]
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


RUNS = [("0.0", "full"), ("0.03", "full"), ("-0.03", "full"), ("charges_0.03", "charges"),
        ("charges_-0.03", "charges")]


def field_of(tag):
    return float(tag.split("_")[-1])


def table(tags, upto, dt, whole=True):
    """One row per run over its first ``upto`` steps: the drift averaged over the second
    half of that window, with its block error and its change from the zero-field run."""
    rows = {}
    for tag in tags:
        path = os.path.join(here, f"log.field_{tag}")
        if not os.path.exists(path):
            continue
        try:
            t = thermo(path)
        except ValueError as exc:  # a run still starting
            print(f"skipped: {exc}")
            continue
        if whole and t["Step"][-1] - t["Step"][0] < upto:
            continue  # a shorter run: not in this window's table
        keep = (t["Step"] - t["Step"][0]) <= upto
        t = {k: v[keep] for k, v in t.items()}
        rel = (t["c_zli"] - t["c_zc"]) - (t["c_zli"][0] - t["c_zc"][0])
        mean, err = block_error(rel[len(rel) // 2:])
        rows[tag] = dict(time=(t["Step"] - t["Step"][0]) * dt, rel=rel, mean=mean, err=err,
                         dE=float(np.mean(t["f_field"])),
                         dipole=float(np.mean(t["f_field[2]"])),
                         T=float(np.mean(t["Temp"][len(rel) // 2:])),
                         devi=max_deviation(os.path.join(here, f"model_devi_{tag}.out")))
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dt", type=float, default=0.0005, help="timestep (ps)")
    p.add_argument("--upto", type=int, nargs="+", default=[10000, 6000],
                   help="windows (steps from the start) to tabulate")
    p.add_argument("--out", default=os.path.join(here, "li_displacement.png"))
    args = p.parse_args()
    from mdsentry.plots import pyplot

    tags = [tag for tag, _ in RUNS]
    for upto in args.upto:
        rows = table(tags, upto, args.dt)
        if not rows:
            continue
        base = rows.get("0.0")
        print(f"\nfirst {upto * args.dt:g} ps, drift averaged over its second half:")
        print(f"{'run':>14s} {'E (V/A)':>8s} {'dz Li-C (A)':>17s} {'minus E=0 (A)':>17s} "
              f"{'dE field (eV)':>14s} {'dipole (e A)':>13s} {'max devi':>9s} {'T (K)':>6s}")
        for tag, r in rows.items():
            diff = (f"{r['mean'] - base['mean']:+8.3f} +- {np.hypot(r['err'], base['err']):.3f}"
                    if base and tag != "0.0" else f"{'':>17s}")
            print(f"{tag:>14s} {field_of(tag):8.3f} {r['mean']:+8.3f} +- {r['err']:.3f} {diff} "
                  f"{r['dE']:14.4f} {r['dipole']:13.2f} {r['devi']:9.3f} {r['T']:6.0f}")
    rows = table(tags, max(args.upto), args.dt, whole=False)  # every run, as long as it is
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    for tag, r in rows.items():
        style = "-" if not tag.startswith("charges") else "--"
        what = "q E forces" if tag.startswith("charges") else "full response"
        ax.plot(r["time"], r["rel"], style, lw=1.1,
                label=f"E = {field_of(tag):+.2f} V/Å" + (f", {what}" if field_of(tag) else ""))
    ax.set_xlabel("time (ps)")
    ax.set_ylabel("carbonate Li against C along z (Å)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
