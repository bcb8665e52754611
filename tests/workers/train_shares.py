"""Committee training shared by the nodes of a job (placement.node_shares,
mpiutil.on_shares), as the loop's train stages do it; run with one rank per node name.

mpirun ... python train_shares.py --frames F --out D [--fail-share I]
Every rank writes D/rank<R>.json: its share, and the collected committee (rank 0) or
the StageError every rank must see when share I fails.
"""

import argparse
import json
import os

from ase.io import read
from mpi4py import MPI

from mdsentry.mpiutil import StageError, on_root, on_shares
from mdsentry.placement import node_name, node_shares
from mdsentry.train.deepmd import train_committee

p = argparse.ArgumentParser()
p.add_argument("--frames", required=True)
p.add_argument("--out", required=True)
p.add_argument("--fail-share", type=int, default=None)
args = p.parse_args()
comm = MPI.COMM_WORLD
share = node_shares(comm.allgather(node_name()))[comm.rank]
frames = read(args.frames, index=":12", parallel=False)
workdir = os.path.join(args.out, "train")


def fit(s=None):
    if s is not None and s[0] == args.fail_share:
        raise RuntimeError(f"dp train failed on node {node_name()}")
    return train_committee(frames[:9], frames[9:], workdir, n_models=3, steps=20, resume=True,
                           share=s)


out = {"share": share}
try:
    on_shares(comm, share, fit)
    res = on_root(comm, lambda: train_committee(frames[:9], frames[9:], workdir, n_models=3,
                                                steps=20, resume=True, collect=True))
    out["models"] = res.models
    out["rmse"] = res.rmse
except StageError as exc:
    out["error"] = str(exc)
with open(os.path.join(args.out, f"rank{comm.rank}.json"), "w") as fh:
    json.dump(out, fh)
