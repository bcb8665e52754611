#!/usr/bin/env bash
# The field-driven Li transport study: the interface at 0, +0.03 and -0.03 V/A, then the
# charge/potential profile and each element's drift along z for each field.
#   NP=2 STEPS=6000 POTENTIAL=potential.lmp bash run.sh
set -euo pipefail
cd "$(dirname "$0")"
NP=${NP:-2}; STEPS=${STEPS:-6000}; POTENTIAL=${POTENTIAL:-potential.lmp}
python prepare.py
for E in 0.0 0.03 -0.03; do
  mpirun -np "$NP" lmp -in in.field -var E "$E" -var steps "$STEPS" -var potential "$POTENTIAL" \
      -log "log.field_$E" -screen none
  mdsentry analyze field-profile "field_$E.dump" --field "$E" --dt 0.1 --bins 120 \
      --out "profile_$E"
done
