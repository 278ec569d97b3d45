#!/usr/bin/env bash
# Runs the pathlens benchmarks; each reports baseline and pathlens costs
# measured interleaved in the same run, and their ratios (wall-ratio,
# cpu-ratio: pathlens/baseline; ops/s for the handshake rate).
# Usage: bench/run.sh [extra go test flags]
set -euo pipefail
cd "$(dirname "$0")/.."
go test -run '^$' -bench . -count "${COUNT:-3}" -benchtime "${BENCHTIME:-2s}" ./bench/ "$@" |
  awk '/^Benchmark/ { printf "%s\n", $1; for (i = 3; i < NF; i += 2) printf "    %-20s %s\n", $(i+1), $i; next } { print }'
