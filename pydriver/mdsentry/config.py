"""The run configuration: a TOML file, checked in full before anything runs.

Every problem is reported at once, with the key it concerns, e.g.::

    run.toml: explore.lo = 0.3 must be below explore.hi = 0.2
    run.toml: unknown key 'explore.temprature' (did you mean 'temperatures'?)

Paths are relative to the config file.  ``load`` returns a plain nested dict
with every default filled in; ``DEFAULTS`` documents the schema.
"""

import copy
import difflib
import os
import re

# section -> key -> default (None: required or optional without default)
DEFAULTS = {
    "workdir": "mdsentry-run",
    "system": {
        "structure": None,        # any ASE-readable structure (first frame) or LAMMPS data file
        "elements": None,         # LAMMPS type order; default: elements of the structure by Z
    },
    "explore": {
        "deck": None,             # LAMMPS commands for the MD: fixes, timestep, thermo
        "temperatures": [300.0],  # one walker per entry; ${temp} in the deck
        "steps": 2000,            # MD steps per walker and iteration
        "chunk": 500,             # steps between candidate collections
        "every": 10,              # deviation check interval (steps)
        "lo": 0.05,               # eV/A: candidate threshold
        "hi": 0.25,               # eV/A: halt threshold
        "lo_error": None,         # eV/A: lo as a force error, turned into a deviation
        "hi_error": None,         #   threshold for each committee by its calibration
        "coverage": 0.9,          # probability of the calibrated error bound
        "after_halt": "continue",  # or "rewind" to the last trusted snapshot
        "bias": 0.0,              # eV: strength A of the uncertainty-seeking bias
                                  # A [exp(-sigma_E^2/B^2) - 1] (0: off; pair_committee.rst)
        "bias_width": 0.002,      # eV/atom: its width B in the members' energy deviation
                                  # (about that of trusted frames; compute pair's element 4)
        "seed": 12345,            # velocity seeds: seed + walker
        "timestep": 0.001,        # ps
        "device": "auto",         # auto, cpu or cuda: the walkers' ML styles (placement.py)
        "lammps_args": [],        # accelerator arguments, e.g. ["-k", "on", "g", "1", "-sf", "kk"]
    },
    "oracle": {
        "calculator": "emt",      # "emt", "chgnet" or "module:factory" returning an ASE calculator
        "kwargs": {},
        "name": "",
        "timeout": 3600.0,        # seconds per frame
        "retries": 1,
        "batch": 0,               # frames per oracle process (0: automatic)
    },
    "data": {
        "initial": [],            # labelled frames: extxyz / deepmd npy dirs / store .h5
        "bootstrap": 0,           # frames made from the structure by rattling and strain
        "rattle": 0.05,           # A (standard deviation)
        "strain": 0.02,           # max relative cell strain
        "valid_fraction": 0.2,    # share of labelled frames held out for validation
    },
    "select": {
        "budget": 20,             # frames labelled per iteration at most
        "min_distance": 0.05,     # near-duplicate threshold (relative descriptor distance)
        "method": "fps",          # or "maxdet": per-atom model features (select.maxdet),
                                  # or "random": uniform among the candidates
        "random_fraction": 0.2,   # maxdet: share of the budget drawn at random
        "max_atoms": 64,          # maxdet: uncertain atoms per candidate at most
        "cut_above": 0,           # candidates with more atoms are labelled as cut-out cells
                                  # around their uncertain atoms (0: never; cut.py)
        "cut_mode": "cluster",    # cluster (vacuum around) or cell (periodic cube)
        "cut_core": 3.0,          # A: atoms this close to a centre are the trained core
        "cut_buffer": 0.0,        # A beyond the core (0: the committee's receptive field)
        "cut_max": 4,             # cut cells per candidate at most
        "cut_charges": {},        # formal charge per element for neutral cells ({}: as cut)
    },
    "train": {
        "backend": "deepmd",
        "models": 4,
        "steps": 2000,            # training steps of the first committee
        "warm_steps": 0,          # steps of warm-started retraining (0: same as steps)
        "template": "",           # "": the backend's first shipped template
        "device": "auto",         # auto, cpu or cuda: where the members train
        "warm_start": True,
        "init_models": [],        # frozen models: the first committee, no initial training
        "init_checkpoints": [],   # their checkpoints, to warm-start iteration 1 from
        "jobs": 0,                # members trained at once (0: one per core)
    },
    "field": {                    # an electric field in the exploration (fix qeq/field)
        "efield": [0.0, 0.0, 0.0],  # V/A: ${ex} ${ey} ${ez} in the deck, stored with frames
        "oracle": "zero",         # "zero": labels at zero field (fix qeq/field adds the
                                  # response on top of the zero-field potential);
                                  # "given": oracle.kwargs + field.oracle_kwargs carry it
        "oracle_kwargs": {},      # e.g. VASP {efield = 0.03, idipol = 3, ldipol = true}
    },
    "loop": {
        "max_iterations": 5,
        "max_labels": 1000,       # oracle calls in all
        "accurate_ratio": 0.95,   # converged when every walker is trusted this often
        "accept_tolerance": 0.0,  # a new committee may be this much worse (relative)
    },
}

# tables whose keys are the user's (passed on, not checked)
_FREE = {"oracle.kwargs", "field.oracle_kwargs", "select.cut_charges"}
_CHOICES = {("explore", "after_halt"): ("continue", "rewind"),
            ("field", "oracle"): ("zero", "given"),
            ("train", "device"): ("auto", "cpu", "cuda"),
            ("explore", "device"): ("auto", "cpu", "cuda"),
            ("select", "method"): ("fps", "maxdet", "random"),
            ("select", "cut_mode"): ("cluster", "cell")}
_FORBIDDEN_IN_DECK = re.compile(
    r"^\s*(pair_style|pair_coeff|read_data|read_restart|create_box|run|minimize|clear|units|"
    r"atom_style|fix\s+\S+\s+\S+\s+sentry)\b", re.M)


def accelerator_problems(args):
    """What is wrong with explore.lammps_args: accelerators this LAMMPS was not built
    with (-k on needs KOKKOS, -sf omp OPENMP, ...)."""
    from mdsentry.placement import accelerator_packages

    if not args:
        return []
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        return [f"explore.lammps_args = {args!r} must be a list of strings"]
    try:
        need = accelerator_packages(args)
    except ValueError as exc:
        return [f"explore.lammps_args: {exc}"]
    if not need:
        return []
    from mpi4py import MPI

    from mdsentry.lmp import lammps

    lmp = lammps(comm=MPI.COMM_SELF)
    have = set(lmp.installed_packages)
    lmp.close()
    missing = [p for p in need if p not in have]
    return [f"explore.lammps_args {' '.join(args)} need LAMMPS package(s) {missing}, which "
            f"this LAMMPS was not built with (see docs/install.md: build against your own "
            f"LAMMPS)"] if missing else []


def deck_problems(text, name):
    """What a deck of the user's MD commands may not contain: mdsentry writes the system
    (units metal, atom_style atomic, the structure, the committee, the sentry) and runs."""
    problems = []
    for m in _FORBIDDEN_IN_DECK.finditer(text):
        word = m.group(1).split()[0]
        why = " (mdsentry runs in units metal with atom_style atomic, the units of the " \
              "ML potentials it trains)" if word in ("units", "atom_style") else ""
        problems.append(f"{name}: '{m.group(1)}' is set by mdsentry, not by the deck{why}")
    return problems


_QEQ_FIELD = re.compile(r"^\s*fix\s+\S+\s+\S+\s+qeq/field\b(.*)$", re.M)
_FIELD_VARS = re.compile(r"\befield\s+\$\{ex\}\s+\$\{ey\}\s+\$\{ez\}")


def field_problems(deck, efield, oracle="zero"):
    """The field must be applied once, and be the one the frames are stored with.
    Labels at zero field: the deck's fix qeq/field adds the field (read from field.efield
    as ${ex} ${ey} ${ez}).  Labels in the field (oracle "given"): the committee learns
    it, and a fix qeq/field would add it a second time."""
    fixes = [m.group(0) for m in _QEQ_FIELD.finditer(deck.replace("&\n", " "))]
    if fixes and oracle == "given":
        return ["explore.deck has fix qeq/field but field.oracle = 'given': the labels "
                "contain the field, so the committee carries it and the fix would add it "
                "twice (use field.oracle = 'zero' with the fix, or drop the fix)"]
    if any(not _FIELD_VARS.search(f) for f in fixes):
        return ["explore.deck: fix qeq/field must take its field from field.efield: write "
                "'efield ${ex} ${ey} ${ez}' (so that the stored frames record the field)"]
    if not fixes and oracle == "zero" and any(e != 0.0 for e in efield):
        return [f"field.efield = {efield} with labels at zero field, but explore.deck has "
                f"no fix qeq/field to apply it"]
    return []


class ConfigError(ValueError):
    pass


def _typecheck(default, value):
    if default is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, type(default))


def _merge(defaults, given, prefix, problems):
    out = copy.deepcopy(defaults)
    for key, value in given.items():
        name = f"{prefix}{key}"
        if key not in defaults:
            near = difflib.get_close_matches(key, list(defaults), n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            problems.append(f"unknown key '{name}'{hint}")
            continue
        if isinstance(defaults[key], dict) and name not in _FREE:
            if not isinstance(value, dict):
                problems.append(f"'{name}' must be a table ([{name}])")
                continue
            out[key] = _merge(defaults[key], value, name + ".", problems)
            continue
        if not _typecheck(defaults[key], value):
            problems.append(f"{name} = {value!r} must be of type {type(defaults[key]).__name__}")
            continue
        out[key] = float(value) if isinstance(defaults[key], float) else value
    return out


def _path(base, value):
    return value if os.path.isabs(value) else os.path.normpath(os.path.join(base, value))


def validate(given, base_dir=".", source="config"):
    """Checked config with defaults; raises ConfigError listing every problem."""
    problems = []
    cfg = _merge(DEFAULTS, given, "", problems)
    ex, tr, da, lo = cfg["explore"], cfg["train"], cfg["data"], cfg["loop"]
    cfg["workdir"] = _path(base_dir, cfg["workdir"])

    # files
    for section, key in (("system", "structure"), ("explore", "deck")):
        value = cfg[section][key]
        if value is None:
            problems.append(f"{section}.{key} is required")
            continue
        cfg[section][key] = _path(base_dir, value)
        if not os.path.isfile(cfg[section][key]):
            problems.append(f"{section}.{key}: no such file {cfg[section][key]}")
    for section, key in (("data", "initial"), ("train", "init_models"),
                         ("train", "init_checkpoints")):
        items = cfg[section][key]
        if not isinstance(items, list):
            items = [items]
        cfg[section][key] = [_path(base_dir, p) for p in items]
        for p in cfg[section][key]:
            if not os.path.exists(p):
                problems.append(f"{section}.{key}: no such file {p}")

    # numbers
    if not 0 < ex["lo"] < ex["hi"]:
        problems.append(f"explore.lo = {ex['lo']} must be positive and below explore.hi = {ex['hi']}")
    for key in ("lo_error", "hi_error"):
        if ex[key] is not None and (isinstance(ex[key], bool) or
                                    not isinstance(ex[key], (int, float))):
            problems.append(f"explore.{key} = {ex[key]!r} must be a number (eV/A)")
            ex[key] = None
    if (ex["lo_error"] is None) != (ex["hi_error"] is None):
        problems.append("explore.lo_error and explore.hi_error go together (force-error "
                        "targets for the calibrated thresholds)")
    elif ex["lo_error"] is not None and not 0 < ex["lo_error"] < ex["hi_error"]:
        problems.append(f"explore.lo_error = {ex['lo_error']} must be positive and below "
                        f"explore.hi_error = {ex['hi_error']}")
    if not 0 <= cfg["select"]["random_fraction"] <= 1:
        problems.append(f"select.random_fraction = {cfg['select']['random_fraction']} must be "
                        "in [0, 1]")
    se = cfg["select"]
    if se["cut_above"] < 0 or se["cut_core"] < 0 or se["cut_buffer"] < 0 or se["cut_max"] < 1:
        problems.append("select.cut_above, cut_core and cut_buffer must be >= 0 and "
                        "select.cut_max >= 1")
    if se["cut_above"] and cfg["train"]["backend"] == "mace":
        problems.append("select.cut_above needs train.backend = \"deepmd\": a cut-out cell's "
                        "buffer atoms must not be fitted, and mace-torch cannot weight atoms")
    if ex["bias"] < 0 or ex["bias_width"] <= 0:
        problems.append(f"explore.bias = {ex['bias']} must be >= 0 (0: off) and "
                        f"explore.bias_width = {ex['bias_width']} positive (eV/atom)")
    if not 0 < ex["coverage"] < 1:
        problems.append(f"explore.coverage = {ex['coverage']} must be in (0, 1)")
    for section, key, minimum in (("explore", "steps", 1), ("explore", "chunk", 1),
                                  ("explore", "every", 1), ("select", "budget", 1), ("select", "max_atoms", 1),
                                  ("train", "models", 2), ("train", "steps", 1),
                                  ("loop", "max_iterations", 1), ("loop", "max_labels", 1),
                                  ("oracle", "retries", 0), ("data", "bootstrap", 0),
                                  ("train", "jobs", 0)):
        if cfg[section][key] < minimum:
            problems.append(f"{section}.{key} = {cfg[section][key]} must be at least {minimum}")
    if not 0 < lo["accurate_ratio"] <= 1:
        problems.append(f"loop.accurate_ratio = {lo['accurate_ratio']} must be in (0, 1]")
    if not 0 <= da["valid_fraction"] < 1:
        problems.append(f"data.valid_fraction = {da['valid_fraction']} must be in [0, 1)")
    if cfg["oracle"]["timeout"] <= 0:
        problems.append("oracle.timeout must be positive")
    temps = ex["temperatures"]
    if not temps or not all(isinstance(t, (int, float)) and t > 0 for t in temps):
        problems.append(f"explore.temperatures = {temps!r} must be a list of positive numbers")
    problems += accelerator_problems(ex["lammps_args"])
    for (section, key), choices in _CHOICES.items():
        if cfg[section][key] not in choices:
            problems.append(f"{section}.{key} = {cfg[section][key]!r} must be one of {choices}")

    fi = cfg["field"]
    if not (isinstance(fi["efield"], list) and len(fi["efield"]) == 3 and
            all(isinstance(e, (int, float)) and not isinstance(e, bool) for e in fi["efield"])):
        problems.append(f"field.efield = {fi['efield']!r} must be three numbers (V/A)")
    elif fi["oracle"] == "given" and not fi["oracle_kwargs"]:
        problems.append("field.oracle = 'given' needs field.oracle_kwargs: the oracle's own "
                        "keywords for the field (e.g. VASP efield, idipol, ldipol)")

    # elements
    from ase.data import atomic_numbers

    elements = cfg["system"]["elements"]
    if elements is not None:
        bad = [e for e in elements if e not in atomic_numbers or e == "X"]
        if bad or not isinstance(elements, list):
            problems.append(f"system.elements: {bad or elements} are not element symbols")
        elif len(set(elements)) != len(elements):
            problems.append(f"system.elements lists an element twice: {elements}")

    # plug-ins: oracle and backend
    calc = cfg["oracle"]["calculator"]
    from mdsentry.label import KNOWN

    if calc not in KNOWN and ":" not in calc:
        problems.append(f"oracle.calculator = {calc!r}: use one of {sorted(KNOWN)} "
                        f"or 'module:factory'")
    from mdsentry.train import BACKENDS, get_backend

    if tr["backend"] not in BACKENDS:
        problems.append(f"train.backend = {tr['backend']!r}: known backends {sorted(BACKENDS)}")
    else:
        shipped = getattr(get_backend(tr["backend"]), "TEMPLATES", ())
        if not tr["template"] and shipped:
            tr["template"] = shipped[0]
        if tr["template"] not in shipped:  # a user's input file, next to the config
            tr["template"] = _path(base_dir, tr["template"])
            if not os.path.isfile(tr["template"]):
                problems.append(f"train.template: {tr['template']} is neither a shipped "
                                f"template {list(shipped)} nor a file")
    if tr["init_models"] and len(tr["init_models"]) != tr["models"]:
        problems.append(f"train.init_models lists {len(tr['init_models'])} files for "
                        f"train.models = {tr['models']}")
    if tr["init_checkpoints"] and len(tr["init_checkpoints"]) != tr["models"]:
        problems.append(f"train.init_checkpoints lists {len(tr['init_checkpoints'])} files for "
                        f"train.models = {tr['models']}")
    if not tr["init_models"] and not da["initial"] and da["bootstrap"] == 0:
        problems.append("no first committee: give train.init_models, data.initial or "
                        "data.bootstrap > 0")

    if not problems:
        _check_contents(cfg, problems)
    if problems:
        raise ConfigError("\n".join(f"{source}: {p}" for p in problems))
    return cfg


def _check_contents(cfg, problems):
    """Checks that read the files: deck commands, structure and model elements."""
    with open(cfg["explore"]["deck"]) as fh:
        deck = fh.read()
    problems += [f"{p} ({cfg['explore']['deck']})" for p in deck_problems(deck, "explore.deck")]
    problems += field_problems(deck, cfg["field"]["efield"], cfg["field"]["oracle"])
    from mdsentry.structure import read_structure

    try:
        atoms = read_structure(cfg["system"]["structure"], cfg["system"]["elements"])
    except Exception as exc:  # noqa: BLE001 - any reader error is a config problem
        problems.append(f"system.structure: cannot read {cfg['system']['structure']}: {exc}")
        return
    from mdsentry.structure import outside_cell

    outside = outside_cell(atoms)
    if outside:
        problems.append(f"system.structure: atoms lie outside the cell along "
                        f"{', '.join(outside)}, where it is not periodic (a fixed "
                        f"LAMMPS boundary would lose them): centre it, e.g. ase's "
                        f"Atoms.center(vacuum=..., axis=2)")
    present = sorted(set(atoms.get_chemical_symbols()))
    elements = cfg["system"]["elements"]
    if elements is None:
        from ase.data import atomic_numbers

        elements = cfg["system"]["elements"] = sorted(present, key=lambda s: atomic_numbers[s])
    missing = [e for e in present if e not in elements]
    if missing:
        problems.append(f"system.structure has elements {missing} not in system.elements {elements}")
    if cfg["train"]["init_models"]:
        from mdsentry.train import get_backend

        backend = get_backend(cfg["train"]["backend"])
        for path in cfg["train"]["init_models"]:
            try:
                known = backend.type_map(path)
            except Exception as exc:  # noqa: BLE001
                problems.append(f"train.init_models: cannot load {path}: {exc}")
                continue
            lacking = [e for e in elements if e not in known]
            if lacking:
                problems.append(f"train.init_models: {path} has no type for {lacking} "
                                f"(its types: {known})")


def dumps(cfg):
    """TOML text of a config dict (top-level keys, then one table per section; nested
    dicts such as oracle.kwargs inline): what scripts that sweep settings write for
    ``mdsentry run``.  ``None`` values are left out (TOML has no null: the default)."""
    import json

    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)  # a JSON string is a TOML basic string
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k} = {value(x)}" for k, x in v.items()
                                   if x is not None) + "}"
        return repr(v)

    top = [f"{k} = {value(v)}" for k, v in cfg.items() if not isinstance(v, dict) and v is not None]
    for name, table in cfg.items():
        if isinstance(table, dict):
            top += [f"[{name}]"] + [f"{k} = {value(v)}" for k, v in table.items() if v is not None]
    return "\n".join(top) + "\n"


def load(path):
    """Read and validate a TOML config file."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    if not os.path.isfile(path):
        raise ConfigError(f"{path}: no such config file")
    with open(path, "rb") as fh:
        try:
            given = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return validate(given, os.path.dirname(os.path.abspath(path)), source=path)
