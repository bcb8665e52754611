"""``mdsentry analyze rdf | msd | arrhenius | parity``: a table (CSV) and a PNG per verb."""

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
    q.add_argument("--blocks", type=int, default=5, help="blocks for the error bar")
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
    group.add_argument("--model", help="a DeePMD model file (.pth/.pb)")
    group.add_argument("--calculator", help="'emt', 'chgnet' or module:factory")
    common(q, traj=False)
    q.set_defaults(func=cmd_parity)
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
    print(line)
    cols = {"T": t["T"], "D": t["D"], "D_fit": [arrhenius.extrapolate(res, x) for x in t["T"]]}
    print("wrote", write_table(_out(args, "arrhenius.csv"), cols, header=line))
    print("wrote", arrhenius.plot(t["T"], t["D"], err, res, _out(args, "arrhenius.png")))
    return 0


def cmd_parity(args):
    from mdsentry.analysis import parity
    from mdsentry.analysis.trajectory import write_table
    from mdsentry.frames import read_frames

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
