"""Append deterministic frames to a store forever, acknowledging each append.

python store_writer.py STORE  ->  prints "ACK <frames in store>" after every append
"""

import sys

import numpy as np
from ase import Atoms

from mdsentry import store

path = sys.argv[1]
k = store.count(path)
while True:
    frames = []
    for j in range(3):
        n = 5 + (k + j) % 7  # variable atom counts
        a = Atoms(numbers=[3] * n, positions=np.full((n, 3), float(k + j)), cell=np.eye(3) * 9,
                  pbc=True)
        frames.append(a)
    store.append(path, frames, iteration=1, step=k)
    k += 3
    print(f"ACK {k}", flush=True)
