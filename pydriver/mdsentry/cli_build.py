"""``mdsentry build crystal | amorphous | interface | electrolyte``: structures for the decks.

Each verb writes one structure file (extxyz, or a LAMMPS data file for ``.data``)
and prints what it built; the decks in inputs/ call these in their build.sh.
"""

import os


def _composition(text):
    out = {}
    for item in text.split(","):
        name, _, n = item.strip().partition(":")
        if not n:
            raise SystemExit(f"mdsentry: composition item {item!r} is not NAME:COUNT")
        out[name] = int(n)
    return out


def _miller(text):
    digits = text.replace(",", " ").split()
    if len(digits) == 1 and len(digits[0]) == 3:
        digits = list(digits[0])
    if len(digits) != 3:
        raise SystemExit(f"mdsentry: Miller index {text!r}: give three integers, e.g. 100 or 1,-1,0")
    return tuple(int(d) for d in digits)


def _defects(atoms, args):
    from mdsentry.build import frenkel_pair, interstitial, vacancy

    for el in args.vacancy or []:
        atoms = vacancy(atoms, el, seed=args.seed)
    for el in args.interstitial or []:
        atoms = interstitial(atoms, el)
    for el in args.frenkel or []:
        atoms = frenkel_pair(atoms, el, seed=args.seed)
    return atoms


def _write(atoms, path, elements=None):
    from ase.io import write

    from mdsentry.build import density_of

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if path.endswith(".data"):
        from mdsentry.structure import write_data

        write_data(atoms, path, elements or sorted(set(atoms.get_chemical_symbols())))
    else:
        keep = {k: v for k, v in atoms.info.items() if isinstance(v, (int, float, str))}
        clean = atoms.copy()
        clean.info = keep
        for name in list(clean.arrays):
            if name not in ("numbers", "positions"):
                del clean.arrays[name]
        if "region" in atoms.arrays:
            clean.set_array("region", atoms.arrays["region"])
        write(path, clean, format="extxyz", parallel=False)
    print(f"wrote {path}: {atoms.get_chemical_formula()}, {len(atoms)} atoms, cell "
          f"{' x '.join(f'{x:.3f}' for x in atoms.cell.lengths())} A, "
          f"{density_of(atoms):.3f} g/cm^3")


def cmd_crystal(args):
    from mdsentry.build import bulk

    atoms = bulk(args.phase).repeat(tuple(args.repeat))
    _write(_defects(atoms, args), args.out)
    return 0


def _oracle_potential(name):
    from mdsentry.label import load_calculator

    return load_calculator({"calculator": name, "kwargs": {"threads": 1} if name == "chgnet" else {}})


def cmd_amorphous(args):
    from mdsentry.build import densify, pack

    comp = _composition(args.composition)
    if args.steps == 0:
        atoms = pack(comp, args.density, tolerance=args.tolerance, seed=args.seed)
    else:
        start = pack(comp, args.start_density, tolerance=args.tolerance, seed=args.seed)
        workdir = os.path.join(os.path.dirname(os.path.abspath(args.out)), "build")
        atoms = densify(start, _oracle_potential(args.oracle), args.elements,
                        temperature=args.temperature, squeeze_pressure=args.squeeze_pressure,
                        pressure=1.0, squeeze_steps=args.steps, relax_steps=args.steps,
                        timestep=0.001, min_steps=100, thermo_every=20, workdir=workdir)
        trace = os.path.join(os.path.dirname(os.path.abspath(args.out)), "densify.csv")
        with open(trace, "w") as fh:
            fh.write("step,stage,density_g_cm3,pressure_bar,pe_eV\n")
            for row in atoms.info.pop("densify"):
                fh.write(",".join(str(x) for x in row) + "\n")
        print(f"wrote {trace}")
    _write(atoms, args.out, args.elements)
    return 0


def cmd_interface(args):
    from mdsentry.build import bulk, describe, interface

    atoms = interface(bulk(args.bottom), _miller(args.bottom_miller), bulk(args.top),
                      _miller(args.top_miller), bottom_layers=args.bottom_layers,
                      top_layers=args.top_layers, gap=args.gap, vacuum=args.vacuum,
                      max_area=args.max_area, max_strain=args.max_strain,
                      min_length=args.min_length)
    print(describe(atoms))
    _write(_defects(atoms, args), args.out)
    return 0


def cmd_electrolyte(args):
    from mdsentry.build import bulk, pack, slab, stack

    metal = slab(bulk(args.metal), _miller(args.miller), args.layers).repeat(
        (args.repeat[0], args.repeat[1], 1))
    liquid = pack(_composition(args.composition), args.density, tolerance=args.tolerance,
                  seed=args.seed, area=metal.cell.lengths()[:2])
    atoms = stack(metal, liquid, gap=args.gap, vacuum=args.vacuum)
    print(f"{len(metal)} metal atoms under {len(liquid)} electrolyte atoms "
          f"({liquid.cell[2, 2]:.2f} A thick at {args.density} g/cm^3)")
    _write(atoms, args.out)
    return 0


def add_parser(sub):
    p = sub.add_parser("build", help="structures: crystals with defects, amorphous packings "
                       "(densified with an oracle), metal/SEI interfaces, metal/electrolyte")
    verbs = p.add_subparsers(dest="verb", required=True)

    def defects(q):
        q.add_argument("--vacancy", nargs="+", metavar="EL", help="remove one atom of each")
        q.add_argument("--interstitial", nargs="+", metavar="EL", help="add one at the largest void")
        q.add_argument("--frenkel", nargs="+", metavar="EL", help="one Frenkel pair of each")
        q.add_argument("--seed", type=int, default=1)

    q = verbs.add_parser("crystal", help="a shipped crystal, repeated, with point defects")
    q.add_argument("phase", help="Li, Na, LiF, NaF, Li2O, Na2O, Li2CO3")
    q.add_argument("--repeat", type=int, nargs=3, default=(1, 1, 1))
    q.add_argument("--out", required=True)
    defects(q)
    q.set_defaults(func=cmd_crystal)

    q = verbs.add_parser("amorphous", help="packmol packing, optionally densified in LAMMPS "
                         "with an oracle (low density -> high-pressure NPT -> relax)")
    q.add_argument("--composition", required=True, help="e.g. Li2EDC:8,Li2CO3:16,Li:4")
    q.add_argument("--density", type=float, default=1.8, help="g/cm^3 (with --steps 0)")
    q.add_argument("--start-density", type=float, default=1.2, help="g/cm^3 before densifying")
    q.add_argument("--steps", type=int, default=0, help="NPT steps of squeeze and of relax "
                   "(0: pack at --density, no MD)")
    q.add_argument("--oracle", default="chgnet", help="ASE calculator for the densification")
    q.add_argument("--elements", nargs="+", help="LAMMPS type order")
    q.add_argument("--temperature", type=float, default=800.0)
    q.add_argument("--squeeze-pressure", type=float, default=10000.0, help="bar")
    q.add_argument("--tolerance", type=float, default=2.0, help="min distance between fragments")
    q.add_argument("--seed", type=int, default=1)
    q.add_argument("--out", required=True)
    q.set_defaults(func=cmd_amorphous)

    q = verbs.add_parser("interface", help="bottom(hkl)/top(hkl), lattice-matched, top strained")
    q.add_argument("--bottom", required=True)
    q.add_argument("--bottom-miller", required=True)
    q.add_argument("--top", required=True)
    q.add_argument("--top-miller", required=True)
    q.add_argument("--bottom-layers", type=int, default=3)
    q.add_argument("--top-layers", type=int, default=1)
    q.add_argument("--gap", type=float, default=2.0)
    q.add_argument("--vacuum", type=float, help="A of vacuum (default: periodic stacking)")
    q.add_argument("--max-area", type=float, default=200.0)
    q.add_argument("--max-strain", type=float, default=0.05)
    q.add_argument("--min-length", type=float, default=0.0)
    q.add_argument("--out", required=True)
    defects(q)
    q.set_defaults(func=cmd_interface)

    q = verbs.add_parser("electrolyte", help="a packed electrolyte layer on a metal slab")
    q.add_argument("--metal", required=True)
    q.add_argument("--miller", default="100")
    q.add_argument("--layers", type=int, default=3)
    q.add_argument("--repeat", type=int, nargs=2, default=(3, 3))
    q.add_argument("--composition", required=True, help="e.g. EC:8,NaPF6:1")
    q.add_argument("--density", type=float, default=1.3)
    q.add_argument("--tolerance", type=float, default=2.0)
    q.add_argument("--gap", type=float, default=2.5)
    q.add_argument("--vacuum", type=float, default=10.0)
    q.add_argument("--seed", type=int, default=1)
    q.add_argument("--out", required=True)
    q.set_defaults(func=cmd_electrolyte)
    return p
