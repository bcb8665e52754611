#!/usr/bin/env bash
# Random packing at 1.8 g/cm^3 (packmol).  The densification route with the oracle instead:
#   --start-density 1.0 --steps 300 --oracle chgnet --elements H Li C O
cd "$(dirname "$0")" && mdsentry build amorphous --composition Li2EDC:4,Li2CO3:8,Li:2 \
    --density 1.8 --seed 3 --out structure.extxyz
