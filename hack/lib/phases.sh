# Phase timing for the e2e scripts (sourced, not run). Set PHASE_TAG (the
# prefix of every line, e.g. e2e-local) before sourcing.
#
#   phase NAME        end the running phase (if any) and start NAME
#   end_phase         end the running phase and record its duration
#   print_timings RC  print every phase's duration, the total and RC
#
# shellcheck shell=bash

TIMINGS=()
PHASE=""
PHASE_START=0
SUITE_START=$(date +%s)

phase() {
  end_phase
  PHASE="$1"
  PHASE_START=$(date +%s)
  echo "==> [$PHASE_TAG] $PHASE"
}

end_phase() {
  if [ -n "$PHASE" ]; then
    local took=$(( $(date +%s) - PHASE_START ))
    TIMINGS+=("$(printf '%-8s %5ss' "$PHASE" "$took")")
    echo "<== [$PHASE_TAG] $PHASE: ${took}s"
    PHASE=""
  fi
}

print_timings() {
  echo "[$PHASE_TAG] phase timings:"
  if [ "${#TIMINGS[@]}" -gt 0 ]; then
    printf '  %s\n' "${TIMINGS[@]}"
  fi
  echo "  total    $(( $(date +%s) - SUITE_START ))s (exit code $1)"
}
