#!/usr/bin/env bash
# Floods `pathlens serve`'s /probe with N concurrent calls (default 4000)
# to a loopback server that accepts connections and never answers, and
# reports what the flood costs serve: answers by status, the peak of open
# file descriptors and of RSS, and RSS after the flood. Loopback only; every
# call ends within the probe timeout (2 s) plus the queue timeout.
# Usage: bench/probe_flood.sh [N] [PATHLENS_BINARY]
#   PATHLENS_BINARY defaults to a build of this tree; give an older build to
#   compare the two in one run.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-4000}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
bin=${2:-}
if [ -z "$bin" ]; then
  go build -o "$work/pathlens" ./cmd/pathlens
  bin="$work/pathlens"
fi
# The black hole: accepts, reads, never writes.
python3 - "$work/hole.port" <<'PY' &
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(8192)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
conns = []
while True:
    c, _ = s.accept(); conns.append(c)
PY
for _ in $(seq 100); do [ -s "$work/hole.port" ] && break; sleep 0.1; done
port=$(cat "$work/hole.port")
cat > "$work/config.yaml" <<EOF
listen: 127.0.0.1:0
storage: {path: $work/pathlens.db}
defaults: {timeout: 2s}
probe_endpoint:
  allow: ["http://127.0.0.1:$port/*"]
EOF
"$bin" serve --config "$work/config.yaml" > "$work/serve.out" 2> "$work/serve.err" &
pid=$!
for _ in $(seq 100); do grep -q 'http://' "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://[0-9.:]*/' "$work/serve.out" | head -1)
rss0=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
( peakfd=0; while kill -0 $pid 2>/dev/null; do
    n=$(ls /proc/$pid/fd 2>/dev/null | wc -l); [ "$n" -gt "$peakfd" ] && peakfd=$n && echo $peakfd > "$work/peakfd"
    sleep 0.05; done ) &
python3 - "$url" "$port" "$N" > "$work/codes" <<'PY'
import sys, threading, urllib.request, urllib.error, collections
url, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
codes = collections.Counter(); lock = threading.Lock()
def one():
    try:
        c = urllib.request.urlopen(f"{url}probe?target=http://127.0.0.1:{port}/x", timeout=30).status
    except urllib.error.HTTPError as e:
        c = e.code
    except Exception as e:
        c = type(e).__name__
    with lock: codes[c] += 1
ts = [threading.Thread(target=one) for _ in range(n)]
for t in ts: t.start()
for t in ts: t.join()
print(" ".join(f"{k}:{v}" for k, v in sorted(codes.items(), key=str)))
PY
sleep 1
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
rss1=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
kill -INT $pid; wait $pid || true
echo "calls $N: answers $(cat "$work/codes")"
echo "open files peak $(cat "$work/peakfd" 2>/dev/null || echo ?)"
echo "RSS before $((rss0/1024)) MiB, peak $((hwm/1024)) MiB, after $((rss1/1024)) MiB"
