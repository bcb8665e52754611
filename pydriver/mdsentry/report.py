"""The per-iteration summary table (printed by ``mdsentry run`` and ``mdsentry status``)."""

COLUMNS = ("iter", "model", "MD steps", "median devi", "max devi", "accurate", "halted", "cand", "sel", "lab",
           "fail", "E meV/at", "F meV/A", "accepted", "swap s")


def rows(state):
    out = []
    hist = list(state.get("history", []))
    if state.get("current", {}).get("row"):
        hist.append(state["current"]["row"])
    for h in hist:
        rmse = h.get("rmse") or {}
        e = f"{1000 * rmse['e_per_atom']:.2f}" if rmse.get("e_per_atom") is not None else "-"
        f = f"{1000 * rmse['f']:.1f}" if rmse.get("f") is not None else "-"
        if h["iteration"] < 0:  # the first committee
            out.append(["init", f"v{h['model']}", "-", "-", "-", "-", "-", "-", "-", "-", "-", e,
                        f, "yes", "-"])
            continue
        ws = h.get("walkers", [])
        steps = sum(w["end_step"] - w["start_step"] for w in ws)
        maxdev = max((w["max_devi"] for w in ws), default=float("nan"))
        # runs from before the median was recorded have none
        median = max((w.get("median_devi", float("nan")) for w in ws), default=float("nan"))
        acc = min((w["accurate"] for w in ws), default=float("nan"))
        halted = sum(bool(w["halted"]) for w in ws)
        accepted = {True: "yes", False: "NO", None: "-"}[h.get("accepted")]
        swap = f"{h['swap_seconds']:.3f}" if h.get("swap_seconds") is not None else "-"
        out.append([str(h["iteration"]), f"v{h['model']}", str(steps), f"{median:.3f}",
                    f"{maxdev:.3f}",
                    f"{100 * acc:.1f}%", f"{halted}/{len(ws)}", str(h.get("candidates", "-")),
                    str(h.get("selected", "-")), str(h.get("labelled", "-")),
                    str(h.get("failed", "-")), e, f, accepted, swap])
    return out


def summary(state):
    """A fixed-width table: one row per iteration (RMSEs on the held-out frames)."""
    table = [list(COLUMNS)] + rows(state)
    widths = [max(len(r[c]) for r in table) for c in range(len(COLUMNS))]
    lines = ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
