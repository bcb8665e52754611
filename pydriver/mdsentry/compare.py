"""DeePMD against MACE on the same labelled frames: the seeds' comparison.

``compare()`` trains a committee of each backend on the same training frames, then
reports side by side, per backend: held-out RMSE of energy/atom, forces, virial/atom
and stress (mean and spread over the members), force RMSE per element, the same on
frames of another phase or temperature (transferability), the training cost (wall
seconds per member) and the MD speed of one member in LAMMPS (``pair_style deepmd``
vs ``pair_style mace``, steps/s and atom-steps/s on a held-out cell).  Everything goes
to ``compare.json``, a markdown table ``compare.md`` and ``compare_parity.png``.

    mdsentry compare --data labelled.extxyz --transfer hot.extxyz --out runs/compare
"""

import json
import os
import time
from pathlib import Path

import numpy as np

from mdsentry.placement import cpu_threads

BACKENDS = ("deepmd", "mace")


def element_force_rmse(reference, predicted) -> dict:
    """Force-component RMSE per element (eV/A)."""
    from mdsentry.frames import labels

    sq = {}
    for ref, pred in zip(reference, predicted):
        diff = np.asarray(labels(pred)[1]) - np.asarray(labels(ref)[1])
        for sym in set(ref.get_chemical_symbols()):
            rows = diff[np.array(ref.get_chemical_symbols()) == sym]
            sq.setdefault(sym, []).append(rows.ravel() ** 2)
    return {s: float(np.sqrt(np.mean(np.concatenate(v)))) for s, v in sorted(sq.items())}


def metrics(backend, models, frames) -> tuple:
    """Per-quantity RMSE over the members (mean, min, max), per-element force RMSE of the
    mean over members, and member 1's (reference, prediction, RMSE) per quantity."""
    from mdsentry.analysis.parity import errors, predict

    per = []
    first = None
    elements = []
    for model in models:
        pred = predict(frames, model=model, backend=backend)
        res = errors(frames, pred)
        per.append({k: v["rmse"] for k, v in res.items()})
        elements.append(element_force_rmse(frames, pred))
        if first is None:
            first = {k: (v["ref"], v["pred"], v["rmse"]) for k, v in res.items()}
    out = {}
    for key in per[0]:
        vals = np.array([p[key] for p in per])
        out[key] = {"mean": float(vals.mean()), "min": float(vals.min()), "max": float(vals.max())}
    out["f_element"] = {s: float(np.mean([e[s] for e in elements])) for s in elements[0]}
    return out, first


def md_speed(backend_name, model, atoms, elements, steps=50) -> dict:
    """steps/s of one member driving NVE in LAMMPS on ``atoms`` (one rank)."""
    from mdsentry.lmp import lammps
    from mdsentry.structure import mass_commands, write_data

    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"mdsentry_compare_{os.getpid()}.data"
    write_data(atoms, str(tmp), elements)
    if backend_name == "deepmd":
        style = [f"pair_style deepmd {model}", f"pair_coeff * * {' '.join(elements)}"]
    else:
        style = ["pair_style mace", f"pair_coeff * * {model} {' '.join(elements)}"]
    lmp = lammps(deepmd=backend_name == "deepmd")
    try:
        lmp.commands_list(["units metal", "atom_style atomic", f"read_data {tmp}",
                           *mass_commands(elements), *style,
                           "velocity all create 600 4711 loop geom", "fix nve all nve",
                           "timestep 0.0005", "thermo 1000", "run 3"])
        t0 = time.perf_counter()
        lmp.command(f"run {steps} pre no post no")
        rate = steps / (time.perf_counter() - t0)
    finally:
        lmp.close()
        tmp.unlink(missing_ok=True)
    return {"steps_per_s": rate, "atom_steps_per_s": rate * len(atoms), "atoms": len(atoms)}


def compare(train, valid, workdir, *, transfer=None, n_models=2, steps=None, templates=None,
            md_steps=50, jobs=0) -> dict:
    """Train both backends on ``train``, measure them on ``valid`` and each ``transfer``
    set ({name: frames}); returns (and writes) the report dictionary."""
    from mdsentry.train import get_backend, type_map_from

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    steps = dict({"deepmd": 2000, "mace": 2000}, **(steps or {}))
    elements = type_map_from(list(train) + list(valid))
    report = {"n_train": len(train), "n_valid": len(valid), "elements": elements,
              "transfer": {k: len(v) for k, v in (transfer or {}).items()}, "backends": {}}
    parity = {}
    for name in BACKENDS:
        backend = get_backend(name)
        template = (templates or {}).get(name) or backend.TEMPLATES[0]
        t0 = time.perf_counter()
        res = backend.train_committee(train, valid, workdir / name, n_models=n_models,
                                      steps=steps[name], template=template, type_map=elements,
                                      resume=True, jobs=jobs)
        # wall time of the whole committee (members in parallel, one thread each); a
        # resumed comparison reports the time it took to resume, so it is kept from the
        # first run
        stamp = workdir / name / "train_seconds.json"
        if not stamp.exists():
            stamp.write_text(json.dumps(time.perf_counter() - t0))
        held, parity[name] = metrics(name, res.models, valid)
        row = {"template": template, "steps": steps[name], "models": res.models,
               "train_wall_seconds": json.loads(stamp.read_text()),
               "jobs": max(1, min(jobs or cpu_threads(), n_models)),
               "valid": held, "transfer": {}}
        for tname, frames in (transfer or {}).items():
            row["transfer"][tname] = metrics(name, res.models, frames)[0]
        row["md"] = md_speed(name, res.models[0], valid[0], elements, md_steps)
        report["backends"][name] = row
    (workdir / "compare.json").write_text(json.dumps(report, indent=1))
    (workdir / "compare.md").write_text(table(report))
    plot_parity(parity, workdir / "compare_parity.png")
    return report


def _q(m, key, scale=1000.0, fmt="{:.1f}"):
    if key not in m:
        return "-"
    v = m[key]
    return (fmt.format(scale * v["mean"]) +
            (f" ({fmt.format(scale * v['min'])}-{fmt.format(scale * v['max'])})"
             if v["max"] > v["min"] else ""))


def table(report) -> str:
    """Markdown: one column per backend."""
    rows = [("training frames / held out", lambda r: f"{report['n_train']} / {report['n_valid']}"),
            ("template, steps", lambda r: f"{r['template']}, {r['steps']}"),
            ("E RMSE (meV/atom)", lambda r: _q(r["valid"], "e", fmt="{:.2f}")),
            ("F RMSE (meV/Å)", lambda r: _q(r["valid"], "f")),
            ("virial RMSE (meV/atom)", lambda r: _q(r["valid"], "v")),
            ("stress RMSE (MPa)", lambda r: _q(r["valid"], "s", scale=1.0, fmt="{:.0f}"))]
    for el in report["elements"]:
        rows.append((f"F RMSE {el} (meV/Å)",
                     lambda r, el=el: f"{1000 * r['valid']['f_element'].get(el, np.nan):.1f}"))
    for tname in report["transfer"]:
        rows.append((f"{tname}: E / F RMSE",
                     lambda r, t=tname: f"{_q(r['transfer'][t], 'e', fmt='{:.2f}')} / "
                                        f"{_q(r['transfer'][t], 'f')}"))
    rows += [("training wall s (members at once)",
              lambda r: f"{r['train_wall_seconds']:.0f} ({r['jobs']})"),
             ("MD steps/s (atom-steps/s), 1 rank",
              lambda r: f"{r['md']['steps_per_s']:.1f} ({r['md']['atom_steps_per_s']:.0f})")]
    names = list(report["backends"])
    lines = ["| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for label, cell in rows:
        lines.append(f"| {label} | " + " | ".join(cell(report["backends"][n]) for n in names)
                     + " |")
    lines.append("\nRMSE: mean over the committee's members (range in brackets); "
                 "per-element and transfer figures: mean over members.")
    return "\n".join(lines) + "\n"


def plot_parity(parity, path):
    from mdsentry.plots import parity_panel, pyplot, save

    plt = pyplot()
    fig, axes = plt.subplots(len(parity), 2, figsize=(8, 3.6 * len(parity)), squeeze=False)
    for row, (name, res) in zip(axes, parity.items()):
        for ax, key, label, unit in ((row[0], "e", "energy", "eV/atom"),
                                     (row[1], "f", "force", "eV/Å")):
            ref, pred, rmse = res[key]
            parity_panel(ax, ref, pred, f"reference {label} ({unit})", f"{name} ({unit})",
                         f"{name} {label}: RMSE {rmse:.3g} {unit}")
    return save(fig, path)
