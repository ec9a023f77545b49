#!/usr/bin/env bash
# `make demo`: Envoy with certprop_filter.wasm in front of the echo backend, on localhost.
#
#   curl --cert certs/client.pem ──mTLS :8443──► Envoy + certprop ──► certprop-echo :8081
#   admin (stats, logs): http://127.0.0.1:9901
#
# `make demo` has already installed Envoy into .venv and built the filter; this script builds
# the echo backend and the CLI, makes the certificates if they are missing, starts both
# servers, sends one request and keeps running until interrupted (Ctrl-C stops everything).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ENVOY=.venv/bin/envoy
WASM=target/wasm32-wasip1/release/certprop_filter.wasm
LOG_DIR=target/demo
LISTENER=8443 ADMIN=9901 BACKEND=8081

if [[ -t 1 ]]; then say() { printf '\033[1m%s\033[0m\n' "$*"; }; else say() { printf '%s\n' "$*"; }; fi
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

[[ -x $ENVOY ]] || die "$ENVOY is missing: run \`make demo\` (it installs Envoy into .venv)"
[[ -f $WASM ]] || die "$WASM is missing: run \`make demo\` (it builds the filter)"
command -v curl >/dev/null || die "curl is missing: apt-get install -y curl"

for port in $LISTENER $ADMIN $BACKEND; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        die "127.0.0.1:$port is in use (another demo running?); stop it and try again"
    fi
done

if [[ ! -f certs/client.pem || ! -f certs/server.pem || ! -f certs/ca.pem ]]; then
    say "Making test certificates (certs/make_certs.py)"
    .venv/bin/python certs/make_certs.py
fi

say "Building the echo backend and the certprop CLI"
cargo build --release --quiet --bin certprop-echo --bin certprop

mkdir -p "$LOG_DIR"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'echo; say "Stopping."; exit 0' INT TERM

target/release/certprop-echo "127.0.0.1:$BACKEND" >"$LOG_DIR/echo.log" 2>&1 &
pids+=($!)
"$ENVOY" -c envoy/envoy.yaml --concurrency 1 --disable-hot-restart \
    --component-log-level wasm:debug >/dev/null 2>"$LOG_DIR/envoy.log" &
envoy_pid=$!
pids+=("$envoy_pid")

for _ in $(seq 1 300); do
    [[ $(curl -s "http://127.0.0.1:$ADMIN/ready" 2>/dev/null) == LIVE ]] && break
    kill -0 "$envoy_pid" 2>/dev/null || { tail -n 30 "$LOG_DIR/envoy.log" >&2; die "Envoy exited; log above"; }
    sleep 0.1
done
[[ $(curl -s "http://127.0.0.1:$ADMIN/ready") == LIVE ]] || die "Envoy did not become ready; see $LOG_DIR/envoy.log"

CURL=(curl -sS --cacert certs/ca.pem --cert certs/client.pem --key certs/client.key)
say "Request with certs/client.pem:  ${CURL[*]} https://localhost:$LISTENER/hello"
response=$("${CURL[@]}" "https://localhost:$LISTENER/hello")
echo
say "The backend received:"
printf '%s\n' "$response" | .venv/bin/python -c '
import base64, json, sys
seen = json.load(sys.stdin)
for name, value in sorted(seen["headers"].items()):
    if name.startswith("x-client-cert"):
        print(f"  {name}: {value}")
sub = seen["headers"].get("x-client-cert-sub")
if sub:
    print()
    print("  x-client-cert-sub decoded (base64 of the RFC 4514 subject):")
    print("   ", base64.b64decode(sub).decode())
'
echo
say "What the core makes of the same certificate (certprop headers --config envoy/certprop.json):"
target/release/certprop headers --config envoy/certprop.json certs/client.pem | sed 's/^/  /'
cat <<EOF

$(say "Try more:")
  ${CURL[*]} https://localhost:$LISTENER/hello
  ${CURL[*]} -H 'X-Client-Cert-Sub: Q049YWRtaW4=' https://localhost:$LISTENER/   # a spoofed header is replaced
  curl -sS --cacert certs/ca.pem --cert certs/client-b.pem --key certs/client-b.key https://localhost:$LISTENER/
  curl -sS --cacert certs/ca.pem --cert certs/huge-subject.pem --key certs/huge-subject.key https://localhost:$LISTENER/   # 403
  curl -s http://127.0.0.1:$ADMIN/stats?filter=wasmcustom     # certprop's counters
  tail -f $LOG_DIR/envoy.log                                    # the filter's debug log

Envoy (127.0.0.1:$LISTENER, admin :$ADMIN) and certprop-echo (:$BACKEND) are running. Ctrl-C stops them.
EOF
wait "$envoy_pid"
