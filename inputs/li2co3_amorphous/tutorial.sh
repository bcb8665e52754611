#!/usr/bin/env bash
# docs/tutorial_li2co3.md end to end: build -> active learning -> production MD -> RDF, D, Ea.
# Run from anywhere with the venv's tools on PATH (.venv/bin).
set -euo pipefail
cd "$(dirname "$0")"
[ -f structure.extxyz ] || bash build.sh                  # packmol + CHGNet densification
mpirun -np 2 mdsentry run run.toml --no-progress            # two walkers: 900 K and 1300 K
mpirun -np 3 mdsentry md run.toml --temperatures 900 1100 1300 --steps 10000 \
    --equilibrate 1000 --timestep 0.001 --dump-every 10 --halt --out runs/production
rm -f runs/analysis/d_of_t.csv
for T in 900 1100 1300; do
    mdsentry analyze msd runs/production/T$T/traj.dump --dt 0.01 --species Li \
        --temperature $T --charge 1 --out runs/analysis/T$T --table runs/analysis/d_of_t.csv
done
mdsentry analyze rdf runs/production/T900/traj.dump --pairs Li-O C-O Li-Li --rmax 6 \
    --out runs/analysis
mdsentry analyze arrhenius runs/analysis/d_of_t.csv --out runs/analysis
mdsentry plot runs
