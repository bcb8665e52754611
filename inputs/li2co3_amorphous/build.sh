#!/usr/bin/env bash
# 16 Li2CO3 packed at 1.2 g/cm^3, then densified in LAMMPS with CHGNet (fix external):
# 10 kbar NPT squeeze at 800 K, 1 bar NPT relax (400 steps each), box relaxation.  ~15 min.
cd "$(dirname "$0")" && mdsentry build amorphous --composition Li2CO3:16 --start-density 1.2 \
    --steps 400 --oracle chgnet --elements Li C O --temperature 800 --seed 7 \
    --out structure.extxyz
