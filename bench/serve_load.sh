#!/usr/bin/env bash
# Measures `pathlens serve` with N targets of the lab mix (http, h2 over
# TLS, h1 over TLS, tcp, slow http) at INTERVAL for DURATION seconds:
# runs started on time, peak and mean RSS, CPU of serve and — apart — of
# the lab (its own process), the /metrics scrape and the UI pages, and
# the top of a heap profile. Loopback only.
# Usage: bench/serve_load.sh [N] [DURATION] [INTERVAL]
#   N default 1000, DURATION (s) default 300, INTERVAL default 30s.
#   BIN=path/to/pathlens measures that binary (e.g. an older build) instead
#   of building this tree; CONCURRENCY (default 256) is defaults.concurrency;
#   MEMORY_LIMIT (e.g. 900MiB) sets memory_limit in the config.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
DURATION=${2:-300}
INTERVAL=${3:-30s}
CONCURRENCY=${CONCURRENCY:-256}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
if [ -n "${BIN:-}" ]; then cp "$BIN" "$work/pathlens"; else go build -o "$work/pathlens" ./cmd/pathlens; fi
mkdir -p "$work/lab"
"$work/pathlens" lab --json --dir "$work/lab" > "$work/manifest.json" &
labpid=$!
for _ in $(seq 100); do [ -s "$work/manifest.json" ] && break; sleep 0.1; done
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/token"
python3 - "$work" "$N" "$INTERVAL" "$CONCURRENCY" "${MEMORY_LIMIT:-}" <<'PY'
import json, sys
work, n, interval, conc, memlimit = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
m = json.load(open(f"{work}/manifest.json"))
t = {s["name"]: s["target"] for s in m["scenarios"]}
mix = [("ok-http", "web"), ("ok-h2", "web"), ("ok-https", "web"), ("ok-tcp", "tcp"), ("http-slow", "web")]
lines = [
    "listen: 127.0.0.1:0",
    f"auth: {{token_file: {work}/token}}",
    f"storage: {{path: {work}/pathlens.db, retention: 24h}}",
    f"defaults: {{interval: {interval}, timeout: 5s, concurrency: {conc}}}",
    "modules:",
    f"  web: {{kind: http, tls: {{ca_file: {m['ca_file']}}}, dns: {{server: \"{m['dns_server']}\"}}}}",
    f"  tcp: {{kind: tcp, dns: {{server: \"{m['dns_server']}\"}}}}",
    "targets:",
]
if memlimit:
    lines.insert(0, f"memory_limit: {memlimit}")
for i in range(n):
    name, mod = mix[i % len(mix)]
    lines.append(f"  - {{name: t{i:06d}-{name}, url: \"{t[name]}\", module: {mod}}}")
open(f"{work}/config.yaml", "w").write("\n".join(lines) + "\n")
PY
pprof=""
if "$work/pathlens" serve --help 2>&1 | grep -q -- --pprof; then pprof=--pprof; fi
"$work/pathlens" serve --config "$work/config.yaml" $pprof > "$work/serve.out" 2> "$work/serve.err" &
pid=$!
for _ in $(seq 600); do grep -q 'http://' "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://[0-9.:]*/' "$work/serve.out" | head -1)
auth="Authorization: Bearer $(cat "$work/token")"
hz=$(getconf CLK_TCK)
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }
metric() { curl -s -H "$auth" "${url}metrics" | awk -v m="$1" '$1 ~ "^"m {s += $2} END {print s+0}'; }
start_cpu=$(cpu_of $pid); start_lab=$(cpu_of $labpid); start=$(date +%s.%N)
start_runs=$(metric pathlens_probe_runs_total); start_on=$(metric pathlens_scheduler_runs_on_time_total)
start_late=$(metric pathlens_scheduler_runs_late_total)
peak=0; sum=0; samples=0
end=$(( $(date +%s) + DURATION ))
mid=$(( $(date +%s) + DURATION / 2 ))
profiled=""
while [ "$(date +%s)" -lt "$end" ]; do
  sleep 5
  if [ -n "$pprof" ] && [ -z "$profiled" ] && [ "$(date +%s)" -ge "$mid" ]; then
    # Half way: a 20 s CPU profile and where the goroutines wait, in
    # the background so the RSS samples go on.
    profiled=1
    curl -s -H "$auth" -o "$work/cpu.pb.gz" "${url}debug/pprof/profile?seconds=20" &
    curl -s -H "$auth" -o "$work/goroutine.txt" "${url}debug/pprof/goroutine?debug=1"
  fi
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  [ "$rss" -gt "$peak" ] && peak=$rss
  sum=$((sum + rss)); samples=$((samples + 1))
done
end_cpu=$(cpu_of $pid); end_lab=$(cpu_of $labpid); stop=$(date +%s.%N)
runs=$(metric pathlens_probe_runs_total); on=$(metric pathlens_scheduler_runs_on_time_total)
late=$(metric pathlens_scheduler_runs_late_total)
timed() { curl -s -H "$auth" -o "$work/body" -w '%{time_total} %{size_download}' "$url$1"; }
read -r mt ms <<<"$(timed metrics)"
read -r ot os <<<"$(timed '')"
read -r ft fs <<<"$(timed findings)"
if [ -n "$pprof" ]; then
  curl -s -H "$auth" -o "$work/heap.pb.gz" "${url}debug/pprof/heap"
  go tool pprof -top -inuse_space -nodecount 15 "$work/heap.pb.gz" 2>/dev/null | sed -n '4,22p' > "$work/heap.txt" || true
  if [ -s "$work/cpu.pb.gz" ]; then
    go tool pprof -top -cum -nodecount 25 "$work/cpu.pb.gz" 2>/dev/null | sed -n '4,32p' > "$work/cpu.txt" || true
  fi
  if [ -s "$work/goroutine.txt" ]; then
    # The five largest groups of goroutines waiting at the same place.
    awk '/^[0-9]+ @/ {n=$1; getline; getline; print n, $0}' "$work/goroutine.txt" | sort -rn | head -5 > "$work/goroutines.top" || true
  fi
fi
kill -INT $pid; wait $pid || true
python3 - <<PY
cpu = ($end_cpu - $start_cpu) / $hz
lab = ($end_lab - $start_lab) / $hz
wall = $stop - $start
runs = $runs - $start_runs
iv = "$INTERVAL"
secs = float(iv[:-1]) * {"s": 1, "m": 60}[iv[-1]]
print(f"targets {$N}, interval {iv}, concurrency $CONCURRENCY, {wall:.0f} s measured")
print(f"RSS peak {$peak/1024:.1f} MiB, mean {$sum/$samples/1024:.1f} MiB")
print(f"CPU serve {100*cpu/wall:.1f} % of one core ({1000*cpu/max(runs,1):.2f} ms per run); lab {100*lab/wall:.1f} %")
print(f"probe runs recorded: {runs:.0f} ({runs/wall:.1f}/s; scheduled {$N/secs:.1f}/s)")
on, late = $on - $start_on, $late - $start_late
if on + late > 0:
    print(f"runs started within 1 s of their slot: {100*on/(on+late):.2f} % ({late:.0f} late)")
print(f"/metrics {float('$mt')*1000:.0f} ms, {$ms/1e6:.1f} MB; overview {float('$ot')*1000:.0f} ms, {$os/1e6:.2f} MB; findings {float('$ft')*1000:.0f} ms, {$fs/1e6:.2f} MB")
PY
if [ -s "$work/heap.txt" ]; then echo "heap (inuse_space):"; cat "$work/heap.txt"; fi
if [ -s "$work/cpu.txt" ]; then echo "CPU profile, 20 s half way (cumulative):"; cat "$work/cpu.txt"; fi
if [ -s "$work/goroutines.top" ]; then echo "goroutines half way (count, where):"; cat "$work/goroutines.top"; fi
