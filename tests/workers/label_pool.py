"""label_store over all ranks of COMM_WORLD: mpirun -np P python label_pool.py STORE WORKDIR [IDS]

Each rank writes WORKDIR/rank<r>.json (stdout lines of two ranks can interleave).
"""

import json
import os
import sys

from mpi4py import MPI

from mdsentry.label import label_store

ids = [int(i) for i in sys.argv[3].split(",")] if len(sys.argv) > 3 else None
try:
    counts = label_store(sys.argv[1], {"calculator": "emt"}, sys.argv[2], ids=ids,
                         progress=False)
except RuntimeError as exc:  # must reach every rank, not only the one that failed
    counts = [str(exc)]
rank = MPI.COMM_WORLD.Get_rank()
os.makedirs(sys.argv[2], exist_ok=True)
with open(f"{sys.argv[2]}/rank{rank}.json", "w") as fh:
    json.dump({"rank": rank, "counts": list(counts)}, fh)
