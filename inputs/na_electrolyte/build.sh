#!/usr/bin/env bash
# 3 x 3 x 3 Na(100) cells, 8 EC + 1 NaPF6 packed on top at 1.3 g/cm^3, 2.5 A gap, 10 A vacuum.
cd "$(dirname "$0")" && mdsentry build electrolyte --metal Na --miller 100 --layers 3 \
    --repeat 3 3 --composition EC:8,NaPF6:1 --density 1.3 --seed 1 --out structure.extxyz
