"""Exploration: one walker's MD in chunks up to ``explore.steps`` or a halt, and what
its sentry saw (counts, the deviation trace).  The walkers' decks and lifecycle are
in ``walkers.py``.
"""

import os
import time

import numpy as np


def explore(walker, cfg, progress=True):
    """Run one exploration of ``explore.steps`` steps (or up to a halt) in chunks.

    Returns (candidates on the walker root, stats dict).  The stats count this
    exploration's checks only (the fix's totals minus those at its start).
    """
    ex = cfg["explore"]
    wdir = walker.workdir
    # counts since the end of the previous exploration: a hot swap re-checks the
    # current step with the new models, and that check belongs to this one
    before = getattr(walker, "explore_mark", None) or [0.0] * 9
    start_step = walker.step()
    candidates, halted = [], False
    bar = None
    if progress and walker.comm.Get_rank() == 0 and walker.index == 0:
        from tqdm import tqdm

        bar = tqdm(total=ex["steps"], desc="MD (walker 0)", unit="step")
    t0 = time.perf_counter()
    while walker.step() - start_step < ex["steps"]:
        left = ex["steps"] - (walker.step() - start_step)
        chunk = walker.run(min(ex["chunk"], left), start=start_step,
                           stop=start_step + ex["steps"])
        candidates += chunk.candidates
        vec = walker.sentry_vector()
        if bar:
            bar.n = walker.step() - start_step
            bar.refresh()
        if chunk.halted:
            halted = True
            break
        if vec[0] < walker.thresholds[0]:
            walker.write_restart(os.path.join(wdir, "trusted.restart"))
    if bar:
        bar.close()
    walker.write_restart(os.path.join(wdir, "explored.restart"))
    after = walker.explore_mark = walker.sentry_vector()
    checks = {k: int(after[i] - before[i]) for k, i in (("trusted", 1), ("candidate", 2),
                                                           ("above", 5))}
    total = sum(checks.values())
    devi_max, devi_median, walker.log_mark = devi_since(os.path.join(wdir, "sentry.log"),
                                                        getattr(walker, "log_mark", 0), walker.comm)
    stats = {"walker": walker.index, "temperature": ex["temperatures"][walker.index],
             "start_step": start_step, "end_step": walker.step(), "halted": halted,
             "halt_step": int(after[6]) if halted else None, **checks,
             "accurate": checks["trusted"] / total if total else 1.0,
             "max_devi": devi_max, "median_devi": devi_median,
             "seconds": time.perf_counter() - t0}
    for atoms in candidates:
        atoms.info["temperature"] = stats["temperature"]
    return candidates, stats


def devi_since(log, offset, comm):
    """(largest, median) deviation of the checks logged after byte ``offset`` of the
    sentry log, and the log's end (the next offset).  The median shows a committee's
    progress; the maximum is one frame's."""
    value = (0.0, 0.0, offset)
    if comm.Get_rank() == 0:
        trace = read_trace(log, offset)
        end = os.path.getsize(log) if os.path.exists(log) else offset
        if len(trace["value"]):
            value = (float(trace["value"].max()), float(np.median(trace["value"])), end)
        else:
            value = (0.0, 0.0, end)
    return comm.bcast(value, root=0)


def read_trace(path, offset=0):
    """The sentry log (from byte ``offset``) as arrays: step, value, status ("trusted",
    "candidate", "above")."""
    steps, values, status = [], [], []
    if os.path.exists(path):
        with open(path) as fh:
            fh.seek(offset)
            for line in fh:
                if line.startswith("#") or not line.strip():
                    continue
                parts = line.split()
                if len(parts) < 3:
                    continue  # a line cut by a kill
                steps.append(int(parts[0]))
                values.append(float(parts[1]))
                status.append(parts[2])
    return {"step": np.array(steps, dtype=int), "value": np.array(values),
            "status": np.array(status, dtype=object)}
