#!/usr/bin/env bash
# The field-driven Li transport study: the interface at 0, +0.03 and -0.03 V/A, then the
# charge/potential profile and each element's drift along z for each field (the
# carbonate side's, against its C), and the summary table and figure (summarize.py).
#   NP=2 STEPS=10000 POTENTIAL=potential.lmp bash run.sh
# The default potential is the stand-in committee in potential/ (make_potential.py).
set -euo pipefail
cd "$(dirname "$0")"
NP=${NP:-2}; STEPS=${STEPS:-10000}; POTENTIAL=${POTENTIAL:-potential.lmp}
python prepare.py
zsplit=$(awk '/zsplit/ {print $4}' interface.vars)
for E in 0.0 0.03 -0.03; do
  mpirun -np "$NP" lmp -in in.field -var E "$E" -var steps "$STEPS" -var potential "$POTENTIAL" \
      -log "log.field_$E" -screen none
  # dumps every 100 steps of 0.5 fs
  mdsentry analyze field-profile "field_$E.dump" --field "$E" --dt 0.05 --bins 120 \
      --region "$zsplit" 1000 --relative-to C --out "profile_$E"
done
python summarize.py --fields 0.0 0.03 -0.03
