#!/usr/bin/env bash
# Runs the pathlens benchmarks and prints each pathlens/baseline ratio from
# the same run. Usage: bench/run.sh [-count N] [-benchtime T]
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(go test -run '^$' -bench . -benchmem -count "${COUNT:-3}" -benchtime "${BENCHTIME:-2s}" ./bench/ "$@")
echo "$out"
echo
echo "$out" | awk '
/^Benchmark/ {
  split($1, parts, "/"); group = parts[1]; sub(/-[0-9]+$/, "", parts[2]); variant = parts[2]
  for (i = 3; i < NF; i++) {
    if ($(i+1) == "ns/op") ns[group, variant] += $i
    if ($(i+1) == "cpu-ns/op") cpu[group, variant] += $i
    if ($(i+1) == "probes/s") rate[group, variant] += $i
  }
  n[group, variant]++
  if (variant ~ /^baseline/) base[group] = variant
}
END {
  for (k in n) {
    split(k, gv, SUBSEP); g = gv[1]; v = gv[2]
    if (v ~ /^baseline/) continue
    b = base[g]
    printf "%s: %s vs %s: time/op ratio %.3f, cpu/op ratio %.3f", g, v, b, (ns[g,v]/n[g,v])/(ns[g,b]/n[g,b]), (cpu[g,v]/n[g,v])/(cpu[g,b]/n[g,b])
    if (rate[g,b] > 0) printf ", probes/s %.0f vs %.0f (ratio %.3f)", rate[g,v]/n[g,v], rate[g,b]/n[g,b], (rate[g,v]/n[g,v])/(rate[g,b]/n[g,b])
    printf "\n"
  }
}'
