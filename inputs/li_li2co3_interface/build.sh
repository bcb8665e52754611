#!/usr/bin/env bash
# Li(111) (9 layers) under one period of Li2CO3(001), matched in plane (Zur-McGill), 12 A vacuum.
cd "$(dirname "$0")" && mdsentry build interface --bottom Li --bottom-miller 111 --top Li2CO3 \
    --top-miller 001 --bottom-layers 9 --top-layers 1 --gap 2.6 --vacuum 12 --min-length 8.5 \
    --max-area 120 --max-strain 0.04 --out structure.extxyz
