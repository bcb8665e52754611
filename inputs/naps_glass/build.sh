#!/usr/bin/env bash
# 6 Na3PS4 + 2 Na3PS3O at 2.0 g/cm^3 (packmol, 2.2 A between fragments).
cd "$(dirname "$0")" && mdsentry build amorphous --composition Na3PS4:6,Na3PS3O:2 \
    --density 2.0 --tolerance 2.2 --seed 1 --out structure.extxyz
