#!/usr/bin/env bash
# Simulates a day of `pathlens serve` storage at scale: 100,000 targets of
# the lab mix, a run a minute (144 million runs), written through the
# store's bulk path (Store.Write in batches of ten minutes), then times
# the percentile queries, a steady stretch through a Writer and a prune,
# and prints the database size and bytes per run by table
# (serve/store/day_test.go, TestStoreDay). With fewer hours it extrapolates
# a whole day from the growth of the second half of the run.
# Usage: bench/store_day.sh [DB] (default /tmp/pathlens-day.db, kept)
#   HOURS=24 TARGETS=100000: the size of the run.
# A whole day takes about 90 min on 2 cores and 8 GB of disk; run one at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
db=$(realpath -m "${1:-/tmp/pathlens-day.db}")
PATHLENS_STORE_DAY_DB=$db PATHLENS_STORE_DAY_HOURS=${HOURS:-24} PATHLENS_STORE_DAY_TARGETS=${TARGETS:-100000} \
  go test -run '^TestStoreDay$' -count=1 -timeout 0 -v ./serve/store/ | grep -v '^=== '
