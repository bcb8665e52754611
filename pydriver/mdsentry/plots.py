"""PNG plots of a run: learning curve, deviation trace per walker, parity."""

import glob
import json
import os

import numpy as np


def pyplot():
    """matplotlib's pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path):
    """Lay out, write (120 dpi) and close a figure; returns ``path``."""
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    pyplot().close(fig)
    return path


def committee_versions(state, cfg):
    """[(version, models, accepted)] of every committee a run trained (or was given)."""
    out = []
    if cfg["train"].get("init_models"):
        out.append((0, cfg["train"]["init_models"], True))
    for h in state["history"] + ([state["current"]["row"]] if state.get("current") else []):
        if h.get("trained"):
            out.append((h["trained"]["version"], h["trained"]["models"], h.get("accepted", True)))
    return out


def fixed_set_rmse(workdir, cfg, state):
    """Held-out RMSE of every committee version on one fixed set: the store's held-out
    frames now (the latest).  Each point measured on its own iteration's held-out set
    mixes the model's progress with a test set that grows into harder regions.
    Returns ([(version, accepted, mean RMSE dict)], number of held-out frames); the RMSEs
    are cached in learning_curve.json."""
    from mdsentry import store
    from mdsentry.train import get_backend

    h5 = os.path.join(workdir, "frames.h5")
    if not os.path.exists(h5):
        return [], 0
    valid = store.read(h5, status="labelled", split="valid")
    if not valid:
        return [], 0
    ids = [int(a.info["id"]) for a in valid]
    cache_path = os.path.join(workdir, "learning_curve.json")
    cache = {}
    if os.path.exists(cache_path):
        with open(cache_path) as fh:
            cache = json.load(fh)
        if cache.get("ids") != ids:
            cache = {}
    cache["ids"] = ids
    results = cache.setdefault("rmse", {})
    backend = get_backend(cfg["train"]["backend"])
    out = []
    for version, models, accepted in committee_versions(state, cfg):
        rmses = []
        for model in models:
            if model not in results:
                if not os.path.exists(model):
                    break
                results[model] = backend.evaluate(model, valid)
            rmses.append(results[model])
        else:
            keys = rmses[0].keys()
            out.append((version, accepted, {k: float(np.mean([r[k] for r in rmses]))
                                            if all(r.get(k) is not None for r in rmses)
                                            else None for k in keys}))
    with open(cache_path + ".part", "w") as fh:
        json.dump(cache, fh)
    os.replace(cache_path + ".part", cache_path)
    return out, len(valid)


def learning_curve(points, n_valid, path):
    """Held-out RMSE of energy/atom and forces per committee version on one fixed set of
    ``n_valid`` frames; ``points``: [(version, accepted, rmse dict)]."""
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    x = [v for v, _, _ in points]
    for ax, key, label, scale in ((axes[0], "e_per_atom", "energy RMSE (meV/atom)", 1000),
                                  (axes[1], "f", "force RMSE (meV/Å)", 1000)):
        y = [scale * r[key] if r.get(key) is not None else np.nan for _, _, r in points]
        ax.plot(x, y, "o-")
        for xi, yi, (_, accepted, _) in zip(x, y, points):
            if not accepted:
                ax.plot([xi], [yi], "rx", ms=10)
        ax.set_xlabel("committee version")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    fig.suptitle(f"learning curve: every committee on the same {n_valid} held-out frames "
                 f"(x: rejected)", fontsize=10)
    return save(fig, path)


def deviation_trace(workdir, cfg, state, path):
    """Max force deviation at every check, one panel per walker, with lo/hi lines."""
    from mdsentry.explore import read_trace

    plt = pyplot()
    logs = sorted(glob.glob(os.path.join(workdir, "walkers", "walker*", "sentry.log")))
    n = max(1, len(logs))
    fig, axes = plt.subplots(n, 1, figsize=(9, 2.6 * n), squeeze=False)
    lo, hi = cfg["explore"]["lo"], cfg["explore"]["hi"]
    # calibrated thresholds (explore.lo_error/hi_error) change with each committee
    bands = [tuple(h.get("thresholds") or (lo, hi)) for h in state["history"]
             if h.get("walkers")]
    if bands:
        hi = max(b[1] for b in bands)
    starts, counts = {}, {}
    for h in state["history"]:
        for w in h.get("walkers", []):
            starts.setdefault(w["walker"], []).append((h["iteration"], w["start_step"]))
            counts.setdefault(w["walker"], []).append(w["trusted"] + w["candidate"] + w["above"])
    rewound = False
    for k, (ax, log) in enumerate(zip(axes[:, 0], logs)):
        t = read_trace(log)
        # a rewound walker repeats step numbers: then the x axis counts checks instead
        by_check = bool(np.any(np.diff(t["step"]) < 0))
        rewound |= by_check
        x = np.arange(len(t["step"])) if by_check else t["step"]
        floor = lo / 30  # a perfect crystal's zero deviation would stretch the axis
        ax.semilogy(x, np.maximum(t["value"], floor), ".", ms=2, color="k")
        # hi (and the iteration labels above it) inside the axis even when no check came near
        top = max(hi, float(np.max(t["value"])) if len(t["value"]) else hi) * 1.6
        ax.set_ylim(floor * 0.8, top)
        bounds = np.concatenate([[0], np.cumsum(counts.get(k, []))[:-1]]) if by_check \
            else [step for _, step in starts.get(k, [])]
        if len(set(bands)) > 1 and len(bounds) == len(bands):  # one band per iteration
            ends = list(bounds[1:]) + [max(float(x[-1]) if len(x) else 0.0, bounds[-1] + 1)]
            for j, (x0, x1, (blo, bhi)) in enumerate(zip(bounds, ends, bands)):
                ax.hlines(blo, x0, x1, color="tab:orange", lw=1,
                          label="lo (calibrated)" if j == 0 else None)
                ax.hlines(bhi, x0, x1, color="tab:red", lw=1,
                          label="hi (calibrated)" if j == 0 else None)
        else:
            blo, bhi = bands[-1] if bands else (lo, hi)
            ax.axhline(blo, color="tab:orange", lw=1, label=f"lo = {blo:.4g}")
            ax.axhline(bhi, color="tab:red", lw=1, label=f"hi = {bhi:.4g}")
        for (it, _), pos in zip(starts.get(k, []), bounds):
            ax.axvline(pos, color="0.7", lw=0.8, ls="--")
            ax.text(pos, hi * 1.1, f" it {it}", fontsize=7, color="0.4")
        temps = cfg["explore"]["temperatures"]
        ax.set_title(f"walker {k} ({temps[k]:g} K)" if k < len(temps) else f"walker {k}",
                     fontsize=9)
        ax.set_ylabel("max force devi (eV/Å)")
        ax.legend(loc="lower right", fontsize=7)
    axes[-1, 0].set_xlabel("check (walkers rewound after halts)" if rewound else "MD step")
    return save(fig, path)


def parity_panel(ax, ref, pred, xlabel, ylabel, title):
    """Predicted against reference values with the diagonal."""
    ax.plot(ref, pred, ".", ms=3)
    lim = [min(ref.min(), pred.min()), max(ref.max(), pred.max())]
    ax.plot(lim, lim, "k-", lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)


def parity(npz, path):
    """Leader model vs oracle on the held-out frames: energy/atom and force components."""
    plt = pyplot()
    d = np.load(npz)
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.8))
    for ax, key, label, unit in ((axes[0], "e", "energy", "eV/atom"),
                                 (axes[1], "f", "force", "eV/Å")):
        ref, pred = d[f"{key}_ref"], d[f"{key}_pred"]
        rmse = float(np.sqrt(np.mean((pred - ref) ** 2)))
        parity_panel(ax, ref, pred, f"oracle {label} ({unit})", f"model {label} ({unit})",
                     f"{label}: RMSE {rmse:.4g} {unit}")
    return save(fig, path)


def plot_run(workdir, outdir=None):
    """All plots of a run directory; returns the files written."""
    from mdsentry.loop import load_state

    outdir = outdir or workdir
    os.makedirs(outdir, exist_ok=True)
    state = load_state(workdir)
    if state is None:
        raise FileNotFoundError(f"{workdir}: no state.json (not an mdsentry run directory)")
    with open(os.path.join(workdir, "config.json")) as fh:
        cfg = json.load(fh)
    files = []
    points, n_valid = fixed_set_rmse(workdir, cfg, state)
    if points:
        files.append(learning_curve(points, n_valid, os.path.join(outdir, "learning_curve.png")))
    files.append(deviation_trace(workdir, cfg, state, os.path.join(outdir, "deviation.png")))
    npz = sorted(glob.glob(os.path.join(workdir, "iter.*", "parity.npz")))
    if npz:
        files.append(parity(npz[-1], os.path.join(outdir, "parity.png")))
    return files
