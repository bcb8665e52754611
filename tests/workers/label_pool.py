"""label_store over all ranks of COMM_WORLD: mpirun -np P python label_pool.py STORE WORKDIR"""

import json
import sys

from mpi4py import MPI

from mdsentry.label import label_store

counts = label_store(sys.argv[1], {"calculator": "emt"}, sys.argv[2], progress=False)
print(json.dumps({"rank": MPI.COMM_WORLD.Get_rank(), "counts": list(counts)}), flush=True)
