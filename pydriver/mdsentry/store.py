"""The frame store: one append-only HDF5 file per project.

Every frame the loop sees -- imported training data, MD candidates, labels,
labelling failures -- lives here with its provenance.  Frames have any number
of atoms: per-atom arrays are concatenated and indexed by ``offset``/``natoms``.

Crash safety: the file uses HDF5's default (earliest) format, is opened, written,
flushed and closed for every operation, and existing rows are only ever filled
in (labels), never moved.  The attributes ``n_frames``/``n_atoms`` are the commit
record: an append writes and flushes its rows first and bumps them last, so rows
of an interrupted append are invisible and overwritten by the next one.  A SIGKILL between operations leaves a file that opens
with every frame written before it (tests/test_store.py kills writers at random
moments); the newer SWMR format is avoided because a killed SWMR writer leaves
the file locked until ``h5clear``.  Only one process (the driver's rank 0) writes.

Layout (N frames, A atoms in all):
  frames/natoms, offset, cell (N,3,3), pbc (N,3), energy, stress (N,6, Voigt, ASE sign),
         iteration, walker, step, temperature, model_version, max_devi, status,
         oracle, error, source, split, efield (N,3: the field the frame was explored in,
         V/A), label_efield (N,3: the field its label was computed in), cut_from (the
         frame a cut-out cell was cut from, -1 for whole frames)
  atoms/numbers, positions (A,3), forces (A,3), devi (A), core (A: False for the
         buffer atoms of a cut-out cell, whose forces are not trained)
Unlabelled energies/forces/stress are NaN.  The energy and stress of a cut-out cell
are those of an artificial cell (vacuum or a small periodic box around the cut): they
are kept as labelled but never trained.
"""

import os
from contextlib import contextmanager

import h5py
import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from mdsentry.frames import labels as frame_labels

FORMAT = "mdsentry-store"
VERSION = 1
STATUS = {"unlabelled": 0, "labelled": 1, "failed": 2}
STATUS_NAME = {v: k for k, v in STATUS.items()}

# Fixed-length strings on purpose: variable-length ones live in HDF5's global
# heap, and rows of an interrupted append would then point at heap objects that
# the next writer cannot free ("bad heap index").  Longer text is truncated.
_STR = "S128"
_LONGSTR = "S512"
_STRINGS = (_STR, _LONGSTR)
# name: (dtype, trailing shape, fill)
FRAME_FIELDS = {
    "natoms": ("i4", (), 0), "offset": ("i8", (), 0), "cell": ("f8", (3, 3), 0.0),
    "pbc": ("b1", (3,), False), "energy": ("f8", (), np.nan), "stress": ("f8", (6,), np.nan),
    "iteration": ("i4", (), -1), "walker": ("i4", (), -1), "step": ("i8", (), -1),
    "temperature": ("f8", (), np.nan), "model_version": ("i4", (), -1),
    "max_devi": ("f8", (), np.nan), "status": ("i1", (), 0), "oracle": (_STR, (), ""),
    "error": (_LONGSTR, (), ""), "source": (_STR, (), ""), "split": (_STR, (), "train"),
    "efield": ("f8", (3,), 0.0), "label_efield": ("f8", (3,), 0.0), "cut_from": ("i8", (), -1),
}
ATOM_FIELDS = {
    "numbers": ("i2", (), 0), "positions": ("f8", (3,), 0.0), "forces": ("f8", (3,), np.nan),
    "devi": ("f8", (), np.nan), "core": ("b1", (), True),
}
# fields added after stores were first written: created (filled) when an older store opens
_ADDED = {"frames": ("efield", "label_efield", "cut_from"), "atoms": ("core",)}
PROVENANCE = ("iteration", "walker", "step", "temperature", "model_version", "max_devi",
              "source", "split", "efield", "cut_from")


class StoreError(RuntimeError):
    pass


@contextmanager
def _open(path, mode):
    if mode == "r" and not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such mdsentry store")
    try:
        f = h5py.File(path, mode)
    except (OSError, ValueError) as exc:
        raise StoreError(f"{path}: not a readable mdsentry store ({exc})") from exc
    try:
        if f.attrs.get("format") != FORMAT and mode != "w":
            raise StoreError(f"{path}: not an mdsentry store (format attribute missing)")
        if mode == "a":
            _upgrade(f)
        yield f
        f.flush()
    finally:
        f.close()


def create(path):
    """A new empty store (an existing file is an error: stores are never overwritten)."""
    if os.path.exists(path):
        raise StoreError(f"{path} exists; open it instead of creating it")
    with _open(path, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["version"] = VERSION
        f.attrs["n_frames"] = 0
        f.attrs["n_atoms"] = 0
        for group, fields in (("frames", FRAME_FIELDS), ("atoms", ATOM_FIELDS)):
            g = f.create_group(group)
            for name in fields:
                _create_field(g, name, fields, 0)
    return path


def _create_field(g, name, fields, rows):
    dtype, shape, fill = fields[name]
    chunk = 4096 if g.name == "/atoms" else 256
    g.create_dataset(name, shape=(rows, *shape), maxshape=(None, *shape),
                     chunks=(chunk, *shape), dtype=dtype,
                     fillvalue=_enc(fill, dtype) if dtype in _STRINGS else fill)


def _upgrade(f):
    """Give a store written before a field existed that field, filled with its default
    (frames of older runs were explored and labelled without a field)."""
    for group, fields in (("frames", FRAME_FIELDS), ("atoms", ATOM_FIELDS)):
        rows = f[group][next(iter(fields))].shape[0]
        for name in _ADDED[group]:
            if name not in f[group]:
                _create_field(f[group], name, fields, rows)


def _enc(text, dtype=_STR):
    size = int(dtype[1:])
    return str(text).encode("utf-8")[:size]


def count(path) -> int:
    with _open(path, "r") as f:
        return int(f.attrs["n_frames"])


def _resize(ds, n):
    # exact size: also drops rows an interrupted append left behind
    ds.resize((n, *ds.shape[1:]))


def append(path, frames, **provenance) -> np.ndarray:
    """Append frames (ASE Atoms); returns their ids (row numbers).

    Keyword provenance (scalars or one value per frame): iteration, walker, step,
    temperature, model_version, max_devi, source, split.  Per-atom deviation is
    taken from ``atoms.arrays['devi']`` when present; labels from ``atoms.calc``.
    """
    unknown = set(provenance) - set(PROVENANCE)
    if unknown:
        raise ValueError(f"unknown provenance {sorted(unknown)}; known: {PROVENANCE}")
    frames = list(frames)
    if not frames:
        return np.zeros(0, dtype=int)
    n = len(frames)
    natoms = np.array([len(a) for a in frames])
    with _open(path, "a") as f:
        fr, at = f["frames"], f["atoms"]
        start, a0 = int(f.attrs["n_frames"]), int(f.attrs["n_atoms"])
        offsets = a0 + np.concatenate([[0], np.cumsum(natoms)[:-1]])
        total = int(natoms.sum())
        for name in ATOM_FIELDS:
            _resize(at[name], a0 + total)
        at["numbers"][a0:] = np.concatenate([a.numbers for a in frames])
        at["positions"][a0:] = np.concatenate([a.positions for a in frames])
        at["devi"][a0:] = np.concatenate([a.arrays.get("devi", np.full(len(a), np.nan))
                                          for a in frames])
        at["core"][a0:] = np.concatenate([a.arrays.get("core", np.ones(len(a), bool))
                                          for a in frames])
        labels = [frame_labels(a) for a in frames]
        at["forces"][a0:] = np.concatenate(
            [lab[1] if lab[1] is not None else np.full((len(a), 3), np.nan)
             for a, lab in zip(frames, labels)])
        values = {
            "natoms": natoms, "offset": offsets,
            "cell": np.array([a.cell.array for a in frames]),
            "pbc": np.array([a.pbc for a in frames]),
            "energy": np.array([lab[0] for lab in labels]),
            "stress": np.array([lab[2] if lab[2] is not None else np.full(6, np.nan)
                                for lab in labels]),
            "status": np.array([STATUS["labelled"] if lab[1] is not None else 0
                                for lab in labels]),
        }
        for key, value in provenance.items():
            if key in ("source", "split"):
                value = [_enc(v) for v in np.broadcast_to(np.asarray(value, dtype=object), (n,))]
            shape = FRAME_FIELDS[key][1]
            values[key] = np.broadcast_to(np.asarray(value, dtype=None), (n, *shape))
        for name, (dtype, shape, fill) in FRAME_FIELDS.items():
            ds = fr[name]
            _resize(ds, start + n)
            if name in values:
                ds[start:] = values[name]
            else:
                ds[start:] = _enc(fill, dtype) if dtype in _STRINGS else fill
        f.flush()
        f.attrs["n_atoms"] = a0 + total  # the commit: rows above were written and flushed
        f.attrs["n_frames"] = start + n
    return np.arange(start, start + n)


def _check_ids(f, ids):
    ids = np.atleast_1d(ids)
    n = int(f.attrs["n_frames"])
    if ids.size and (ids.min() < 0 or ids.max() >= n):
        raise IndexError(f"frame ids must be in [0, {n})")
    return ids


def set_labels(path, ids, energies, forces, stresses=None, oracle="", label_efield=None):
    """Record labels for frames ``ids`` (forces: one (natoms, 3) array per frame);
    ``label_efield``: one field (V/A) per frame that the oracle labelled in (default 0)."""
    with _open(path, "a") as f:
        fr, at = f["frames"], f["atoms"]
        ids = _check_ids(f, ids)
        for k, i in enumerate(ids):
            off, n = int(fr["offset"][i]), int(fr["natoms"][i])
            fk = np.asarray(forces[k], dtype=float)
            if fk.shape != (n, 3):
                raise ValueError(f"frame {i}: forces of shape {fk.shape}, expected {(n, 3)}")
            at["forces"][off:off + n] = fk
            fr["stress"][i] = stresses[k] if stresses is not None else np.full(6, np.nan)
            fr["oracle"][i] = _enc(oracle)
            fr["error"][i] = b""
            fr["energy"][i] = energies[k]
            fr["label_efield"][i] = label_efield[k] if label_efield is not None else (0.0,) * 3
        f.flush()
        for i in ids:
            fr["status"][i] = STATUS["labelled"]  # last: the rows are complete


def set_failed(path, ids, error, oracle=""):
    """Record that labelling failed for frames ``ids`` (they are skipped, not retried)."""
    with _open(path, "a") as f:
        fr = f["frames"]
        for i in _check_ids(f, ids):
            fr["oracle"][i] = _enc(oracle)
            fr["error"][i] = _enc(error, _LONGSTR)
            fr["status"][i] = STATUS["failed"]


def set_split(path, ids, split):
    """Assign frames to a split ("train", "valid", "candidate", ...)."""
    with _open(path, "a") as f:
        fr = f["frames"]
        for i in _check_ids(f, ids):
            fr["split"][i] = _enc(split)


def table(path) -> dict:
    """Per-frame provenance and status as numpy arrays (strings decoded)."""
    with _open(path, "r") as f:
        out = {}
        n = int(f.attrs["n_frames"])
        for name in FRAME_FIELDS:
            if name not in f["frames"]:  # an older store, opened read-only: the default
                dtype, shape, fill = FRAME_FIELDS[name]
                out[name] = np.full((n, *shape), fill, dtype=dtype)
                continue
            data = f["frames"][name][:n]
            if FRAME_FIELDS[name][0] in _STRINGS:
                data = np.array([x.decode("utf-8", "replace") for x in data], dtype=object)
            out[name] = data
        return out


def read(path, ids=None, status=None, split=None) -> list:
    """Frames as ASE Atoms with labels (SinglePointCalculator) and provenance in info.

    ``status``: "labelled", "unlabelled" or "failed" to select; ``split``: "train", ...
    """
    t = table(path)
    sel = np.arange(len(t["natoms"])) if ids is None else np.atleast_1d(ids)
    if status is not None:
        sel = sel[t["status"][sel] == STATUS[status]]
    if split is not None:
        sel = sel[t["split"][sel] == split]
    frames = []
    with _open(path, "r") as f:
        at = f["atoms"]
        for i in sel:
            off, n = int(t["offset"][i]), int(t["natoms"][i])
            atoms = Atoms(numbers=at["numbers"][off:off + n], positions=at["positions"][off:off + n],
                          cell=t["cell"][i], pbc=t["pbc"][i])
            devi = at["devi"][off:off + n]
            if not np.all(np.isnan(devi)):
                atoms.arrays["devi"] = devi
            if t["cut_from"][i] >= 0 and "core" in at:
                atoms.arrays["core"] = at["core"][off:off + n].astype(bool)
            if t["status"][i] == STATUS["labelled"]:
                stress = t["stress"][i]
                atoms.calc = SinglePointCalculator(
                    atoms, energy=float(t["energy"][i]), forces=at["forces"][off:off + n],
                    stress=None if np.any(np.isnan(stress)) else stress)
            atoms.info.update({k: (t[k][i].item() if np.ndim(t[k][i]) == 0 and
                                   hasattr(t[k][i], "item") else t[k][i])
                               for k in PROVENANCE})
            atoms.info["label_efield"] = t["label_efield"][i]
            atoms.info.update(id=int(i), status=STATUS_NAME[int(t["status"][i])],
                              oracle=t["oracle"][i], error=t["error"][i])
            frames.append(atoms)
    return frames


def load_frames(path, index=":") -> list:
    """Labelled frames from any data source: a store (.h5: its labelled frames) or what
    ``frames.read_frames`` reads (extxyz and other ASE formats, deepmd npy dirs)."""
    from mdsentry.frames import read_frames

    if str(path).endswith((".h5", ".hdf5")):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no such store: {path}")
        frames = read(str(path), status="labelled")
        return frames if index == ":" else frames[_slice(index)]
    return read_frames(path, index=index)


def _slice(index):
    if isinstance(index, int):
        return slice(index, index + 1)
    return slice(*[int(p) if p else None for p in str(index).split(":")])


def import_frames(path, source_file, split="train") -> np.ndarray:
    """Add existing labelled data (extxyz or any ASE format, deepmd npy dirs) to the store."""
    from mdsentry.frames import read_frames

    frames = read_frames(source_file)
    if not os.path.exists(path):
        create(path)
    return append(path, frames, source=f"import:{os.path.basename(str(source_file))}",
                  split=split)


def export(path, out, status="labelled"):
    """Write frames of the store as one extxyz file (a training backend writes its own
    format from these frames: ``train.get_backend(name).write_data``)."""
    from ase.io import write

    write(str(out), read(path, status=status), format="extxyz", parallel=False)
    return str(out)
