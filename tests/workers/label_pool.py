"""label_store over all ranks of COMM_WORLD: mpirun -np P python label_pool.py STORE WORKDIR

Each rank writes WORKDIR/rank<r>.json (stdout lines of two ranks can interleave).
"""

import json
import sys

from mpi4py import MPI

from mdsentry.label import label_store

counts = label_store(sys.argv[1], {"calculator": "emt"}, sys.argv[2], progress=False)
rank = MPI.COMM_WORLD.Get_rank()
with open(f"{sys.argv[2]}/rank{rank}.json", "w") as fh:
    json.dump({"rank": rank, "counts": list(counts)}, fh)
