"""``mdsentry analyze rdf | msd | arrhenius | parity | field-profile | adhesion | neb``: a table (CSV) and a
PNG per verb."""

import os

import numpy as np


def add_parser(sub):
    p = sub.add_parser("analyze", help="RDF, MSD/D/conductivity, Arrhenius and parity analyses "
                       "(a CSV table and a PNG plot each)")
    verbs = p.add_subparsers(dest="verb", required=True)

    def common(q, traj=True):
        if traj:
            q.add_argument("trajectory", help="LAMMPS dump, extxyz or ASE .traj")
            q.add_argument("--elements", nargs="+",
                           help="element of each LAMMPS atom type (dumps without element column)")
            q.add_argument("--skip", type=int, default=0, help="frames to drop at the start")
            q.add_argument("--stride", type=int, default=1, help="use every n-th frame")
        q.add_argument("--out", default=".", help="directory for the table and the plot")

    q = verbs.add_parser("rdf", help="partial RDFs and coordination numbers")
    common(q)
    q.add_argument("--pairs", nargs="+", help="e.g. Li-O Li-C (default: all pairs)")
    q.add_argument("--rmax", type=float, default=6.0)
    q.add_argument("--bins", type=int, default=300)
    q.set_defaults(func=cmd_rdf)

    q = verbs.add_parser("msd", help="MSD and diffusion coefficients; --charge adds the "
                         "Nernst-Einstein conductivity")
    common(q)
    q.add_argument("--dt", type=float, required=True, help="time between frames (ps)")
    q.add_argument("--species", nargs="+", help="elements to analyse (default: all)")
    q.add_argument("--window", type=float, nargs=2, default=(0.2, 0.8),
                   help="fit window as fractions of the longest lag")
    q.add_argument("--blocks", type=int, default=5,
                   help="consecutive blocks whose D shows whether D drifts along the run "
                   "(the error bar comes from the MSD covariance, docs/analysis.md)")
    q.add_argument("--temperature", type=float, help="K (for the conductivity)")
    q.add_argument("--charge", type=float, help="carrier charge in e (for the conductivity)")
    q.add_argument("--table", help="append 'T,D,D_err' of the (one) species to this CSV, the "
                   "input of `analyze arrhenius` (needs --temperature)")
    q.set_defaults(func=cmd_msd)

    q = verbs.add_parser("arrhenius", help="Ea from D(T): a CSV with columns T, D[, D_err]")
    q.add_argument("table", help="CSV with a header row: T, D (cm^2/s), optional D_err")
    common(q, traj=False)
    q.set_defaults(func=cmd_arrhenius)

    q = verbs.add_parser("parity", help="model vs reference labels: RMSE of E/atom, F, virial, "
                         "stress")
    q.add_argument("reference", help="labelled frames (extxyz, store .h5, deepmd npy dir)")
    group = q.add_mutually_exclusive_group(required=True)
    group.add_argument("--pred", help="the same frames labelled by the model")
    group.add_argument("--model", help="a model file: DeePMD (.pth/.pb) or MACE "
                                       "(.model, .model-lammps.pt)")
    group.add_argument("--calculator", help="'emt', 'chgnet' or module:factory")
    common(q, traj=False)
    q.set_defaults(func=cmd_parity)

    q = verbs.add_parser("field-profile", help="charge density, electrostatic potential and "
                         "element densities along the field axis of a slab (fix qeq/field), "
                         "and each element's drift along it")
    common(q)
    q.add_argument("--axis", default="z", choices=("x", "y", "z"),
                   help="the field axis, non-periodic (default z)")
    q.add_argument("--bins", type=int, default=100)
    q.add_argument("--field", type=float, default=0.0,
                   help="applied field along the axis (V/A), added to the potential")
    q.add_argument("--dt", type=float, help="time between frames (ps), for the drift plot")
    q.add_argument("--region", type=float, nargs=2, metavar=("LO", "HI"),
                   help="drift of the atoms that start in [LO, HI) along the axis only "
                        "(e.g. the electrolyte side of an interface)")
    q.add_argument("--relative-to", metavar="ELEMENT",
                   help="subtract this element's mean drift (same region) from the others'")
    q.set_defaults(func=cmd_field_profile)

    def potential(q):
        g = q.add_mutually_exclusive_group(required=True)
        g.add_argument("--calculator", help="'emt', 'chgnet' or module:factory (ASE)")
        g.add_argument("--model", help="a DeePMD model file, run in LAMMPS")
        g.add_argument("--lammps", nargs="+", metavar="CMD",
                       help='LAMMPS pair commands, e.g. "pair_style eam/alloy" '
                            '"pair_coeff * * Cu.eam.alloy Cu" (with --elements)')
        q.add_argument("--elements", nargs="+", help="LAMMPS type order (default: by Z)")

    q = verbs.add_parser("adhesion", help="work of separation of an interface from "
                         "`mdsentry build interface` (J/m^2)")
    q.add_argument("structure", help="interface extxyz (with its region column)")
    q.add_argument("--stacking", choices=("periodic", "vacuum"),
                   help="default: vacuum when the cell has more than 8 A of empty space")
    potential(q)
    common(q, traj=False)
    q.set_defaults(func=cmd_adhesion)

    q = verbs.add_parser("neb", help="minimum-energy path and barrier between two structures")
    q.add_argument("initial")
    q.add_argument("final")
    q.add_argument("--images", type=int, default=5)
    q.add_argument("--fmax", type=float, default=0.05, help="eV/A")
    q.add_argument("--steps", type=int, default=500)
    potential(q)
    common(q, traj=False)
    q.set_defaults(func=cmd_neb)
    return p


def _frames(args):
    from mdsentry.analysis.trajectory import read_trajectory

    frames = read_trajectory(args.trajectory, elements=args.elements)
    frames = frames[args.skip::args.stride]
    if not frames:
        raise SystemExit(f"mdsentry: no frames left in {args.trajectory} after --skip/--stride")
    return frames


def _out(args, name):
    os.makedirs(args.out, exist_ok=True)
    return os.path.join(args.out, name)


def cmd_rdf(args):
    from mdsentry.analysis import rdf
    from mdsentry.analysis.trajectory import write_table

    frames = _frames(args)
    r, g, cn = rdf.rdf(frames, rmax=args.rmax, nbins=args.bins, pairs=args.pairs)
    cols = {"r": r}
    for name in g:
        cols[f"g_{name}"] = g[name]
        cols[f"cn_{name}"] = cn[name]
    print(f"{len(frames)} frames, {len(frames[0])} atoms")
    print(f"{'pair':8s} {'peak (A)':>9s} {'minimum (A)':>12s} {'CN':>7s}")
    lines = []
    for name in g:
        peak, minimum, n = rdf.first_shell(r, g[name], cn[name])
        lines.append(f"{name}: first peak {peak:.3f} A, first minimum {minimum:.3f} A, CN {n:.3f}")
        print(f"{name:8s} {peak:9.3f} {minimum:12.3f} {n:7.3f}")
    print("wrote", write_table(_out(args, "rdf.csv"), cols, header="\n".join(lines)))
    print("wrote", rdf.plot(r, g, cn, _out(args, "rdf.png")))
    return 0


def cmd_field_profile(args):
    from mdsentry.analysis import field
    from mdsentry.analysis.trajectory import write_table

    frames = _frames(args)
    try:
        profile = field.charge_profile(frames, axis=args.axis, bins=args.bins, field=args.field)
    except ValueError as exc:
        raise SystemExit(f"mdsentry: {exc}") from None
    try:
        drift = field.net_displacement(frames, axis=args.axis, region=args.region,
                                       relative_to=args.relative_to)
    except ValueError as exc:
        raise SystemExit(f"mdsentry: {exc}") from None
    span = f"{(len(frames) - 1) * args.dt * args.stride:g} ps" if args.dt else \
        f"{len(frames) - 1} frames"
    which = (f" (atoms starting in [{args.region[0]:g}, {args.region[1]:g}))"
             if args.region else "") + (f" relative to {args.relative_to}"
                                         if args.relative_to else "")
    lines = [f"{el}: mean displacement along {args.axis} {d[-1]:+.4f} A over {span}{which}"
             for el, d in drift.items()]
    print(f"{len(frames)} frames, {len(frames[0])} atoms")
    for line in lines:
        print(line)
    drop = profile["phi"][-1] - profile["phi"][0]
    lines.append(f"potential drop across the box {drop:+.4f} V (applied field {args.field:g} V/A)")
    print(lines[-1])
    print("wrote", write_table(_out(args, "field_profile.csv"), profile, header="\n".join(lines)))
    dt = args.dt * args.stride if args.dt else None
    print("wrote", field.plot(profile, _out(args, "field_profile.png"), drift, dt))
    return 0


def cmd_msd(args):
    from mdsentry.analysis import arrhenius, diffusion
    from mdsentry.analysis.trajectory import write_table

    if args.table and (args.temperature is None or not args.species or len(args.species) != 1):
        raise SystemExit("mdsentry: --table needs --temperature and exactly one --species")
    frames = _frames(args)
    pos = diffusion.unwrap(frames)
    symbols = np.array(frames[0].get_chemical_symbols())
    species = args.species or sorted(set(symbols))
    results, cols, lines = {}, {}, []
    dt = args.dt * args.stride
    masses = frames[0].get_masses()
    print(f"{len(frames)} frames every {dt:g} ps ({(len(frames) - 1) * dt:g} ps)")
    for el in species:
        sel = symbols == el
        if not sel.any():
            raise SystemExit(f"mdsentry: no {el} atoms in {args.trajectory}")
        res = diffusion.diffusion_coefficient(pos, dt, select=sel, window=tuple(args.window),
                                              blocks=args.blocks, masses=masses)
        results[el] = res
        cols.setdefault("t_ps", res["t"])
        cols[f"msd_{el}"] = res["msd"]
        line = f"D({el}) = {res['D']:.4g} +- {res['D_err']:.2g} cm^2/s ({res['n_atoms']} atoms)"
        if args.charge is not None:
            if args.temperature is None:
                raise SystemExit("mdsentry: --charge needs --temperature")
            vol = float(np.mean([a.get_volume() for a in frames]))
            ne = arrhenius.nernst_einstein(res["D"], res["n_atoms"], vol, args.temperature,
                                           charge=args.charge, D_err=res["D_err"])
            line += (f"; Nernst-Einstein sigma = {ne['sigma']:.4g} +- {ne['sigma_err']:.2g} S/cm "
                     f"at {args.temperature:g} K, carriers {ne['concentration']:.4g} /cm^3, "
                     f"charge {args.charge:g} e, Haven ratio 1")
        lines.append(line)
        print(line)
        if abs(res["linearity_z"]) > 3:
            line = (f"  warning: the MSD of {el} is not straight over the fit window (the slopes "
                    f"at its start and over all of it differ by {res['linearity_z']:+.1f} sigma): "
                    "D is biased; start --window later or run longer")
            lines.append(line)
            print(line)
        d_b, e_b = np.array(res["blocks"]), np.array(res["blocks_err"])
        if len(d_b) > 1 and np.all(e_b > 0):  # does D drift along the run (equilibration)?
            from scipy.stats import chi2 as chi2_dist

            mean_b = np.sum(d_b / e_b ** 2) / np.sum(1 / e_b ** 2)
            chi2 = float(np.sum(((d_b - mean_b) / e_b) ** 2))
            p = float(chi2_dist.sf(chi2, len(d_b) - 1))
            line = (f"  D({el}) in {len(d_b)} consecutive blocks: "
                    + " ".join(f"{v:.3g}" for v in d_b)
                    + f" cm^2/s, chi2/dof {chi2 / (len(d_b) - 1):.2f} about their mean (p {p:.2g})"
                    + ("; D changes along the run: equilibration? drop it with --skip"
                       if p < 0.01 else ""))
            lines.append(line)
            print(line)
    print("wrote", write_table(_out(args, "msd.csv"), cols, header="\n".join(lines)))
    print("wrote", diffusion.plot(results, _out(args, "msd.png")))
    if args.table:
        res = results[species[0]]
        new = not os.path.exists(args.table)
        with open(args.table, "a") as fh:
            fh.write(("T,D,D_err\n" if new else "") +
                     f"{args.temperature:g},{res['D']:.8g},{res['D_err']:.8g}\n")
        print(f"appended T = {args.temperature:g} K to {args.table}")
    return 0


def cmd_arrhenius(args):
    from mdsentry.analysis import arrhenius
    from mdsentry.analysis.trajectory import read_table, write_table

    t = read_table(args.table)
    missing = [c for c in ("T", "D") if c not in t]
    if missing:
        raise SystemExit(f"mdsentry: {args.table} lacks the column(s) {missing} (has {list(t)})")
    err = t.get("D_err")
    res = arrhenius.fit(t["T"], t["D"], err)
    line = (f"Ea = {res['Ea']:.4f} +- {res['Ea_err']:.4f} eV, D0 = {res['D0']:.4g} cm^2/s "
            f"(ln D0 = {res['lnD0']:.3f} +- {res['lnD0_err']:.3f}), {res['n']} temperatures")
    if res["weighted"]:
        line += f", chi2/dof {res['chi2_per_dof']:.2f} (errors from D_err)"
    else:
        line += ", errors from the scatter about the line (no usable D_err column)"
    print(line)
    cols = {"T": t["T"], "D": t["D"], "D_fit": [arrhenius.extrapolate(res, x) for x in t["T"]]}
    print("wrote", write_table(_out(args, "arrhenius.csv"), cols, header=line))
    print("wrote", arrhenius.plot(t["T"], t["D"], err, res, _out(args, "arrhenius.png")))
    return 0


def cmd_parity(args):
    from mdsentry.analysis import parity
    from mdsentry.analysis.trajectory import write_table
    from mdsentry.store import load_frames as read_frames

    ref = read_frames(args.reference)
    if args.pred:
        pred = read_frames(args.pred)
    elif args.model:
        pred = parity.predict(ref, model=args.model)
    else:
        from mdsentry.label import load_calculator

        pred = parity.predict(ref, calculator=load_calculator({"calculator": args.calculator}))
    res = parity.errors(ref, pred)
    text = parity.summary(res)
    print(f"{len(ref)} frames")
    print(text)
    n = max(len(v["ref"]) for v in res.values())
    cols = {}
    for key, v in res.items():  # columns padded with NaN to one length
        for side in ("ref", "pred"):
            col = np.full(n, np.nan)
            col[:len(v[side])] = v[side]
            cols[f"{key}_{side}"] = col
    print("wrote", write_table(_out(args, "parity.csv"), cols, header=text))
    print("wrote", parity.plot(res, _out(args, "parity.png")))
    return 0


def _calc_factory(args, atoms):
    """() -> a new ASE calculator for the potential the arguments name."""
    from ase.data import atomic_numbers

    elements = args.elements or sorted(set(atoms.get_chemical_symbols()), key=atomic_numbers.get)
    if args.calculator:
        from mdsentry.label import load_calculator

        return lambda: load_calculator({"calculator": args.calculator})
    from mdsentry.analysis.energetics import lammps_calculator

    if args.model:
        cmds = [f"pair_style deepmd {os.path.abspath(args.model)}",
                f"pair_coeff * * {' '.join(elements)}"]
    else:
        cmds = list(args.lammps)
    return lambda: lammps_calculator(cmds, elements)


def cmd_adhesion(args):
    from ase.io import read

    from mdsentry.analysis.energetics import adhesion
    from mdsentry.analysis.trajectory import write_table
    from mdsentry.plots import pyplot, save

    atoms = read(args.structure)
    if "region" not in atoms.arrays:
        raise SystemExit(f"mdsentry: {args.structure} has no region column (0 bottom, 1 top): "
                         "build it with `mdsentry build interface`")
    z = np.sort(atoms.positions[:, 2])
    gap = max(np.max(np.diff(z)), atoms.cell[2, 2] - z[-1] + z[0])
    stacking = args.stacking or ("vacuum" if gap > 8.0 else "periodic")
    atoms.info["interface"] = {"stacking": stacking}
    res = adhesion(atoms, _calc_factory(args, atoms)())
    line = (f"W_sep = {res['W']:.4f} J/m^2 ({stacking} stacking, {res['n_interfaces']} "
            f"interface(s), area {res['area']:.2f} A^2): E_interface {res['E_interface']:.4f}, "
            f"E_bottom {res['E_bottom']:.4f}, E_top {res['E_top']:.4f} eV")
    print(line)
    names = ["interface", "bottom", "top"]
    energies = [res["E_interface"], res["E_bottom"], res["E_top"]]
    print("wrote", write_table(_out(args, "adhesion.csv"),
                               {"part": np.arange(3), "energy_eV": energies},
                               header=line + "\npart: " + ", ".join(names)))
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 3.5))
    ax.bar(["bottom + top", "interface"], [res["E_bottom"] + res["E_top"], res["E_interface"]])
    ax.set_ylabel("energy (eV)")
    ax.set_title(f"W_sep = {res['W']:.3f} J/m²", fontsize=9)
    lo = min(res["E_bottom"] + res["E_top"], res["E_interface"])
    ax.set_ylim(lo - 0.2 * abs(res["E_bottom"] + res["E_top"] - res["E_interface"]) - 1e-3,
                None)
    save(fig, _out(args, "adhesion.png"))
    print("wrote", _out(args, "adhesion.png"))
    return 0


def cmd_neb(args):
    from ase.io import read, write

    from mdsentry.analysis.energetics import neb_barrier
    from mdsentry.analysis.trajectory import write_table
    from mdsentry.plots import pyplot, save

    initial, final = read(args.initial), read(args.final)
    if len(initial) != len(final) or list(initial.numbers) != list(final.numbers):
        raise SystemExit("mdsentry: the initial and final structures must have the same atoms "
                         "in the same order")
    res = neb_barrier(initial, final, _calc_factory(args, initial), n_images=args.images,
                      fmax=args.fmax, steps=args.steps)
    line = (f"barrier {res['barrier']:.4f} eV forward, {res['reverse_barrier']:.4f} eV reverse, "
            f"{args.images} images, {'converged' if res['converged'] else 'NOT converged'} "
            f"(fmax {args.fmax} eV/A)")
    print(line)
    e = np.array(res["energies"])
    print("wrote", write_table(_out(args, "neb.csv"), {"image": np.arange(len(e)),
                                                      "energy_eV": e}, header=line))
    write(_out(args, "neb_path.extxyz"), res["images"], format="extxyz", parallel=False)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 3.5))
    ax.plot(np.arange(len(e)), e, "o-")
    ax.set_xlabel("image")
    ax.set_ylabel("energy relative to the initial state (eV)")
    ax.set_title(f"barrier {res['barrier']:.3f} eV", fontsize=9)
    save(fig, _out(args, "neb.png"))
    print("wrote", _out(args, "neb.png"))
    return 0
