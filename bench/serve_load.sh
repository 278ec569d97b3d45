#!/usr/bin/env bash
# Measures `pathlens serve` with N targets (default 1000) on the lab at a
# 10 s interval for DURATION seconds (default 300): peak and mean RSS, and
# CPU use of the serve process (the lab runs in a separate process, so its
# cost is not counted). Loopback only.
# Usage: bench/serve_load.sh [N] [DURATION]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
DURATION=${2:-300}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/pathlens" ./cmd/pathlens
mkdir -p "$work/lab"
"$work/pathlens" lab --json --dir "$work/lab" > "$work/manifest.json" &
for _ in $(seq 100); do [ -s "$work/manifest.json" ] && break; sleep 0.1; done
python3 - "$work" "$N" <<'PY'
import json, sys
work, n = sys.argv[1], int(sys.argv[2])
m = json.load(open(f"{work}/manifest.json"))
t = {s["name"]: s["target"] for s in m["scenarios"]}
mix = [("ok-http", "web"), ("ok-h2", "web"), ("ok-https", "web"), ("ok-tcp", "tcp"), ("http-slow", "web")]
lines = [
    "listen: 127.0.0.1:0",
    f"storage: {{path: {work}/pathlens.db, retention: 24h}}",
    "defaults: {interval: 10s, timeout: 5s, concurrency: 64}",
    "modules:",
    f"  web: {{kind: http, tls: {{ca_file: {m['ca_file']}}}, dns: {{server: \"{m['dns_server']}\"}}}}",
    f"  tcp: {{kind: tcp, dns: {{server: \"{m['dns_server']}\"}}}}",
    "targets:",
]
for i in range(n):
    name, mod = mix[i % len(mix)]
    lines.append(f"  - {{name: t{i:04d}-{name}, url: \"{t[name]}\", module: {mod}}}")
open(f"{work}/config.yaml", "w").write("\n".join(lines) + "\n")
PY
"$work/pathlens" serve --config "$work/config.yaml" > "$work/serve.out" 2> "$work/serve.err" &
pid=$!
sleep 1
hz=$(getconf CLK_TCK)
read_cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
start_cpu=$(read_cpu); start=$(date +%s.%N)
peak=0; sum=0; samples=0
end=$(( $(date +%s) + DURATION ))
while [ "$(date +%s)" -lt "$end" ]; do
  sleep 5
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  [ "$rss" -gt "$peak" ] && peak=$rss
  sum=$((sum + rss)); samples=$((samples + 1))
done
end_cpu=$(read_cpu); stop=$(date +%s.%N)
url=$(grep -o 'http://[0-9.:]*/' "$work/serve.out" | head -1)
runs=$(curl -s "${url}metrics" | awk '/^pathlens_probe_runs_total/ {s += $2} END {print s+0}')
kill -INT $pid; wait $pid || true
python3 - <<PY
cpu = ($end_cpu - $start_cpu) / $hz
wall = $stop - $start
print(f"targets {$N}, interval 10s, {wall:.0f} s measured")
print(f"RSS peak {$peak/1024:.1f} MiB, mean {$sum/$samples/1024:.1f} MiB")
print(f"CPU {cpu:.1f} s over {wall:.0f} s = {100*cpu/wall:.1f} % of one core")
print(f"probe runs recorded: {$runs} ({$runs/wall:.1f}/s; expected {$N/10:.0f}/s)")
PY
