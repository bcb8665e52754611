"""MACE backend: committees of N MACE models (mace-torch's ``mace_run_train``).

Data goes in as labelled ASE Atoms and is written as extxyz with mace's
``REF_`` keys; each member is trained by its own ``mace_run_train`` process
with its own seed on the same data, warm-started from the previous iteration's
model when given, exported for LAMMPS's ``pair_style mace`` by
``mace_create_lammps_model`` and validated with mace's ``MACECalculator`` on
held-out frames.

Files of one member (``model.NN/``): ``mace.model`` (the trained torch model:
the checkpoint a later iteration warm-starts from), ``mace.model-lammps.pt``
(what LAMMPS loads), ``e0s.json``, ``train.log`` and mace's own ``logs/``,
``checkpoints/`` and ``results/``.

Isolated-atom energies (E0s) are fitted once per committee from the training
frames and passed to mace explicitly, so that every member -- and every later
warm start -- subtracts the same per-element offsets.

A warm start is mace's own fine-tuning of a foundation model (``--foundation_model``
with the previous member's ``.model``): it rebuilds the old network and copies all of
it, weights, output scale and E0s, then trains at a 4x lower learning rate.
"""

import ast
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import threading
from importlib import resources
from pathlib import Path

import numpy as np
from ase.data import atomic_numbers, chemical_symbols

from mdsentry.frames import labels
from mdsentry.mpiutil import child_env
from mdsentry.placement import member_env
from mdsentry.train import (CommitteeResult, is_cut, member_record, members_to_train, rmse,
                            run_members, training_labels, type_map_from)

TEMPLATES = ("mace_small", "mace_l1")

NAME = "mace"                  # mace_run_train --name: the member's mace.model
LAMMPS_SUFFIX = "-lammps.pt"   # what mace_create_lammps_model appends

# single-threaded torch is several times faster on small CPU runs under load;
# mace's own scripts load pickled models, which torch >= 2.6 refuses by default
THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}

# options mdsentry sets on every run: a template may not set them
OWN_OPTIONS = ("name", "seed", "train_file", "valid_file", "test_file", "work_dir", "model_dir",
               "checkpoints_dir", "results_dir", "log_dir", "E0s", "atomic_numbers", "device",
               "default_dtype", "max_num_epochs", "energy_key", "forces_key", "stress_key",
               "foundation_model", "restart_latest", "heads")


# ---- data ------------------------------------------------------------------------------

def write_xyz(frames, path, type_map=None) -> bool:
    """Write frames as extxyz with mace's keys (REF_energy, REF_forces, REF_stress);
    returns whether stress was written: only when every frame has it and is periodic,
    as the DeePMD backend fits virials only then."""
    from ase import Atoms
    from ase.io import write

    if type_map is not None:
        missing = {s for a in frames for s in a.get_chemical_symbols()} - set(type_map)
        if missing:
            raise ValueError(f"elements {sorted(missing)} are not in the type map {list(type_map)}")
    cut = sum(is_cut(a) for a in frames)
    if cut:
        # mace-torch weighs whole configurations, not atoms: a cut cell's buffer forces
        # and its artificial energy would be fitted as if they were real
        raise ValueError(f"{cut} of the frames are cut-out cells (select.cut_above), whose "
                         "buffer atoms must not be fitted; mace-torch has no per-atom force "
                         "weights: train them with train.backend = \"deepmd\"")
    labs = [training_labels(a) for a in frames]
    with_stress = bool(frames) and all(s is not None for _, _, s, _ in labs)
    out = []
    for atoms, (e, f, s, _) in zip(frames, labs):
        # a bare copy: no calculator, so ASE writes exactly the REF_ keys
        plain = Atoms(atoms.get_chemical_symbols(), positions=atoms.get_positions(),
                      cell=atoms.cell.array, pbc=atoms.pbc)
        plain.info["REF_energy"] = float(e)
        plain.arrays["REF_forces"] = np.asarray(f, dtype=float)
        if with_stress:
            plain.info["REF_stress"] = np.asarray(s, dtype=float)  # Voigt, ASE order
        out.append(plain)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write(str(path), out, format="extxyz", parallel=False)
    return with_stress


def write_data(frames, outdir, type_map=None) -> list:
    """The backend's training-data export: one extxyz file in mace's key convention."""
    path = Path(outdir) / "train.xyz"
    write_xyz(frames, path, type_map)
    return [str(path)]


# ---- isolated-atom energies -----------------------------------------------------------

def fit_e0s(frames, zs, fixed=None) -> dict:
    """Per-element reference energies {Z: e0} by least squares of frame energy on
    element counts.  ``fixed``: {Z: e0} kept as they are (a warm start's old E0s);
    the others are fitted to what those leave.

    Least squares alone is undetermined when the counts do not separate the elements
    (every frame of one composition, or an element absent from the data); the fit is
    therefore made around the mean energy per atom ``m``: ``e0 = m + y`` with ``y`` the
    minimum-norm solution.  With one composition every element then gets ``m``; an
    absent element gets ``m``; separable data get the plain least-squares answer.
    """
    if not frames:
        raise ValueError("no frames to fit E0s to")
    fixed = {int(z): float(e) for z, e in (fixed or {}).items()}
    free = [int(z) for z in sorted(zs) if int(z) not in fixed]
    numbers = [a.get_atomic_numbers() for a in frames]
    energy = np.array([labels(a)[0] for a in frames], dtype=float)
    if not np.all(np.isfinite(energy)):
        raise ValueError("every training frame needs an energy to fit E0s")
    rest = energy - np.array([sum(e * np.count_nonzero(n == z) for z, e in fixed.items())
                              for n in numbers])
    out = dict(fixed)
    if not free:
        return out
    counts = np.array([[np.count_nonzero(n == z) for z in free] for n in numbers], dtype=float)
    n_free = counts.sum()
    # mean energy per atom of the free elements' atoms (of all atoms if there are none)
    m = rest.sum() / n_free if n_free else energy.sum() / sum(len(n) for n in numbers)
    y = np.linalg.lstsq(counts, rest - counts.sum(axis=1) * m, rcond=None)[0]
    out.update({z: float(m + dy) for z, dy in zip(free, y)})
    return out


def _e0s_arg(e0s) -> str:
    # mace_run_train --E0s reads a Python dict literal {Z: energy}
    return "{" + ", ".join(f"{z}: {e0s[z]!r}" for z in sorted(e0s)) + "}"


# ---- models and checkpoints -----------------------------------------------------------

def model_file(path) -> Path:
    """The torch ``.model`` behind a path: the LAMMPS export ``X.model-lammps.pt`` is
    made from ``X.model`` next to it."""
    path = Path(path)
    if path.name.endswith(LAMMPS_SUFFIX):
        return path.with_name(path.name[:-len(LAMMPS_SUFFIX)])
    return path


# Members train in threads (each a mace_run_train process) and are loaded and evaluated
# in this process from those threads: unpickling e3nn modules generates code with
# torch.fx, whose tracer state is global and not thread-safe ("CURRENT_PATCHER is None"),
# so in-process model work takes turns.
_IN_PROCESS = threading.RLock()


def _load(path):
    """A trained mace model (a pickled torch module; mace must be importable)."""
    from mdsentry.logs import quiet

    with _IN_PROCESS, quiet():
        import mace  # noqa: F401 - the pickle refers to mace's classes
        import torch

        return torch.load(str(path), map_location="cpu", weights_only=False)


def _head(model) -> str:
    heads = list(getattr(model, "heads", None) or ["Default"])
    return "Default" if "Default" in heads else heads[-1]


def checkpoint_e0s(checkpoint) -> tuple:
    """({Z: e0}, elements fitted to data) of a trained model.  Elements the old
    committee never saw (``e0s.json`` next to the checkpoint says which) may be
    refitted when they turn up."""
    model = _load(model_file(checkpoint))
    zs = [int(z) for z in model.atomic_numbers]
    e0 = model.atomic_energies_fn.atomic_energies.detach().cpu().numpy().reshape(-1, len(zs))[0]
    meta = model_file(checkpoint).with_name("e0s.json")
    seen = json.loads(meta.read_text())["seen"] if meta.exists() else zs
    return {z: float(e) for z, e in zip(zs, e0)}, [int(z) for z in seen]


def _foundation_copy(checkpoint, dest, e0s):
    """Write ``checkpoint`` with the E0s ``e0s`` as the foundation model of a warm start.

    mace_run_train's fine-tuning path builds the network the foundation model has and
    copies all its weights and buffers -- output scale and shift, and the E0s too,
    whatever ``--E0s`` says: so the E0s of the warm start go into the copy."""
    import torch

    model = _load(model_file(checkpoint))
    buf = model.atomic_energies_fn.atomic_energies
    zs = [int(z) for z in model.atomic_numbers]
    new = torch.tensor([e0s[z] for z in zs], dtype=buf.dtype).reshape(buf.shape)
    buf.copy_(new)
    torch.save(model, str(dest))


def load_template(template) -> dict:
    """mace_run_train options (names without --) of a shipped template or a user's file."""
    if template in TEMPLATES:
        text = resources.files("mdsentry.train").joinpath(f"templates/{template}.json").read_text()
    else:
        text = Path(template).read_text()
    opts = json.loads(text)
    opts.pop("_comment", None)
    own = sorted(set(opts) & set(OWN_OPTIONS))
    if own:
        raise ValueError(f"template {template}: {', '.join(own)} are set by mdsentry")
    return opts


_ACTIONS = {}


def _actions() -> dict:
    """mace_run_train's options: name -> argparse action (to tell flags from values)."""
    if not _ACTIONS:
        from mdsentry.logs import quiet

        with quiet():
            from mace.tools.arg_parser import build_default_arg_parser

            for action in build_default_arg_parser()._actions:
                for opt in action.option_strings:
                    _ACTIONS[opt.lstrip("-")] = action
    return _ACTIONS


def _cli(opts) -> list:
    """Command-line arguments of an options dict: ``true`` adds a flag option (``ema``),
    other values are passed as text (``"radial_MLP": "[32, 32]"``, booleans of value
    options as True/False)."""
    actions = _actions()
    args = []
    for key, value in opts.items():
        action = actions.get(key)
        if action is not None and action.nargs == 0:  # a flag: present or not
            if not isinstance(value, bool):
                raise ValueError(f"--{key} is a flag of mace_run_train: true or false, "
                                 f"not {value!r}")
            if value:
                args.append(f"--{key}")
            elif action.default is True:
                raise ValueError(f"mace_run_train cannot switch off --{key}")
            continue
        args += [f"--{key}", str(value)]
    return args


def _resolved(template) -> object:
    """The settings mace_run_train would train a fresh model of ``template`` with."""
    from mdsentry.logs import quiet

    argv = ["--name", "x", *_cli(load_template(template))]
    with quiet():
        from mace.tools import build_default_arg_parser, check_args

        try:
            args = build_default_arg_parser().parse_args(argv)
        except SystemExit:  # argparse's way to reject an option
            raise ValueError(f"mace_run_train rejects template {template}: "
                             f"{shlex.join(argv[2:])}") from None
        return check_args(args)[0]


def warm_compatible(checkpoint, template, type_map) -> str:
    """Why ``checkpoint`` (a member's ``.model``) cannot warm-start a network from
    ``template`` for the elements ``type_map`` ("" if it can).  A warm start keeps the
    checkpoint's network, so the template must ask for the same one."""
    from mdsentry.logs import quiet

    model = _load(model_file(checkpoint))
    with quiet():
        from e3nn import o3
        from mace.tools.scripts_utils import extract_config_mace_model

        have = extract_config_mace_model(model)
    if "error" in have:
        return have["error"]
    want = _resolved(template)
    old = sorted(int(z) for z in model.atomic_numbers)
    new = sorted(atomic_numbers[s] for s in type_map)
    if old != new:
        return (f"elements {[chemical_symbols[z] for z in old]} in the checkpoint, "
                f"{[chemical_symbols[z] for z in new]} in the type map")
    if len(have["heads"]) != 1:
        return f"the checkpoint has several heads {have['heads']}"
    if want.model not in ("MACE", "ScaleShiftMACE"):  # what mace fine-tunes as we do
        return f"model = {want.model} in the template"
    checks = (("r_max", have["r_max"], float(want.r_max)),
              ("interaction", have["interaction_cls"].__name__, str(want.interaction)),
              ("hidden_irreps", have["hidden_irreps"], o3.Irreps(str(want.hidden_irreps))),
              ("num_interactions", have["num_interactions"], int(want.num_interactions)),
              ("max_ell", have["max_ell"], int(want.max_ell)),
              ("correlation", have["correlation"], int(want.correlation)),
              ("num_radial_basis", have["num_bessel"], int(want.num_radial_basis)),
              ("num_cutoff_basis", int(have["num_polynomial_cutoff"]), int(want.num_cutoff_basis)),
              ("MLP_irreps", have["MLP_irreps"], o3.Irreps(str(want.MLP_irreps))),
              ("radial_MLP", list(have["radial_MLP"]), list(ast.literal_eval(want.radial_MLP))),
              ("pair_repulsion", have["pair_repulsion"], bool(want.pair_repulsion)))
    for key, a, b in checks:
        same = math.isclose(a, b, rel_tol=1e-9) if isinstance(a, float) else a == b
        if not same:
            return f"{key} = {a} in the checkpoint, {b} in the template"
    return ""


# ---- training --------------------------------------------------------------------------

def _run(tool, args, cwd, logfile, env=None):
    """Run one of mace's console scripts (next to this Python) into ``logfile``;
    ``env``: extra environment (a member's GPU)."""
    exe = Path(sys.executable).with_name(tool)
    cmd = [str(exe) if exe.is_file() else tool, *args]
    with open(logfile, "a") as fh:
        fh.write(f"$ {shlex.join(cmd)}\n")
        fh.flush()
        # stdin closed: mace_create_lammps_model asks for a head on multi-head models
        proc = subprocess.run(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL,
                              env=child_env(**THREAD_ENV, **(env or {})))
    if proc.returncode != 0:
        tail = Path(logfile).read_text().splitlines()[-15:]
        raise RuntimeError(f"`{shlex.join(cmd)}` failed in {cwd}:\n" + "\n".join(tail))


def epochs_for(steps, n_fit, batch_size) -> int:
    """mace counts epochs; mdsentry counts gradient steps.  mace drops the last partial
    batch, so an epoch is ``n_fit // batch_size`` steps: ``ceil(steps / that)`` epochs
    (0 steps: no training, the initial model is saved)."""
    per_epoch = max(1, n_fit // max(1, batch_size))
    return int(math.ceil(int(steps) / per_epoch))


def train_model(workdir, args, init_model=None, e0s=None, env=None) -> tuple:
    """Train and export one member in ``workdir`` (mace_run_train arguments ``args``);
    returns (LAMMPS model, torch .model).  ``init_model``: a checkpoint to start from,
    with the E0s ``e0s``; ``env``: the member's GPU (placement.member_env)."""
    workdir = Path(workdir)
    log = workdir / "train.log"
    if init_model is not None:
        init = workdir / "init.model"
        _foundation_copy(init_model, init, e0s)
        # fine-tuning of one head from our own model: no replay data, same network
        args = [*args, "--foundation_model", str(init.resolve()),
                "--multiheads_finetuning", "False"]
    _run("mace_run_train", args, workdir, log, env)
    model = workdir / f"{NAME}.model"
    if not model.exists():
        raise RuntimeError(f"mace_run_train left no {model.name} in {workdir}")
    _run("mace_create_lammps_model", [str(model), "--head", _head(_load(model)),
                                       "--dtype", "float64"], workdir, log)
    lammps = workdir / (model.name + LAMMPS_SUFFIX)
    if not lammps.exists():
        raise RuntimeError(f"mace_create_lammps_model left no {lammps.name} in {workdir}")
    return str(lammps.resolve()), str(model.resolve())


def _member_files(mdir, rec) -> dict:
    return dict(rec, model=str((mdir / rec["model"]).resolve()),
                checkpoint=str((mdir / rec["checkpoint"]).resolve()))


def train_committee(train, valid, workdir, *, n_models=4, steps=2000, template="mace_small",
                    init_models=None, seeds=None, type_map=None, resume=False,
                    progress=False, jobs=1, device="cpu", share=None, collect=False):
    """Train ``n_models`` on the same data with different seeds.

    ``steps``: gradient steps, turned into mace's epochs (``epochs_for``).
    ``jobs``: members trained at the same time (each a one-thread ``mace_run_train``;
    0 = as many as there are cores).  ``device``: "cpu" or "cuda" for training.
    ``resume``: members already trained in ``workdir`` (a ``member.json``) are kept.
    ``init_models``: checkpoints (``.model``) of the previous iteration, one per member,
    to warm-start from at a 4x lower learning rate, keeping their E0s; ``type_map``
    defaults to the elements of ``train``.
    Without held-out frames mace holds out its template's ``valid_fraction`` itself.
    ``share``: (index, count) trains only this node's members (``members_of``) from its
    own copy of the data and returns their indices; a later call with ``collect=True``
    gathers the committee, trains nothing and names any member left untrained.
    """
    workdir = Path(workdir).resolve()  # members run in their own directories
    type_map = list(type_map or type_map_from(train))
    zs = sorted(atomic_numbers[s] for s in type_map)
    seeds = list(seeds or [1000 + 17 * k for k in range(n_models)])
    if len(seeds) != n_models:
        raise ValueError("one seed per committee member")
    if init_models is not None and len(init_models) != n_models:
        raise ValueError("one init model per committee member")
    if not train:
        raise ValueError("no training frames")
    opts = load_template(template)
    if init_models:
        why = warm_compatible(init_models[0], template, type_map)
        if why:
            raise ValueError(f"{init_models[0]} cannot warm-start template {template}: {why}")

    ks, todo = members_to_train(workdir, n_models, share, resume, collect)
    if todo:  # each share writes its own copy of the data: shares never write one file
        data = workdir / ("data" if share is None else f"data.{share[0]}")
        shutil.rmtree(data, ignore_errors=True)
        train_file = data / "train.xyz"
        has_stress = write_xyz(train, train_file, type_map)
        valid_file = data / "valid.xyz" if valid else None
        if valid:
            write_xyz(valid, valid_file, type_map)
        elif len(train) < 2:  # mace cannot split one frame: validate on it
            valid_file = train_file

        # E0s: once for the whole committee; a warm start keeps the old ones
        seen = {int(z) for a in train for z in a.get_atomic_numbers()}
        fixed = {}
        if init_models:
            old, old_seen = checkpoint_e0s(init_models[0])
            fixed = {z: old[z] for z in old_seen if z in old}
            seen |= set(fixed)
        e0s = fit_e0s(train, zs, fixed=fixed)
        e0_meta = json.dumps({"e0s": {str(z): e0s[z] for z in sorted(e0s)}, "seen": sorted(seen)},
                             indent=1)
        part = workdir / f"e0s.json.{share[0] if share else 0}"
        part.write_text(e0_meta)  # the same on every node
        os.replace(part, workdir / "e0s.json")

        n_fit = len(train)
        if valid_file is None:  # mace's own split keeps at least one frame out
            n_fit = min(n_fit - int(float(opts.get("valid_fraction", 0.1)) * n_fit), n_fit - 1)
        batch = min(int(opts.get("batch_size", 10)), n_fit)
        if has_stress and opts.get("loss", "weighted") == "weighted":
            opts["loss"] = "stress"  # stress labels are there: fit them too
        common = [*_cli({k: v for k, v in opts.items() if k not in ("batch_size", "lr")}),
                  "--batch_size", str(batch), "--name", NAME,
                  "--train_file", str(train_file.resolve()),
                  "--energy_key", "REF_energy", "--forces_key", "REF_forces",
                  "--stress_key", "REF_stress",
                  "--E0s", _e0s_arg(e0s), "--atomic_numbers", str(zs),
                  "--max_num_epochs", str(epochs_for(steps, n_fit, batch)),
                  "--device", device, "--default_dtype", "float64"]
        if device != "cpu":
            common.append("--save_cpu")  # models that load on the CPU (validation, export)
        if valid_file is not None:
            common += ["--valid_file", str(Path(valid_file).resolve())]
        lr = float(opts.get("lr", 0.01))

    def member(k):
        mdir = workdir / f"model.{k + 1:02d}"
        if k not in todo:  # trained before the driver was stopped, or by another node
            return _member_files(mdir, json.loads(member_record(workdir, k).read_text()))
        # mace ends by loading its latest checkpoint: a stopped run's could be the one
        shutil.rmtree(mdir, ignore_errors=True)
        # mace makes checkpoints/ at the first epoch, but saves the model there at the
        # end: with 0 steps (a warm model as it is) there would be none
        (mdir / "checkpoints").mkdir(parents=True)
        init = init_models[k] if init_models else None
        # a warm start begins from a fit: the full learning rate would first undo it
        args = [*common, "--seed", str(seeds[k]), "--lr", repr(lr * (0.25 if init else 1.0)),
                "--work_dir", str(mdir.resolve())]
        model, ckpt = train_model(mdir, args, init, e0s,
                                  env=member_env(ks.index(k), device) if device != "cpu" else None)
        (mdir / "e0s.json").write_text(e0_meta)
        rmse = evaluate(model, valid) if valid else None
        # file names relative to the member: a run directory may be moved
        rec = {"model": Path(model).name, "checkpoint": Path(ckpt).name, "rmse": rmse}
        (mdir / "member.json.part").write_text(json.dumps(rec))
        os.replace(mdir / "member.json.part", member_record(workdir, k))
        return _member_files(mdir, rec)

    members = run_members(member, ks, jobs,
                          desc=f"training {len(ks)} mace models" if progress and todo else None)
    if share is not None:
        return ks
    return CommitteeResult(models=[m["model"] for m in members],
                           checkpoints=[m["checkpoint"] for m in members],
                           rmse=[m["rmse"] for m in members])


# ---- inference -------------------------------------------------------------------------

def predict(model_path, frames) -> list:
    """Model energy, forces (natoms, 3) and virial (3x3, -stress * volume; zero for a
    non-periodic frame) for each frame; ``model_path`` is a ``.model`` or its LAMMPS
    export."""
    from mdsentry.logs import quiet

    out = []
    with _IN_PROCESS, quiet():
        from mace.calculators import MACECalculator

        # a list, not a string: mace globs a string path
        calc = MACECalculator(model_paths=[str(model_file(model_path))], device="cpu",
                              default_dtype="float64")
        known = {chemical_symbols[int(z)] for z in calc.models[0].atomic_numbers}
        for atoms in frames:
            missing = set(atoms.get_chemical_symbols()) - known
            if missing:
                raise ValueError(f"model {model_path} has no type for {sorted(missing)}")
            a = atoms.copy()
            a.calc = calc
            e = float(a.get_potential_energy())
            f = np.array(a.get_forces())
            v = np.zeros((3, 3))
            if a.cell.rank == 3 and a.pbc.all():
                v = -a.get_stress(voigt=False) * a.get_volume()
            out.append((e, f, v))
    return out


def evaluate(model_path, frames) -> dict:
    """RMSE of energy per atom, force components and virial per atom (if labelled)."""
    return rmse(frames, predict(model_path, frames))


def atom_features(model_path, frames) -> list:
    """Per-atom invariant node features of every interaction layer (natoms, d) for each
    frame: the features select.maxdet selects on."""
    from mdsentry.logs import quiet

    out = []
    with _IN_PROCESS, quiet():
        from mace.calculators import MACECalculator

        calc = MACECalculator(model_paths=[str(model_file(model_path))], device="cpu",
                              default_dtype="float64")
        for atoms in frames:
            feats = calc.get_descriptors(atoms.copy(), invariants_only=True)
            out.append(np.asarray(feats, dtype=float).reshape(len(atoms), -1))
    return out


def receptive_field(model_path) -> float:
    """How far (A) an atom's energy and force see: r_max per message-passing layer."""
    model = _load(model_file(model_path))
    return float(model.r_max) * int(model.num_interactions)


def type_map(model_path) -> list:
    """The elements a model knows (a ``.model`` or a LAMMPS ``-lammps.pt``), by atomic
    number."""
    path = Path(model_path)
    if path.name.endswith(LAMMPS_SUFFIX):
        from mdsentry.logs import quiet

        with quiet():
            import torch

            zs = torch.jit.load(str(path), map_location="cpu").atomic_numbers
    else:
        zs = _load(path).atomic_numbers
    return [chemical_symbols[int(z)] for z in sorted(int(z) for z in zs)]


def pair_style_members(model_paths, elements, device="cpu") -> tuple:
    """``pair_style committee`` member string and each member's pair_coeff arguments
    (after ``* * k``): pair_style mace takes its model file in pair_coeff; ``device
    cuda`` puts each rank's members on the one GPU placement left it."""
    els = " ".join(elements)
    style = "mace device cuda" if device == "cuda" else "mace"
    return " ".join(style for _ in model_paths), [f"{p} {els}" for p in model_paths]
