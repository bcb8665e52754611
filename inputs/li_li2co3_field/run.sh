#!/usr/bin/env bash
# The field-driven Li transport study: the interface at 0, +0.03 and -0.03 V/A with the
# conservative response (fix qeq/field's default), then +-0.03 V/A with `response charges`
# (forces q E only, the published protocol; at zero field both are the potential alone),
# the charge/potential profile and each element's drift along z (the carbonate side's,
# against its C) for each run, and the summary table and figure (summarize.py).
#   NP=2 STEPS=10000 CHARGES_STEPS=6000 POTENTIAL=potential.lmp bash run.sh
# The default potential is the stand-in committee in potential/ (make_potential.py).
set -euo pipefail
cd "$(dirname "$0")"
NP=${NP:-2}; STEPS=${STEPS:-10000}; CHARGES_STEPS=${CHARGES_STEPS:-6000}
POTENTIAL=${POTENTIAL:-potential.lmp}
python prepare.py
zsplit=$(awk '/zsplit/ {print $4}' interface.vars)
run() {  # tag field response steps
  mpirun -np "$NP" lmp -in in.field -var E "$2" -var response "$3" -var tag "$1" \
      -var steps "$4" -var potential "$POTENTIAL" -log "log.field_$1" -screen none
  # dumps every 100 steps of 0.5 fs
  mdsentry analyze field-profile "field_$1.dump" --field "$2" --dt 0.05 --bins 120 \
      --region "$zsplit" 1000 --relative-to C --out "profile_$1"
}
for E in 0.0 0.03 -0.03; do run "$E" "$E" full "$STEPS"; done
for E in 0.03 -0.03; do run "charges_$E" "$E" charges "$CHARGES_STEPS"; done
python summarize.py
