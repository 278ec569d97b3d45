#!/usr/bin/env bash
# CPU per probe, side by side, on the same loopback lab targets in the same
# run: pathlens's /probe against prometheus/blackbox_exporter's /probe
# (Debian prometheus-blackbox-exporter), and pathlens's scheduled probes
# against its own /probe. Each kind (https, http, tcp, dns) is measured in
# ABBA blocks of SECONDS at RATE probes a second; a block's figure is the
# process CPU (user + system, /proc) divided by the probes it answered.
# The lab runs in its own process; its CPU per probe is reported apart.
# HTTPS uses pathlens's defaults (the TLS resumption check on its cadence;
# the first probe of a /probe call always checks, since /probe has no
# memory between calls — that is the "probe-noresume" line's point:
# pathlens /probe with the check off, the like of blackbox's one connection).
# Usage: bench/probe_cpu.sh [RATE] [SECONDS] [KINDS]
#   RATE default 100, SECONDS default 20, KINDS default "https http tcp dns".
#   BLACKBOX=path (default: prometheus-blackbox-exporter on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-100}
SECONDS_PER=${2:-20}
KINDS=${3:-https http tcp dns}
BLACKBOX=${BLACKBOX:-$(command -v prometheus-blackbox-exporter || command -v blackbox_exporter || true)}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/pathlens" ./cmd/pathlens
mkdir -p "$work/lab"
"$work/pathlens" lab --json --dir "$work/lab" > "$work/manifest.json" &
labpid=$!
for _ in $(seq 100); do [ -s "$work/manifest.json" ] && break; sleep 0.1; done
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Targets, configs for both tools, and the scheduled config of each kind.
python3 - "$work" "$RATE" <<'PY'
import json, sys, urllib.parse
work, rate = sys.argv[1], int(sys.argv[2])
m = json.load(open(f"{work}/manifest.json"))
t = {s["name"]: s["target"] for s in m["scenarios"]}
h2 = urllib.parse.urlsplit(t["ok-h2"])
dns = urllib.parse.urlsplit(t["ok-dns"])
targets = {
    # pathlens /probe target, pathlens module, blackbox target, blackbox module
    "https": (f"https://127.0.0.1:{h2.port}/", "https", f"https://127.0.0.1:{h2.port}/", "https"),
    "http": (t["ok-http"], "http", t["ok-http"], "http"),
    "tcp": (t["ok-tcp"], "tcp", t["ok-tcp"].removeprefix("tcp://"), "tcp"),
    "dns": (t["ok-dns"], "dns", dns.netloc, "dns"),
}
json.dump(targets, open(f"{work}/targets.json", "w"))
mods = f"""modules:
  https: {{kind: http, tls: {{ca_file: {m['ca_file']}, server_name: ok-h2.lab.test}}}}
  https-noresume: {{kind: http, tls: {{ca_file: {m['ca_file']}, server_name: ok-h2.lab.test, resumption_check: false}}}}
  http: {{kind: http}}
  tcp: {{kind: tcp}}
  dns: {{kind: dns}}
"""
open(f"{work}/probe.yaml", "w").write(f"""listen: 127.0.0.1:0
storage: {{path: {work}/probe.db}}
{mods}probe_endpoint:
  allow: ["https://127.0.0.1:*", "http://127.0.0.1:*", "tcp://127.0.0.1:*", "dns://127.0.0.1:*"]
  modules: [https, https-noresume, http, tcp, dns]
  max_concurrent: 64
""")
# Scheduled: RATE probes a second as RATE*10 targets at a 10 s interval.
for kind, (target, mod, _, _) in targets.items():
    lines = [f"listen: 127.0.0.1:0", f"storage: {{path: {work}/sched-{kind}.db}}",
             "defaults: {interval: 10s, timeout: 5s, concurrency: 64}", mods.rstrip(), "targets:"]
    lines += [f"  - {{name: {kind}-{i:05d}, url: \"{target}\", module: {mod}}}" for i in range(rate * 10)]
    open(f"{work}/sched-{kind}.yaml", "w").write("\n".join(lines) + "\n")
open(f"{work}/blackbox.yml", "w").write(f"""modules:
  https:
    prober: http
    timeout: 5s
    http: {{preferred_ip_protocol: ip4, tls_config: {{ca_file: {m['ca_file']}, server_name: ok-h2.lab.test}}}}
  http: {{prober: http, timeout: 5s, http: {{preferred_ip_protocol: ip4}}}}
  tcp: {{prober: tcp, timeout: 5s, tcp: {{preferred_ip_protocol: ip4}}}}
  dns:
    prober: dns
    timeout: 5s
    dns: {{query_name: ok-dns.lab.test, query_type: A, transport_protocol: udp, preferred_ip_protocol: ip4}}
""")
PY

# drive URL_PREFIX SECONDS: RATE GETs a second of URL_PREFIX; prints the
# number answered 200.
drive() {
  python3 - "$1" "$2" "$RATE" <<'PY'
import sys, threading, time, urllib.request
url, secs, rate = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
ok = 0; lock = threading.Lock()
def one():
    global ok
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            r.read()
            if r.status == 200:
                with lock: ok += 1
    except Exception:
        pass
start = time.monotonic(); n = int(secs * rate); threads = []
for i in range(n):
    delay = start + i / rate - time.monotonic()
    if delay > 0: time.sleep(delay)
    th = threading.Thread(target=one); th.start(); threads.append(th)
for th in threads: th.join()
print(ok)
PY
}
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
metric() { curl -s "${1}metrics" | awk -v m="$2" '$1 ~ "^"m {s += $2} END {print s+0}'; }

start_serve() { # config -> sets spid, surl
  "$work/pathlens" serve --config "$1" > "$work/serve.out" 2> "$work/serve.err" &
  spid=$!
  for _ in $(seq 300); do grep -q 'http://' "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
  surl=$(grep -o 'http://[0-9.:]*/' "$work/serve.out" | head -1)
}
stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# block NAME PID URL: drives URL for SECONDS_PER and prints NAME's CPU per probe.
block() {
  local c0 l0 c1 l1 n
  c0=$(cpu_of "$2"); l0=$(cpu_of $labpid)
  n=$(drive "$3" "$SECONDS_PER")
  c1=$(cpu_of "$2"); l1=$(cpu_of $labpid)
  awk -v n="$n" -v c="$((c1 - c0))" -v l="$((l1 - l0))" -v hz="$hz" -v name="$1" \
    'BEGIN {printf "%-22s %6d probes  %.3f ms CPU/probe  (lab %.3f ms)\n", name, n, c*1000/hz/(n?n:1), l*1000/hz/(n?n:1)}' | tee -a "$work/blocks"
}

start_serve "$work/probe.yaml"; ppid=$spid; purl=$surl
if [ -n "$BLACKBOX" ]; then
  bport=$(free_port)
  "$BLACKBOX" --config.file="$work/blackbox.yml" --web.listen-address="127.0.0.1:$bport" > "$work/bb.log" 2>&1 &
  bpid=$!
  for _ in $(seq 100); do curl -s "http://127.0.0.1:$bport/" >/dev/null && break; sleep 0.1; done
else
  echo "no blackbox_exporter (apt-get install prometheus-blackbox-exporter): pathlens only" >&2
fi
enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
for kind in $KINDS; do
  read -r pt pm bt bm < <(python3 -c 'import json,sys; print(*json.load(open(sys.argv[1]))[sys.argv[2]])' "$work/targets.json" "$kind")
  pu="${purl}probe?target=$(enc "$pt")&module=$pm"
  bu="http://127.0.0.1:${bport:-0}/probe?target=$(enc "$bt")&module=$bm"
  curl -s "$pu" | grep -q '^probe_success 1' || { echo "pathlens /probe $kind does not succeed" >&2; curl -s "$pu" | head -5 >&2; exit 1; }
  if [ -n "$BLACKBOX" ]; then
    curl -s "$bu" | grep -q '^probe_success 1' || { echo "blackbox /probe $kind does not succeed" >&2; exit 1; }
  fi
  for order in A B B A; do
    if [ "$order" = A ]; then block "pathlens-probe-$kind" $ppid "$pu"; fi
    if [ "$order" = B ] && [ -n "$BLACKBOX" ]; then block "blackbox-$kind" $bpid "$bu"; fi
  done
  if [ "$kind" = https ]; then
    block "pathlens-probe-noresume" $ppid "${purl}probe?target=$(enc "$pt")&module=https-noresume"
  fi
  # Scheduled: the same probes through serve's scheduler, storage, metrics
  # and UI state, against /probe in the same serve process.
  start_serve "$work/sched-$kind.yaml"
  sleep 12 # one interval of warm-up: every target ran once
  c0=$(cpu_of $spid); r0=$(metric "$surl" pathlens_probe_runs_total)
  sleep "$SECONDS_PER"
  c1=$(cpu_of $spid); r1=$(metric "$surl" pathlens_probe_runs_total)
  awk -v n="$((r1 - r0))" -v c="$((c1 - c0))" -v hz="$hz" -v name="pathlens-sched-$kind" \
    'BEGIN {printf "%-22s %6d probes  %.3f ms CPU/probe\n", name, n, c*1000/hz/(n?n:1)}' | tee -a "$work/blocks"
  stop_pid $spid
done
echo
echo "ratios (mean of the blocks):"
awk '{split($1, p, "-"); k = p[length(p)]; if ($1 ~ /^blackbox/) bb[k] += $4; if ($1 ~ /^pathlens-probe-/ && $1 !~ /noresume/) pp[k] += $4;
      if ($1 ~ /^blackbox/) nb[k]++; if ($1 ~ /^pathlens-probe-/ && $1 !~ /noresume/) np[k]++; if ($1 ~ /^pathlens-sched-/) sc[k] = $4}
     END {for (k in pp) {line = sprintf("  %-6s", k); if (nb[k]) line = line sprintf("  pathlens /probe ÷ blackbox %.2f", (pp[k]/np[k])/(bb[k]/nb[k]));
          if (sc[k]) line = line sprintf("  scheduled ÷ /probe %.2f", sc[k]/(pp[k]/np[k])); print line}}' "$work/blocks"
