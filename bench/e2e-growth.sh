#!/usr/bin/env bash
# How sipwarden's cost grows (issue 10): CPU per transaction, peak RSS and
# the memory held per transaction, at 500, 1,000 and 2,000 MESSAGE/s, with
# 0, 1, 2 and 4 of the bundled policies, from one run of bench/e2e.sh per
# rate (sipwarden only, no REGISTER runs). Each run lasts SECONDS_PER_RUN (default
# 10) at its rate, so the transactions held at its end (all of them: Timer
# J keeps a completed one 32 s) grow with the rate.
#
#   bench/e2e-growth.sh [ROUNDS]      default 1
#
# Environment: as bench/e2e.sh (SIPWARDEN, PORT_BASE, KEEP), and SECONDS_PER_RUN.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-1}
seconds=${SECONDS_PER_RUN:-10}
[[ $rounds =~ ^[1-9][0-9]*$ && $seconds =~ ^[1-9][0-9]*$ ]] || {
    echo "e2e-growth.sh: ROUNDS and SECONDS_PER_RUN are positive integers" >&2
    exit 2
}
if [[ -z "${SIPWARDEN:-}" ]]; then
    plugins/build >/dev/null
    cargo build --locked --release -p sipwarden 2>&1 | tail -n 1 >&2
    export SIPWARDEN=$PWD/target/release/sipwarden
fi
export PROXIES="sipwarden_none sipwarden_1plugin sipwarden_2plugins sipwarden_plugins" REGISTERS=""

echo "sipwarden's cost by rate and plugins: $rounds round(s) of $seconds s per rate and plugin set, $(nproc) cores"
echo
first=1
for rate in 500 1000 2000; do
    out=$(bench/e2e.sh "$rate" $((rate * seconds)) "$rounds")
    if ((first)); then
        # The table's header, once.
        grep -E '^\| proxy|^\|---' <<<"$out"
        first=0
    fi
    grep -E '^\| sipwarden' <<<"$out"
done
