"""The active-learning loop: where each stage is decided, checkpointed and resumed.

    import -> bootstrap -> first_train ->
        [explore -> (converged? stop) -> select -> label -> train -> validate -> swap] x N

Every rank runs this loop; LAMMPS walkers run on sub-communicators, labelling
on all ranks, training and the store on rank 0.  After each stage rank 0 writes
``state.json`` (atomically): a killed ``mdsentry run`` starts again at the stage
it was in.  Stages are idempotent against the store: frames are appended once,
labelled frames are never sent to the oracle again, trained members are kept.
"""

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass

import numpy as np

from mdsentry import store
from mdsentry.mpiutil import StageError, collective, idle_barrier, on_root, on_shares

STATE_VERSION = 1


@dataclass
class Context:
    cfg: dict
    comm: object
    progress: bool = True
    walker: object = None   # this rank's walker (built on first use)
    share: object = None    # this rank's share of committee training (several nodes)
    out: object = sys.stdout

    @property
    def root(self):
        return self.comm.Get_rank() == 0

    @property
    def store(self):
        return os.path.join(self.cfg["workdir"], "frames.h5")

    def say(self, text):
        if self.root:
            print(text, file=self.out, flush=True)
            with open(os.path.join(self.cfg["workdir"], "mdsentry.log"), "a") as fh:
                fh.write(text + "\n")

    def iterdir(self, k):
        return os.path.join(self.cfg["workdir"], f"iter.{k:03d}")


# ------------------------------------------------------------------ state
def state_path(workdir):
    return os.path.join(workdir, "state.json")


def new_state(cfg):
    return {"version": STATE_VERSION, "stage": "import", "iteration": 0,
            "committee": None, "trained": None, "labels_used": 0,
            "starts": [None] * len(cfg["explore"]["temperatures"]),
            "history": [], "current": {}, "done": None}


def load_state(workdir):
    path = state_path(workdir)
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        state = json.load(fh)
    if state.get("version") != STATE_VERSION:
        raise RuntimeError(f"{path}: state version {state.get('version')} is not "
                           f"{STATE_VERSION}; start a new workdir")
    return state


def save_state(workdir, state):
    path = state_path(workdir)
    with open(path + ".part", "w") as fh:
        json.dump(state, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(path + ".part", path)


# ----------------------------------------------------------------- stages
def stage_import(ctx, state):
    """Initial labelled data into the store (once per file)."""
    def work():
        if not os.path.exists(ctx.store):
            store.create(ctx.store)
        sources = set(store.table(ctx.store)["source"])
        paths = ctx.cfg["data"]["initial"]
        names = [os.path.basename(p) for p in paths]
        for k, path in enumerate(paths):
            # keyed by the path relative to the run (two files of one name in different
            # folders are two sources); stores of older versions keyed by the file name
            source = import_source(path, ctx.cfg["workdir"])
            legacy = f"import:{names[k]}"
            if source in sources or (legacy in sources and names.count(names[k]) == 1):
                continue
            frames = store.load_frames(path)
            splits = _splits(len(frames), ctx.cfg["data"]["valid_fraction"], seed=k)
            # one append per file: all or nothing after a kill
            store.append(ctx.store, frames, source=source, split=splits, iteration=-1)
            ctx.say(f"imported {len(frames)} labelled frames from {path} "
                    f"({splits.count('valid')} held out)")
    on_root(ctx.comm, work)
    return "bootstrap"


def import_source(path, workdir):
    """The store's source label of an imported file: its path relative to the run,
    shortened with a hash of the whole to fit the store's 128-byte text field."""
    rel = os.path.relpath(path, workdir)
    if len(rel.encode()) <= 100:
        return f"import:{rel}"
    import hashlib

    return f"import:...{rel[-80:]}#{hashlib.sha1(rel.encode()).hexdigest()[:10]}"


def _splits(n, fraction, seed):
    """'train'/'valid' per frame (``frames.held_out``)."""
    from mdsentry.frames import held_out

    return ["valid" if h else "train" for h in held_out(n, fraction, seed)]


def bootstrap_frames(cfg):
    """Strained and rattled copies of the structure (the first training set)."""
    from mdsentry.structure import read_structure

    da = cfg["data"]
    rng = np.random.default_rng(cfg["explore"]["seed"])
    base = read_structure(cfg["system"]["structure"], cfg["system"]["elements"])
    frames = []
    for k in range(da["bootstrap"]):
        atoms = base.copy()
        eps = rng.uniform(-da["strain"], da["strain"], size=(3, 3))
        atoms.set_cell(atoms.cell.array @ (np.eye(3) + 0.5 * (eps + eps.T)), scale_atoms=True)
        atoms.positions += rng.normal(0.0, da["rattle"] * (0.5 + k / max(1, da["bootstrap"])),
                                      size=atoms.positions.shape)
        atoms.calc = None
        frames.append(atoms)
    return frames


def stage_bootstrap(ctx, state):
    from mdsentry.label import label_store

    cfg = ctx.cfg
    if cfg["data"]["bootstrap"] == 0:
        return "first_train"

    def add():
        t = store.table(ctx.store)
        ids = np.flatnonzero(t["source"] == "bootstrap")
        if len(ids) == 0:
            frames = bootstrap_frames(cfg)
            splits = _splits(len(frames), cfg["data"]["valid_fraction"], seed=99)
            ids = store.append(ctx.store, frames, source="bootstrap", split=splits, iteration=-1)
            ctx.say(f"bootstrap: {len(ids)} strained/rattled frames of the structure to label")
        return [int(i) for i in ids]

    ids = on_root(ctx.comm, add)
    n_ok, n_bad = label_store(ctx.store, _oracle(cfg), os.path.join(cfg["workdir"], "bootstrap"),
                              ids=ids, comm=ctx.comm, progress=ctx.progress, **_label_opts(cfg))
    state["labels_used"] = on_root(ctx.comm, lambda: oracle_calls(ctx.store))
    if ctx.root:
        t = store.table(ctx.store)
        done = int(np.sum(t["status"][ids] == store.STATUS["labelled"]))
        ctx.say(f"bootstrap: {done} of {len(ids)} frames labelled ({n_bad} failed now)")
    return "first_train"


def oracle_calls(path):
    """Frames sent to the oracle so far (labelled or failed, imports excluded)."""
    t = store.table(path)
    sent = t["status"] != store.STATUS["unlabelled"]
    imported = np.array([s.startswith("import:") for s in t["source"]], dtype=bool)
    return int(np.sum(sent & ~imported))


def _oracle(cfg):
    """The oracle as label.py takes it; with field.oracle = "given" the field's keywords
    join the calculator's, and each label records the field of its frame."""
    o, fi = cfg["oracle"], cfg["field"]
    given = fi["oracle"] == "given"
    return {"calculator": o["calculator"],
            "kwargs": {**o["kwargs"], **fi["oracle_kwargs"]} if given else o["kwargs"],
            "name": o["name"] or o["calculator"], "field": given}


def _label_opts(cfg):
    o = cfg["oracle"]
    return {"timeout": o["timeout"], "retries": o["retries"], "batch": o["batch"] or None}


def labelled_sets(path):
    return (store.read(path, status="labelled", split="train"),
            store.read(path, status="labelled", split="valid"))


def stage_first_train(ctx, state):
    from mdsentry.train import get_backend

    cfg, tr = ctx.cfg, ctx.cfg["train"]
    workdir = os.path.join(cfg["workdir"], "iter.000", "train0")

    def fit(share=None, collect=False):
        train, valid = labelled_sets(ctx.store)
        if len(train) < 1:
            raise RuntimeError("no labelled training frames for the first committee "
                               "(all bootstrap labels failed?)")
        return get_backend(tr["backend"]).train_committee(
            train, valid, workdir, n_models=tr["models"], steps=tr["steps"],
            template=tr["template"], type_map=cfg["system"]["elements"], resume=True,
            progress=ctx.progress, jobs=tr["jobs"], device=tr["device"], share=share,
            collect=collect), valid

    def announce():
        train, valid = labelled_sets(ctx.store)
        ctx.say(f"first committee: training {tr['models']} {tr['backend']} models on "
                f"{len(train)} frames ({len(valid)} held out)")

    def work():
        if tr["init_models"]:
            ctx.say(f"first committee: {len(tr['init_models'])} given models")
            return {"version": 0, "models": tr["init_models"],
                    "checkpoints": tr["init_checkpoints"] or None, "rmse": None}
        # on several nodes rank 0 holds a share: it collects what train_shares trained
        res, valid = fit(collect=ctx.share is not None)
        committee = {"version": 0, "models": res.models, "checkpoints": res.checkpoints,
                     "rmse": _mean_rmse(res.rmse)}
        return {**committee, **_calibrate(ctx, committee, valid, workdir)}

    if not tr["init_models"]:
        on_root(ctx.comm, announce)
        train_shares(ctx, fit)
    state["committee"] = on_root(ctx.comm, work)
    if state["committee"]["rmse"]:
        state["history"].append({"iteration": -1, "model": 0, "n_train": None,
                                 "rmse": state["committee"]["rmse"], "accepted": True,
                                 "trained": {"version": 0,
                                             "models": state["committee"]["models"]}})
    return "explore"


def _mean_rmse(rmses):
    rmses = [r for r in rmses if r]
    if not rmses:
        return None
    out = {}
    for key in rmses[0]:
        vals = [r[key] for r in rmses if r.get(key) is not None]
        out[key] = float(np.mean(vals)) if vals else None
    return out


def _ensure_walker(ctx, state):
    """This rank's walker; after a kill every rank starts its walker from the state's
    restart files together (a collective on the world)."""
    from mdsentry.walkers import start_walkers

    if ctx.walker is None:
        ctx.walker = collective(ctx.comm, lambda: start_walkers(
            ctx.cfg, ctx.comm, state["committee"]["models"], state["starts"],
            state["committee"].get("thresholds")))
    return ctx.walker


def stage_explore(ctx, state):
    from mdsentry.explore import explore

    k = state["iteration"]
    walker = _ensure_walker(ctx, state)
    ctx.say(f"\n== iteration {k}: exploring with committee v{state['committee']['version']} "
            f"({len(ctx.cfg['explore']['temperatures'])} walkers x {ctx.cfg['explore']['steps']} "
            f"steps)")
    local = collective(ctx.comm, lambda: explore(walker, ctx.cfg, progress=ctx.progress))
    sub_root = walker.comm.Get_rank() == 0
    idle_barrier(ctx.comm)
    gathered = ctx.comm.gather(local if sub_root else None, root=0)

    def record():
        results = [g for g in gathered if g is not None]
        results.sort(key=lambda r: r[1]["walker"])
        stats = [s for _, s in results]
        existing = explored_ids(ctx.store, k)
        if len(existing):  # appended before a kill: the redone exploration is not stored twice
            ids = existing
        else:
            frames = [a for c, _ in results for a in c]
            ids = store.append(
                ctx.store, frames, source="md", split="candidate", iteration=k,
                walker=[a.info["walker"] for a in frames], step=[a.info["step"] for a in frames],
                temperature=[a.info["temperature"] for a in frames],
                max_devi=[a.info["max_devi"] for a in frames],
                model_version=state["committee"]["version"], efield=ctx.cfg["field"]["efield"])
        for (cands, s) in results:  # the store must hold every frame the fix counted
            expected = s["candidate"] + s["above"]
            if len(cands) != expected:
                raise RuntimeError(f"walker {s['walker']}: {len(cands)} frames for "
                                   f"{expected} counted by fix sentry")
        return stats, [int(i) for i in ids]

    stats, ids = on_root(ctx.comm, record)
    cfg = ctx.cfg
    converged = all(s["accurate"] >= cfg["loop"]["accurate_ratio"] and not s["halted"]
                    for s in stats)
    row = {"iteration": k, "model": state["committee"]["version"], "walkers": stats,
           "candidates": len(ids), "thresholds": list(walker.thresholds)}
    state["current"] = {"row": row, "candidate_ids": ids}
    for s in stats:
        halt = f", halted at step {s['halt_step']}" if s["halted"] else ""
        ctx.say(f"walker {s['walker']} ({s['temperature']:g} K): steps {s['start_step']}"
                f"->{s['end_step']}, accurate {100 * s['accurate']:.1f} %, "
                f"{s['candidate']} candidate / {s['above']} above-hi checks, "
                f"deviation median {s.get('median_devi', float('nan')):.3f} / max "
                f"{s['max_devi']:.3f} eV/A{halt}")
    if converged:
        return _finish(ctx, state, f"converged: every walker accurate >= "
                       f"{100 * cfg['loop']['accurate_ratio']:.1f} % without a halt")
    if k + 1 >= cfg["loop"]["max_iterations"]:
        return _finish(ctx, state, f"iteration budget spent ({cfg['loop']['max_iterations']})")
    if state["labels_used"] >= cfg["loop"]["max_labels"]:
        return _finish(ctx, state, f"label budget spent ({state['labels_used']} oracle calls)")
    return "select"


def explored_ids(path, k):
    """Store ids of the frames iteration k's exploration flagged."""
    t = store.table(path)
    return np.flatnonzero((t["source"] == "md") & (t["iteration"] == k))


def _finish(ctx, state, reason):
    state["history"].append(state["current"]["row"])
    state["current"] = {}
    state["done"] = reason
    return "done"


def stage_select(ctx, state):
    from mdsentry.select import random_choice, select

    cfg, cur = ctx.cfg, state["current"]

    def work():
        ids = cur["candidate_ids"]
        cands = store.read(ctx.store, ids=ids) if ids else []
        cands = [a for a in cands if a.info["status"] == "unlabelled"]
        budget = min(cfg["select"]["budget"], cfg["loop"]["max_labels"] - state["labels_used"])
        if cfg["select"]["method"] == "maxdet":
            picked = _select_maxdet(ctx, state, cands, budget)
        elif cfg["select"]["method"] == "random":
            picked = random_choice(len(cands), budget, cfg["explore"]["seed"] + state["iteration"])
        else:
            training = store.read(ctx.store, status="labelled")
            picked = select(cands, training, budget=budget,
                            min_distance=cfg["select"]["min_distance"],
                            score=[a.info["max_devi"] for a in cands],
                            cache=os.path.join(cfg["workdir"], "descriptors.npz"))
        chosen = [int(cands[p].info["id"]) for p in picked]
        # every n-th pick is held out, so the test set follows the explored space
        nth = int(round(1 / cfg["data"]["valid_fraction"])) if cfg["data"]["valid_fraction"] else 0
        valid = [i for n, i in enumerate(chosen) if nth and n % nth == nth - 1]
        picked_n = len(chosen)
        if cfg["select"]["cut_above"]:
            by_id = {int(a.info["id"]): a for a in cands}
            chosen, valid = _cut_selected(ctx, state, [by_id[i] for i in chosen], valid, budget)
        if chosen:
            store.set_split(ctx.store, [i for i in chosen if i not in valid], "train")
        if valid:
            store.set_split(ctx.store, valid, "valid")
        ctx.say(f"selected {picked_n} of {len(cands)} candidates by "
                f"{cfg['select']['method']} "
                f"({len(valid)} held out for validation)")
        return chosen

    cur["selected"] = on_root(ctx.comm, work)
    cur["row"]["selected"] = len(cur["selected"])
    return "label" if cur["selected"] else "next"


def _cut_selected(ctx, state, frames, valid, budget):
    """Frames of more than select.cut_above atoms are replaced by cut-out cells around
    their uncertain atoms (deviation >= the sentry's lo; ``cut.cut_centres``, ``cut.cut``),
    appended to the store with the parent's provenance and ``cut_from``; the parent's
    split becomes "cut" (never labelled itself).  Cells are training frames only (a
    held-out frame must be whole), and count against the label budget.  Cells cut before
    a stop are found again in the store, not cut twice.  Returns (ids to label, held out).
    """
    from mdsentry.cut import cut, cut_centres
    from mdsentry.train import get_backend
    from mdsentry.walkers import thresholds_of

    cfg, se = ctx.cfg, ctx.cfg["select"]
    lo = thresholds_of(cfg, state["committee"].get("thresholds"))[0]
    buffer = se["cut_buffer"]
    if not buffer and any(len(a) > se["cut_above"] for a in frames):
        buffer = get_backend(cfg["train"]["backend"]).receptive_field(
            state["committee"]["models"][0])
    t = store.table(ctx.store)
    out, held, n_cut, n_cells = [], [], 0, 0
    for atoms in frames:
        if len(out) >= budget:
            break
        pid = int(atoms.info["id"])
        if len(atoms) <= se["cut_above"]:
            out.append(pid)
            if pid in valid:
                held.append(pid)
            continue
        ids = [int(i) for i in np.flatnonzero(t["cut_from"] == pid)]
        if not ids:
            cells = [cut(atoms, [c], core=se["cut_core"], buffer=buffer, mode=se["cut_mode"],
                         charges=se["cut_charges"] or None)
                     for c in cut_centres(atoms, lo, se["cut_core"], se["cut_max"])]
            if not cells:  # no atom at lo (thresholds changed since): its most uncertain
                devi = atoms.arrays.get("devi")
                centre = 0 if devi is None or np.all(np.isnan(devi)) else int(np.nanargmax(devi))
                cells = [cut(atoms, [centre], core=se["cut_core"], buffer=buffer,
                             mode=se["cut_mode"], charges=se["cut_charges"] or None)]
            prov = {k: atoms.info[k] for k in ("iteration", "walker", "step", "temperature",
                                                "model_version", "efield")}
            ids = [int(i) for i in store.append(
                ctx.store, cells, **prov, source="cut", split="train", cut_from=pid,
                max_devi=[_core_max(c) for c in cells])]
        store.set_split(ctx.store, [pid], "cut")
        ids = ids[:budget - len(out)]
        out += ids
        n_cut += 1
        n_cells += len(ids)
    if n_cut:
        ctx.say(f"cut {n_cut} candidates of more than {se['cut_above']} atoms into {n_cells} "
                f"cells ({se['cut_mode']}, core {se['cut_core']} A, buffer {buffer:g} A)")
    return out, held


def _core_max(cell):
    devi = cell.arrays.get("devi")
    if devi is None or not np.any(np.isfinite(devi[cell.arrays["core"]])):
        return float("nan")
    return float(np.nanmax(devi[cell.arrays["core"]]))


def _select_maxdet(ctx, state, cands, budget):
    """select.maxdet on the leader's per-atom features of the candidates and of the
    training frames (the labelled frames of split "train"); candidates' uncertain atoms
    are those at or above the sentry's current lo."""
    from mdsentry.select import maxdet
    from mdsentry.train import get_backend, trained_atoms
    from mdsentry.walkers import thresholds_of

    cfg = ctx.cfg
    if not cands or budget <= 0:
        return []
    backend = get_backend(cfg["train"]["backend"])
    leader = state["committee"]["models"][0]
    train = store.read(ctx.store, status="labelled", split="train")
    # what the training set covers: every atom of a whole frame, the core of a cut cell
    cores = [trained_atoms(a) for a in train]
    tfeat = [f[c] for f, c in zip(backend.atom_features(leader, train), cores)] if train else []
    rows = np.concatenate(tfeat) if tfeat else np.zeros((0, 0))
    syms = np.concatenate([np.array(a.get_chemical_symbols())[c]
                           for a, c in zip(train, cores)]) if train else []
    lo = thresholds_of(cfg, state["committee"].get("thresholds"))[0]
    return maxdet(cands, backend.atom_features(leader, cands), rows, syms, budget, lo,
                  random_fraction=cfg["select"]["random_fraction"],
                  seed=cfg["explore"]["seed"] + state["iteration"],
                  max_atoms=cfg["select"]["max_atoms"])


def stage_label(ctx, state):
    from mdsentry.label import label_store

    cur, k = state["current"], state["iteration"]
    n_ok, n_bad = label_store(ctx.store, _oracle(ctx.cfg), os.path.join(ctx.iterdir(k), "label"),
                              ids=cur["selected"], comm=ctx.comm, progress=ctx.progress,
                              **_label_opts(ctx.cfg))

    def count():
        t = store.table(ctx.store)
        st = t["status"][cur["selected"]]
        ok = st == store.STATUS["labelled"]
        # atoms the oracle saw: the proxy for its cost (cut cells are smaller than frames)
        return (int(np.sum(ok)), int(np.sum(st == store.STATUS["failed"])),
                int(np.sum(t["natoms"][cur["selected"]][st != store.STATUS["unlabelled"]])))

    labelled, failed, atoms_sent = on_root(ctx.comm, count)
    state["labels_used"] = on_root(ctx.comm, lambda: oracle_calls(ctx.store))
    cur["row"].update(labelled=labelled, failed=failed, oracle_atoms=atoms_sent)
    ctx.say(f"labelled {labelled} frames with {_oracle(ctx.cfg)['name']}, {failed} failed "
            f"(recorded in the store, skipped)")
    return "train" if labelled else "next"


def train_shares(ctx, fit):
    """On a job of several nodes, the lowest rank of each node trains its share of the
    committee (``fit(share)``, on that node's cores and GPUs) while the other ranks wait;
    rank 0 then collects the members (``fit(collect=True)``: trains nothing, names a
    member left untrained).  On one node rank 0 trains them all in that call.  The run
    directory (store, members) must be on a file system the nodes share."""
    on_shares(ctx.comm, ctx.share, fit)


def stage_train(ctx, state):
    from mdsentry.train import get_backend

    cfg, tr, k = ctx.cfg, ctx.cfg["train"], state["iteration"]
    old = state["committee"]
    backend = get_backend(tr["backend"])

    def plan():
        train, valid = labelled_sets(ctx.store)
        warm = bool(tr["warm_start"] and old.get("checkpoints"))
        if warm and hasattr(backend, "warm_compatible"):
            why = backend.warm_compatible(old["checkpoints"][0], tr["template"],
                                          cfg["system"]["elements"])
            if why:
                ctx.say(f"committee v{old['version']} cannot warm-start train.template "
                        f"({why}): training from scratch")
                warm = False
        steps = (tr["warm_steps"] or tr["steps"]) if warm else tr["steps"]
        ctx.say(f"training {tr['models']} {tr['backend']} models on {len(train)} frames "
                f"({len(valid)} held out), {'warm-started' if warm else 'from scratch'}, "
                f"{steps} steps")
        return warm, steps

    warm, steps = on_root(ctx.comm, plan)

    def fit(share=None, collect=False):
        train, valid = labelled_sets(ctx.store)
        return backend.train_committee(
            train, valid, os.path.join(ctx.iterdir(k), "train"), n_models=tr["models"],
            steps=steps, template=tr["template"], init_models=old["checkpoints"] if warm else None,
            seeds=[1000 + 17 * m + 7919 * (k + 1) for m in range(tr["models"])],
            type_map=cfg["system"]["elements"], resume=True, progress=ctx.progress, jobs=tr["jobs"],
            device=tr["device"], share=share, collect=collect), train, valid

    train_shares(ctx, fit)

    def work():
        # on several nodes rank 0 holds a share: it collects what train_shares trained
        res, train, valid = fit(collect=ctx.share is not None)
        return {"version": old["version"] + 1, "models": res.models,
                "checkpoints": res.checkpoints, "rmse": _mean_rmse(res.rmse),
                "n_train": len(train), "n_valid": len(valid)}

    state["trained"] = on_root(ctx.comm, work)
    return "validate"


def stage_validate(ctx, state):
    """Keep the old committee if the new one is worse on the held-out frames."""
    from mdsentry.train import get_backend

    cfg, k = ctx.cfg, state["iteration"]
    old, new = state["committee"], state["trained"]

    def work():
        backend = get_backend(cfg["train"]["backend"])
        _, valid = labelled_sets(ctx.store)
        old_rmse = _mean_rmse([backend.evaluate(m, valid) for m in old["models"]]) if valid \
            else None
        new_rmse = new["rmse"]
        tol = cfg["loop"]["accept_tolerance"]
        accepted = old_rmse is None or new_rmse is None or \
            new_rmse["f"] <= old_rmse["f"] * (1 + tol)
        # the accepted committee's predictions serve the parity plot (its leader, the
        # member that drives MD) and its calibration; a rejected one keeps its own
        preds = [backend.predict(m, valid) for m in
                 (new["models"] if accepted else old["models"][:1])] if valid else []
        if valid:
            _save_parity(os.path.join(ctx.iterdir(k), "parity.npz"), valid, preds[0])
        cal = _calibrate(ctx, new, valid, ctx.iterdir(k), preds) if accepted else {}
        return old_rmse, accepted, cal

    old_rmse, accepted, cal = on_root(ctx.comm, work)
    row = state["current"]["row"]
    row.update(rmse=new["rmse"], rmse_old=old_rmse, accepted=accepted, n_train=new["n_train"],
               trained={"version": new["version"], "models": new["models"]})
    fmt = _fmt_rmse
    if accepted:
        ctx.say(f"new committee v{new['version']} accepted: held-out {fmt(new['rmse'])} "
                f"(previous {fmt(old_rmse)})")
        state["committee"] = {**{k2: new[k2] for k2 in ("version", "models", "checkpoints",
                                                        "rmse")}, **cal}
    else:
        ctx.say(f"new committee REJECTED, keeping v{old['version']}: held-out "
                f"{fmt(new['rmse'])} is worse than {fmt(old_rmse)}")
    state["trained"] = None
    return "swap"


def _calibrate(ctx, committee, valid, outdir, preds=None):
    """The committee's calibration on the held-out frames (calibration.py): per-element
    quantiles of |leader force error| / deviation, written with its plot to ``outdir``,
    and the sentry thresholds for ``explore.lo_error``/``hi_error``.  Returns the
    committee's keys "calibration" and "thresholds" (absent where there is nothing to
    calibrate on; the thresholds are then explore.lo/hi).  ``preds``: the members'
    predictions on ``valid`` when already made.  On the root rank."""
    from mdsentry import calibration
    from mdsentry.train import get_backend

    ex = ctx.cfg["explore"]
    if not valid:
        if ex["lo_error"] is not None:
            ctx.say(f"committee v{committee['version']}: no held-out frames to calibrate on, "
                    f"sentry thresholds stay explore.lo/hi = {ex['lo']}/{ex['hi']} eV/A")
        return {}
    if preds is None:
        backend = get_backend(ctx.cfg["train"]["backend"])
        preds = [backend.predict(m, valid) for m in committee["models"]]
    cal, sigma, error, symbols = calibration.from_predictions(valid, preds, ex["coverage"])
    calibration.save(os.path.join(outdir, "calibration.json"), cal)
    calibration.plot(sigma, error, symbols, cal, os.path.join(outdir, "calibration.png"))
    stored = {k: v for k, v in calibration.jsonable(cal).items()
              if k in ("coverage", "n", "quantile")}
    qs = ", ".join(f"{el} {q:.2f}" for el, q in cal["quantile"].items())
    ctx.say(f"committee v{committee['version']} calibration ({100 * cal['coverage']:.0f} % of "
            f"held-out atoms within q * deviation): q = {qs}")
    out = {"calibration": stored}
    if ex["lo_error"] is not None:
        # the elements of the held-out frames (a type-map element absent from the
        # system would otherwise block the thresholds for good)
        th = calibration.thresholds(cal, ex["lo_error"], ex["hi_error"], sorted(set(symbols)))
        if th is None:
            ctx.say("too few held-out atoms of an element for the calibrated thresholds: "
                    f"sentry thresholds stay explore.lo/hi = {ex['lo']}/{ex['hi']} eV/A")
        else:
            out["thresholds"] = [float(th[0]), float(th[1])]
            ctx.say(f"sentry thresholds for force errors {ex['lo_error']}/{ex['hi_error']} "
                    f"eV/A: lo = {th[0]:.4f}, hi = {th[1]:.4f} eV/A")
    return out


def _fmt_rmse(r):
    if not r:
        return "n/a"
    return f"E {1000 * r['e_per_atom']:.2f} meV/atom, F {1000 * r['f']:.1f} meV/A"


def _save_parity(path, frames, pred):
    from mdsentry.frames import labels

    os.makedirs(os.path.dirname(path), exist_ok=True)
    ref = [labels(a) for a in frames]
    n = np.array([len(a) for a in frames])
    np.savez(path + ".part.npz",
             e_ref=np.array([r[0] for r in ref]) / n, e_pred=np.array([p[0] for p in pred]) / n,
             f_ref=np.concatenate([r[1] for r in ref]).ravel(),
             f_pred=np.concatenate([p[1] for p in pred]).ravel())
    os.replace(path + ".part.npz", path)


def stage_swap(ctx, state):
    """The accepted committee into every walker: hot swap, or rewind of a halted walker
    (``explore.after_halt = "rewind"``); see ``walkers.install_committee``."""
    from mdsentry.walkers import install_committee

    row = state["current"]["row"]
    halted = {s["walker"]: s["halted"] for s in row["walkers"]}
    t0 = time.perf_counter()
    ctx.walker, local = collective(ctx.comm, lambda: install_committee(
        ctx.cfg, ctx.comm, ctx.walker, state["committee"]["models"], state["starts"], halted,
        row.get("accepted"), state["iteration"], state["committee"].get("thresholds")))
    wall = time.perf_counter() - t0
    gathered = [g for g in ctx.comm.allgather(
        (ctx.walker.index, local) if ctx.walker.comm.Get_rank() == 0 else None) if g is not None]
    for index, (_, restart, _, _) in gathered:
        state["starts"][index] = restart
    row["swap_seconds"] = max(seconds for _, (_, _, seconds, _) in gathered)
    row["swap_kept"] = {str(index): exact for index, (_, _, _, exact) in gathered if exact}
    hows = sorted({how for _, (how, _, _, _) in gathered})
    ctx.say(f"walkers {', '.join(hows)} with committee v{state['committee']['version']} "
            f"(swap {row['swap_seconds']:.3f} s, stage {wall:.2f} s)")
    return "next"


def stage_next(ctx, state):
    state["history"].append(state["current"]["row"])
    state["current"] = {}
    state["iteration"] += 1
    return "explore"


STAGES = {"import": stage_import, "bootstrap": stage_bootstrap, "first_train": stage_first_train,
          "explore": stage_explore, "select": stage_select, "label": stage_label,
          "train": stage_train, "validate": stage_validate, "swap": stage_swap,
          "next": stage_next}


# ---------------------------------------------------------------- extend
def extendable(cfg, state):
    """A run that stopped on a budget the config now raises goes on; a converged one stays."""
    reason = state.get("done") or ""
    return reason.startswith(("iteration budget", "label budget")) and \
        state["iteration"] + 1 < cfg["loop"]["max_iterations"] and \
        state["labels_used"] < cfg["loop"]["max_labels"]


def reopen(ctx, state):
    """Back to the last exploration's candidates (still in the store), at "select"."""
    k = state["iteration"]
    row = state["history"].pop()
    if row.get("iteration") != k or "walkers" not in row:
        raise StageError(f"{ctx.cfg['workdir']}: the last history row is not iteration {k}'s "
                         f"exploration; cannot extend this run")
    ids = explored_ids(ctx.store, k)
    ctx.say(f"extending {ctx.cfg['workdir']} (it stopped on: {state['done']}): "
            f"iteration {k}'s {len(ids)} candidates go to selection; budgets now "
            f"{ctx.cfg['loop']['max_iterations']} iterations, {ctx.cfg['loop']['max_labels']} "
            f"oracle calls")
    state["current"] = {"row": row, "candidate_ids": [int(i) for i in ids]}
    state["done"] = None
    state["stage"] = "select"
    save_state(ctx.cfg["workdir"], state)


# ------------------------------------------------------------------- run
def run(config, comm=None, progress=True, stop_after=None, out=None):
    """Run (or resume) the loop of ``config`` (a path or a validated dict); collective.

    ``stop_after``: a stage name to stop after (for tests and step-by-step use).
    Returns the final state (on every rank).
    """
    from mpi4py import MPI

    from mdsentry.config import load

    cfg = load(config) if isinstance(config, (str, os.PathLike)) else config
    comm = comm or MPI.COMM_WORLD
    from mdsentry.placement import place
    from mdsentry.train import set_thread_env

    set_thread_env(cfg["train"]["backend"])  # the walkers' ML pair styles: one thread per rank
    # each rank's GPU (or none) before any LAMMPS or torch touches CUDA; a problem is
    # the same on every rank (place gathers them), so every rank ends cleanly with it
    try:
        place(cfg, comm)
    except RuntimeError as exc:
        raise StageError(str(exc)) from None
    n_walkers = len(cfg["explore"]["temperatures"])
    if comm.Get_size() % n_walkers:
        raise StageError(f"{comm.Get_size()} MPI ranks cannot run {n_walkers} walkers "
                         f"(explore.temperatures): use a multiple of {n_walkers} ranks")
    from mdsentry.placement import node_name, node_shares

    ctx = Context(cfg=cfg, comm=comm, progress=progress and comm.Get_rank() == 0,
                  out=out or sys.stdout,
                  share=node_shares(comm.allgather(node_name()))[comm.Get_rank()])

    def start():
        os.makedirs(cfg["workdir"], exist_ok=True)
        state = load_state(cfg["workdir"])
        if state is None:
            state = new_state(cfg)
            save_state(cfg["workdir"], state)
        elif state["stage"] != "done":
            ctx.say(f"resuming {cfg['workdir']} at iteration {state['iteration']}, "
                    f"stage {state['stage']}")
        elif extendable(cfg, state):
            reopen(ctx, state)
        if len(state["starts"]) != n_walkers:
            raise StageError(f"{cfg['workdir']} was run with {len(state['starts'])} walkers; "
                             f"explore.temperatures now has {n_walkers}: start a new workdir "
                             f"(data.initial can import its store)")
        with open(os.path.join(cfg["workdir"], "config.json"), "w") as fh:
            json.dump(cfg, fh, indent=1)
        return state

    state = on_root(comm, start)
    from mdsentry.logs import libraries_to

    libraries_to(os.path.join(cfg["workdir"], "mdsentry.log"))
    try:
        while state["stage"] != "done":
            stage = state["stage"]
            t0 = time.perf_counter()
            state["stage"] = STAGES[stage](ctx, state)
            # wall time per stage in the iteration's row (summed over a resumed stage's runs)
            row = state.get("current", {}).get("row")
            if row is not None:
                seconds = row.setdefault("seconds", {})
                seconds[stage] = round(seconds.get(stage, 0.0) + time.perf_counter() - t0, 3)
            state = on_root(comm, lambda: (save_state(cfg["workdir"], state), state)[1])
            if stage == stop_after:
                break
    finally:
        if ctx.walker is not None:
            ctx.walker.close()
            ctx.walker = None
    if state["stage"] == "done" and ctx.root:
        from mdsentry.report import summary

        ctx.say("\n" + summary(state))
        ctx.say(f"finished: {state['done']}")
    return state
