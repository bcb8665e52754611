"""Model vs reference labels: RMSE/MAE of energy/atom, force components, virial and stress."""

import numpy as np

EV_PER_A3_TO_MPA = 160217.6634


def _labels(atoms):
    from mdsentry.frames import labels

    e, f, s = labels(atoms)
    return e, f, s


def errors(reference, predicted):
    """Per-quantity errors of ``predicted`` frames against ``reference`` frames
    (same atoms, same order; both carry energy/forces, stress where known).

    Returns dict of arrays (ref, pred) per quantity and the metrics:
    energy per atom (eV/atom), force components (eV/A), virial per atom (eV/atom,
    -stress * V / N), stress (MPa) -- each with rmse and mae; quantities without
    labels on both sides are left out.
    """
    if len(reference) != len(predicted):
        raise ValueError(f"{len(reference)} reference frames but {len(predicted)} predicted")
    out = {"e": ([], []), "f": ([], []), "v": ([], []), "s": ([], [])}
    for k, (ref, pred) in enumerate(zip(reference, predicted)):
        if len(ref) != len(pred) or np.any(ref.numbers != pred.numbers):
            raise ValueError(f"frame {k}: reference and prediction have different atoms")
        (er, fr, sr), (ep, fp, sp) = _labels(ref), _labels(pred)
        n = len(ref)
        out["e"][0].append(er / n)
        out["e"][1].append(ep / n)
        out["f"][0].append(np.ravel(fr))
        out["f"][1].append(np.ravel(fp))
        if sr is not None and sp is not None:
            vol = ref.get_volume()
            out["v"][0].append(-np.asarray(sr) * vol / n)
            out["v"][1].append(-np.asarray(sp) * vol / n)
            out["s"][0].append(np.asarray(sr) * EV_PER_A3_TO_MPA)
            out["s"][1].append(np.asarray(sp) * EV_PER_A3_TO_MPA)
    result = {}
    for key, (r, p) in out.items():
        if not r:
            continue
        r = np.concatenate([np.ravel(x) for x in r])
        p = np.concatenate([np.ravel(x) for x in p])
        result[key] = {"ref": r, "pred": p, "rmse": float(np.sqrt(np.mean((p - r) ** 2))),
                       "mae": float(np.mean(np.abs(p - r)))}
    return result


def predict(frames, model=None, calculator=None, backend=None):
    """Frames relabelled by a model file of a training backend (``backend``: its name;
    default from the file, see ``train.backend_of``) or by an ASE calculator."""
    from ase.calculators.singlepoint import SinglePointCalculator

    out = []
    if model is not None:
        from mdsentry.train import backend_of, get_backend

        backend = get_backend(backend or backend_of(model))
        for atoms, (e, f, v) in zip(frames, backend.predict(model, frames)):
            new = atoms.copy()
            stress = None
            if np.all(atoms.pbc):  # virial W = -stress * V; ASE Voigt order xx yy zz yz xz xy
                w = np.asarray(v, dtype=float).reshape(3, 3)
                stress = -np.array([w[0, 0], w[1, 1], w[2, 2], w[1, 2], w[0, 2], w[0, 1]]) \
                    / atoms.get_volume()
            new.calc = SinglePointCalculator(new, energy=e, forces=f, stress=stress)
            out.append(new)
        return out
    if calculator is None:
        raise ValueError("give a model file or an ASE calculator")
    for atoms in frames:
        new = atoms.copy()
        new.calc = calculator
        stress = new.get_stress() if np.all(atoms.pbc) else None
        new.calc = SinglePointCalculator(new, energy=new.get_potential_energy(),
                                         forces=new.get_forces(), stress=stress)
        out.append(new)
    return out


UNITS = {"e": ("energy", "eV/atom", 1000.0, "meV/atom"), "f": ("force", "eV/Å", 1000.0, "meV/Å"),
         "v": ("virial", "eV/atom", 1000.0, "meV/atom"), "s": ("stress", "MPa", 1.0, "MPa")}


def summary(result):
    """One line per quantity: RMSE and MAE in the usual units."""
    lines = []
    for key, res in result.items():
        name, _, scale, unit = UNITS[key]
        lines.append(f"{name:7s} RMSE {scale * res['rmse']:10.3f} {unit:9s} "
                     f"MAE {scale * res['mae']:10.3f} {unit}  ({len(res['ref'])} values)")
    return "\n".join(lines)


def plot(result, path):
    from mdsentry.plots import parity_panel, pyplot, save

    plt = pyplot()
    keys = [k for k in ("e", "f", "s") if k in result]
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3.8), squeeze=False)
    for ax, key in zip(axes[0], keys):
        name, unit, scale, sunit = UNITS[key]
        parity_panel(ax, result[key]["ref"], result[key]["pred"], f"reference {name} ({unit})",
                     f"model {name} ({unit})", f"RMSE {scale * result[key]['rmse']:.3g} {sunit}")
    return save(fig, path)
