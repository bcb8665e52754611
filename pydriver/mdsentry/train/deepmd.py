"""DeePMD backend: committees of N DeePMD models (PyTorch backend of deepmd-kit).

Data goes in as labelled ASE Atoms, is written in deepmd's npy layout, and
each member is trained by ``dp --pt train`` with its own seed on the same
data, warm-started from the previous iteration's checkpoint when given, frozen
by ``dp --pt freeze`` and validated with deepmd's ``DeepPot`` on held-out frames.
"""

import json
import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np

from mdsentry.mpiutil import child_env

from mdsentry.train import (CommitteeResult, is_cut, member_record, members_to_train, rmse,
                            run_members, trained_atoms, training_labels, type_map_from)

TEMPLATES = ("se_e2_a", "dpa1")

# single-threaded torch is several times faster on small CPU runs under load
THREAD_ENV = {"OMP_NUM_THREADS": "1", "DP_INTRA_OP_PARALLELISM_THREADS": "1",
              "DP_INTER_OP_PARALLELISM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}


def _labels(atoms):
    e, f, _, v = training_labels(atoms)
    return e, f, v


def write_systems(frames, outdir, type_map) -> list:
    """Write frames as deepmd npy systems (one per atom-type sequence); returns their dirs.

    Cut-out cells (``train.is_cut``) go to systems of their own, named ``cut.NNN``: no
    energy.npy or virial.npy (deepmd then trains neither on them) and an atom_pref.npy
    of 0 for the buffer and n_atoms / n_core for core atoms, which
    ``make_input(core_only=True)`` turns into the force loss.  Whole frames get an
    atom_pref.npy of ones (deepmd-kit 3.2's default for a missing file has the wrong
    shape), in training and validation systems.
    """
    index = {s: i for i, s in enumerate(type_map)}
    groups = {}
    for atoms in frames:
        missing = set(atoms.get_chemical_symbols()) - set(index)
        if missing:
            raise ValueError(f"elements {sorted(missing)} are not in the type map {type_map}")
        key = (is_cut(atoms), tuple(index[s] for s in atoms.get_chemical_symbols()))
        groups.setdefault(key, []).append(atoms)
    outdir = Path(outdir)
    systems = []
    for k, ((cut, types), group) in enumerate(sorted(groups.items())):
        sysdir = outdir / f"{'cut' if cut else 'sys'}.{k:03d}"
        setdir = sysdir / "set.000"
        setdir.mkdir(parents=True, exist_ok=True)
        labs = [_labels(a) for a in group]
        np.save(setdir / "coord.npy", np.array([a.get_positions().ravel() for a in group]))
        np.save(setdir / "box.npy", np.array([a.cell.array.ravel() for a in group]))
        np.save(setdir / "force.npy", np.array([f.ravel() for _, f, _ in labs]))
        # every system, training or validation, as the loss reads it from all; one weight
        # per force component: deepmd-kit 3.2's per-frame loader drops the x, y, z repeat
        np.save(setdir / "atom_pref.npy", np.array([np.repeat(atom_weights(a), 3) for a in group]))
        if not cut:
            np.save(setdir / "energy.npy", np.array([e for e, _, _ in labs]))
            if all(v is not None for _, _, v in labs):
                np.save(setdir / "virial.npy", np.array([v.ravel() for _, _, v in labs]))
        np.savetxt(sysdir / "type.raw", np.array(types), fmt="%d")
        (sysdir / "type_map.raw").write_text("\n".join(type_map) + "\n")
        systems.append(str(sysdir))
    return systems


def atom_weights(atoms):
    """Each atom's force weight: 1 in a whole frame; in a cut-out cell 0 on the buffer
    and n_atoms / n_core on the core.  deepmd's prefactor force loss is a mean over all
    of a frame's atoms, so weight 1 on the core would scale a cell's force loss by
    n_core / n_atoms (a few per cent for a 3 A core in a 5 A buffer): with these weights
    it is the mean over the core atoms, as a whole frame's is over all of its atoms."""
    core = trained_atoms(atoms)
    n_core = int(core.sum())
    if n_core == 0:
        raise ValueError("a cut-out cell without core atoms has no training forces")
    return np.where(core, len(atoms) / n_core, 0.0)


def cut_systems(systems) -> bool:
    """Whether ``write_systems`` wrote cut-out cells among ``systems``."""
    return any(Path(s).name.startswith("cut.") for s in systems)


def write_data(frames, outdir, type_map=None) -> list:
    """The backend's training-data export: deepmd npy systems of ``frames``."""
    return write_systems(frames, outdir, type_map or type_map_from(frames))


def neighbor_sel(frames, type_map, rcut, margin=1.5) -> list:
    """Per-type neighbor budget (deepmd's ``sel``) for the frames with head room.

    ``sel: "auto"`` would size it from each iteration's data, and a warm start
    then fails when hotter frames have more neighbors than the checkpoint holds;
    so the driver fixes it once, with a margin, and keeps it for later iterations.
    """
    from ase.neighborlist import neighbor_list

    index = {s: i for i, s in enumerate(type_map)}
    most = np.zeros(len(type_map), dtype=int)
    for atoms in frames:
        i, j = neighbor_list("ij", atoms, rcut)
        types = np.array([index[s] for s in atoms.get_chemical_symbols()])
        counts = np.zeros((len(atoms), len(type_map)), dtype=int)
        np.add.at(counts, (i, types[j]), 1)
        most = np.maximum(most, counts.max(axis=0) if len(atoms) else 0)
    return [int(4 * np.ceil(max(1, m) * margin / 4)) for m in most]


def checkpoint_params(path) -> dict:
    """The model parameters (type_map, descriptor, fitting_net, ...) a deepmd (PyTorch)
    checkpoint was trained with."""
    import torch

    state = torch.load(str(path), map_location="cpu", weights_only=False)
    return state["model"]["_extra_state"]["model_params"]


def checkpoint_descriptor(path) -> dict:
    """The descriptor parameters a deepmd (PyTorch) checkpoint was trained with."""
    return checkpoint_params(path)["descriptor"]


# network shape: a checkpoint can warm-start an input only if all of these agree
_SHAPE = {"descriptor": ("type", "rcut", "rcut_smth", "neuron", "axis_neuron", "resnet_dt",
                         "type_one_side", "attn", "attn_layer", "tebd_dim", "activation_function"),
          "fitting_net": ("neuron", "resnet_dt", "activation_function")}


def warm_compatible(checkpoint, template, type_map) -> str:
    """Why ``checkpoint`` cannot warm-start a network from ``template`` ("" if it can)."""
    params = checkpoint_params(checkpoint)
    want = make_input(template, type_map, [], [], 1, 1)["model"]
    if list(params.get("type_map", type_map)) != list(type_map):
        return f"type_map {params.get('type_map')} is not {list(type_map)}"
    for part, keys in _SHAPE.items():
        for key in keys:
            if key in want[part] and params[part].get(key) != want[part][key]:
                return (f"{part}.{key} = {params[part].get(key)} in the checkpoint, "
                        f"{want[part][key]} in the template")
    return ""


def _descriptor_sel(descriptor, sel):
    # se_e2_a takes one budget per type; attention descriptors (dpa1) one in all
    return sel if descriptor["type"] in ("se_e2_a", "se_a") else int(sum(sel))


def make_input(template, type_map, train_systems, valid_systems, seed, steps,
               has_virial=False, warm=False, sel=None, core_only=False) -> dict:
    """A dp input dictionary from a shipped template (name) or a user's file (path).

    ``warm``: the model starts from trained weights, so the learning rate starts
    4x lower (a full restart of the schedule would first undo the old fit).
    ``core_only``: some systems are cut-out cells: forces are fitted through deepmd's
    per-atom prefactor loss (atom_pref.npy, ``atom_weights``: 0 for buffer atoms) with
    the template's force prefactors, in place of the plain force loss.
    """
    if template in TEMPLATES:
        text = resources.files("mdsentry.train").joinpath(f"templates/{template}.json").read_text()
    else:
        text = Path(template).read_text()
    inp = json.loads(text)
    inp.pop("_comment", None)
    inp["model"]["type_map"] = list(type_map)
    if sel is not None and inp["model"]["descriptor"].get("sel") == "auto":
        inp["model"]["descriptor"]["sel"] = _descriptor_sel(inp["model"]["descriptor"], sel)
    inp["model"]["descriptor"]["seed"] = seed
    inp["model"]["fitting_net"]["seed"] = seed
    tr = inp["training"]
    tr["seed"] = seed
    tr["numb_steps"] = int(steps)
    tr["save_freq"] = int(steps)
    tr["disp_freq"] = max(1, min(tr.get("disp_freq", 100), int(steps) // 5 or 1))
    tr["training_data"]["systems"] = list(train_systems)
    tr["validation_data"]["systems"] = list(valid_systems or train_systems)
    inp["learning_rate"]["decay_steps"] = max(1, min(inp["learning_rate"]["decay_steps"],
                                                     int(steps) // 10 or 1))
    if warm:
        inp["learning_rate"]["start_lr"] *= 0.25
    if has_virial:
        inp["loss"]["start_pref_v"] = 0.02
        inp["loss"]["limit_pref_v"] = 1.0
    if core_only:
        loss = inp["loss"]
        loss["start_pref_pf"] = loss.pop("start_pref_f", 1000)
        loss["limit_pref_pf"] = loss.pop("limit_pref_f", 1)
        loss["start_pref_f"] = loss["limit_pref_f"] = 0.0
    return inp


def _dp(args, cwd, logfile, device="cpu", member=0):
    from mdsentry.placement import member_env

    exe = Path(sys.executable).with_name("dp")
    cmd = [str(exe) if exe.is_file() else "dp", "--pt", *args]
    # deepmd trains on a GPU whenever it sees one: device "cpu" hides them, "cuda" shows
    # member k its own GPU of the node (placement.member_env)
    env = child_env(**THREAD_ENV, **member_env(member, device))
    with open(logfile, "a") as fh:
        fh.write(f"$ {' '.join(cmd)}\n")
        fh.flush()
        proc = subprocess.run(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, env=env)
    if proc.returncode != 0:
        tail = Path(logfile).read_text().splitlines()[-15:]
        raise RuntimeError(f"`{' '.join(cmd)}` failed in {cwd}:\n" + "\n".join(tail))


def train_model(workdir, inp, init_model=None, device="cpu", member=0) -> tuple:
    """Train and freeze one model in ``workdir``; returns (frozen .pth, checkpoint).
    ``member``: the committee index, which picks its GPU with device "cuda"."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "input.json").write_text(json.dumps(inp, indent=1))
    log = workdir / "train.log"
    args = ["train", "input.json"]
    if init_model:
        args += ["--init-model", str(Path(init_model).resolve())]
    _dp(args, workdir, log, device, member)
    ckpt = workdir / "model.ckpt.pt"
    if not ckpt.exists():
        raise RuntimeError(f"dp train left no checkpoint in {workdir}")
    _dp(["freeze", "-c", str(ckpt), "-o", "model.pth"], workdir, log)
    return str(workdir / "model.pth"), str(ckpt.resolve())


def predict(model_path, frames) -> list:
    """Model energy, forces (natoms, 3) and virial (3x3) for each frame."""
    from mdsentry.logs import quiet

    with quiet():
        from deepmd.infer import DeepPot

        dp = DeepPot(str(model_path))
        tmap = dp.get_type_map()
        out = []
        for atoms in frames:
            symbols = atoms.get_chemical_symbols()
            missing = set(symbols) - set(tmap)
            if missing:
                raise ValueError(f"model {model_path} has no type for {sorted(missing)}")
            types = [tmap.index(s) for s in symbols]
            cell = atoms.cell.array.reshape(1, 9) if atoms.cell.rank == 3 else None
            e, f, v = dp.eval(atoms.get_positions().reshape(1, -1), cell, types)[:3]
            out.append((float(e.ravel()[0]), f.reshape(-1, 3), v.reshape(3, 3)))
    return out


def evaluate(model_path, frames) -> dict:
    """RMSE of energy per atom, force components and virial per atom (if labelled)."""
    return rmse(frames, predict(model_path, frames))


def atom_features(model_path, frames) -> list:
    """Per-atom features (natoms, d) of each frame: the input of the fitting net's last
    layer, in which each atom's energy is linear (what select.maxdet selects on)."""
    from mdsentry.logs import quiet

    with quiet():
        from deepmd.infer import DeepPot

        dp = DeepPot(str(model_path))
        tmap = dp.get_type_map()
        out = []
        for atoms in frames:
            types = [tmap.index(s) for s in atoms.get_chemical_symbols()]
            cell = atoms.cell.array.reshape(1, 9) if atoms.cell.rank == 3 else None
            f = dp.eval_fitting_last_layer(atoms.get_positions().reshape(1, -1), cell, types)
            out.append(np.asarray(f, dtype=float).reshape(len(atoms), -1))
    return out


def train_committee(train, valid, workdir, *, n_models=4, steps=2000, template="se_e2_a",
                    init_models=None, seeds=None, type_map=None, resume=False,
                    progress=False, jobs=1, device="cpu", share=None, collect=False):
    """Train ``n_models`` on the same data with different seeds.

    ``jobs``: members trained at the same time (each a one-thread ``dp`` process;
    0 = as many as there are cores); ``device``: "cpu" or "cuda" (deepmd's own GPU choice).
    ``resume``: members already trained in ``workdir`` (a ``member.json``) are kept.
    ``init_models``: checkpoints of the previous iteration (one per member) to
    warm-start from; ``type_map`` defaults to the elements of ``train``.
    ``share``: (index, count) trains only this node's members (``members_of``) from its
    own copy of the data and returns their indices; a later call with ``collect=True``
    gathers the committee, trains nothing and names any member left untrained.
    """
    workdir = Path(workdir).resolve()  # dp runs in each member's directory
    type_map = list(type_map or type_map_from(train))
    seeds = list(seeds or [1000 + 17 * k for k in range(n_models)])
    if len(seeds) != n_models:
        raise ValueError("one seed per committee member")
    if init_models is not None and len(init_models) != n_models:
        raise ValueError("one init model per committee member")
    ks, todo = members_to_train(workdir, n_models, share, resume, collect)
    if todo:  # each share writes its own copy of the data: shares never write one file
        data = workdir / ("data" if share is None else f"data.{share[0]}")
        shutil.rmtree(data, ignore_errors=True)
        train_sys = write_systems(train, data / "train", type_map)
        valid_sys = write_systems(valid, data / "valid", type_map) if valid else []
        whole = [s for s in train_sys if not cut_systems([s])]
        has_virial = bool(whole) and all(
            os.path.exists(os.path.join(s, "set.000", "virial.npy")) for s in whole)
        core_only = cut_systems(train_sys)
        rcut = make_input(template, type_map, [], [], 1, 1)["model"]["descriptor"]["rcut"]
        sel = neighbor_sel(list(train) + list(valid or []), type_map, rcut)

    def member(k):
        mdir = workdir / f"model.{k + 1:02d}"
        if k not in todo:  # trained before the driver was stopped, or by another node
            return json.loads(member_record(workdir, k).read_text())
        init = init_models[k] if init_models else None
        inp = make_input(template, type_map, train_sys, valid_sys, seeds[k], steps, has_virial,
                         warm=init is not None, sel=sel, core_only=core_only)
        if init is not None:  # the neighbor budget must be the checkpoint's
            inp["model"]["descriptor"]["sel"] = checkpoint_descriptor(init)["sel"]
        model, ckpt = train_model(mdir, inp, init, device, member=ks.index(k))
        out = {"model": model, "checkpoint": ckpt, "rmse": evaluate(model, valid) if valid else None}
        (mdir / "member.json.part").write_text(json.dumps(out))
        os.replace(mdir / "member.json.part", member_record(workdir, k))
        return out

    members = run_members(member, ks, jobs,
                          desc=f"training {len(ks)} deepmd models" if progress and todo else None)
    if share is not None:
        return ks
    models = [m["model"] for m in members]
    ckpts = [m["checkpoint"] for m in members]
    rmse = [m["rmse"] for m in members]
    return CommitteeResult(models=models, checkpoints=ckpts, rmse=rmse)


def pair_style_members(model_paths, elements, device="cpu") -> tuple:
    """``pair_style committee`` member string and each member's pair_coeff arguments
    (after ``* * k``): deepmd's model file is a pair_style argument.  deepmd picks its
    device itself (the GPU placement left visible to the rank, if any)."""
    return " ".join(f"deepmd {p}" for p in model_paths), [" ".join(elements)] * len(model_paths)


def receptive_field(model_path) -> float:
    """How far (A) an atom's energy and force see: the descriptor's rcut for the shipped
    se_e2_a and dpa1 (one layer of neighbours); a cut cell's buffer must reach it."""
    from mdsentry.logs import quiet

    with quiet():
        from deepmd.infer import DeepPot

        return float(DeepPot(str(model_path)).get_rcut())


def type_map(model_path) -> list:
    """The elements a frozen model knows."""
    from mdsentry.logs import quiet

    with quiet():
        from deepmd.infer import DeepPot

        return list(DeepPot(str(model_path)).get_type_map())
