#!/usr/bin/env bash
# sipwarden against Kamailio, side by side in one command (issue 10).
#
# A sipp UAS (tests/sipp/message_uas.xml) answers on loopback; for each
# proxy under test sipp sends CALLS MESSAGE transactions at a fixed RATE
# (below sipp's own saturation, ~2,900/s on 2 cores: compare CPU per
# transaction, never maximum rate), the proxies interleaved over ROUNDS
# rounds, a fresh proxy process per run:
#   sipwarden_none       sipwarden, upstream mode ([upstream] uri), no plugins
#   sipwarden_plugins    the same with the four bundled policies (audit,
#                        secure-transport, identity, lookup-guard); identity
#                        trusts 127.0.0.1's P-Asserted-Identity, as in
#                        bench/reload-under-load, so the MESSAGE is allowed
#   kamailio_stateless   Kamailio 5.6, forward()   (bench/e2e/kamailio-stateless.cfg)
#   kamailio_stateful    Kamailio 5.6, t_relay()   (bench/e2e/kamailio-stateful.cfg)
# and, when PROXIES names them (bench/e2e-growth.sh does), sipwarden_1plugin
# (identity alone) and sipwarden_2plugins (identity and lookup-guard), the
# bundled policies that decide a MESSAGE (audit sees only REGISTER).
# Kamailio runs `children` = nproc (the cores sipwarden's runtime uses), UDP only.
# Then a REGISTER-with-digest benchmark: sipp registers alice (alice-secret,
# plugins/bundle/stores/credentials.toml) REG_CALLS times at REG_RATE calls/s
# with sipwarden's embedded registrar ([registrar] domains = ["127.0.0.1"])
# and the four bundled policies (identity challenges, audit records both
# attempts of each call), with `[audit] durability` batched and strict; each
# call is a transaction pair (401, then 200 to the credentials). sipp 3.6
# answers only the first challenge and only MD5: [credentials] algorithms =
# ["MD5", "SHA-256"], check-uri = false.
#
#   bench/e2e.sh [RATE] [CALLS] [ROUNDS]      defaults: 2000 20000 2
#   bench/e2e.sh 500 2000 1                   a quick look
#
# Environment: SIPWARDEN (the binary; default: `cargo build --locked
# --release -p sipwarden` here), PORT_BASE (default 28060; loopback only:
# proxies +0..+6, UAS +10, UAC +11, admin +20, sipp media +30/+32 (UAS)
# and +40/+42 (UAC), sipp control sockets +50/+51), REG_RATE (default
# RATE/10 REGISTER calls/s: each costs several MESSAGEs), REG_CALLS
# (default CALLS/10), PROXIES (the MESSAGE runs, default the four above),
# REGISTERS (default "register_batched register_strict"; empty: none),
# KEEP=1 keeps the
# work directory (sipp's logs, the proxies' logs, audit files).
#
# Per run: CPU = utime+stime from /proc/PID/stat of the proxy's process (all
# its threads) or of all Kamailio's processes, sampled just before sipp
# starts and just after it ends, divided by the successful calls (work a
# proxy defers past the run, e.g. sipwarden dropping completed transactions
# at Timer J 32 s later, is not counted); peak RSS = VmHWM of that process,
# summed over Kamailio's processes (so shared memory touched by several
# counts once per process), read before the proxy is stopped; failed =
# calls that did not succeed (sipp's FailedCall, plus any never finished);
# response time = from a MESSAGE's (the first REGISTER's) first
# transmission to its 200, from sipp's message trace (microsecond stamps;
# sipp's -trace_rtt counts whole milliseconds only). The table shows the
# median of the rounds' CPU per transaction, the highest peak RSS, the
# memory held per transaction ((peak RSS - RSS before sipp starts) /
# transactions: a run is shorter than the 32 s a completed transaction is
# kept for Timer J, so every transaction of it is held at its end), the
# failures summed and p50/p99 over all rounds' calls; the last lines are
# the CPU ratios (when both sides ran). Each run also writes a line to stderr: its CPU, VmHWM,
# retransmissions, the hypervisor's steal and the datagrams the kernel
# dropped (on the proxy's socket, the UAS's, machine-wide).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

rate=${1:-2000}
calls=${2:-20000}
rounds=${3:-2}
reg_rate=${REG_RATE:-$((rate / 10))}
reg_calls=${REG_CALLS:-$((calls / 10))}
base=${PORT_BASE:-28060}
uas_port=$((base + 10))
uac_port=$((base + 11))
admin_port=$((base + 20))
uas_media=$((base + 30))
uac_media=$((base + 40))
uas_ctl=$((base + 50))
uac_ctl=$((base + 51))
children=$(nproc)
tck=$(getconf CLK_TCK)
for n in "$rate" "$calls" "$rounds" "$reg_rate" "$reg_calls"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "e2e.sh: RATE, CALLS, ROUNDS, REG_RATE and REG_CALLS are positive integers" >&2; exit 2; }
done

# sipp and Kamailio (Debian packages), as tests/run installs them.
peers=(sip-tester kamailio curl)
missing=()
for pkg in "${peers[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "e2e.sh: installing ${missing[*]}" >&2
    sudo=""
    [[ $(id -u) -eq 0 ]] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
for tool in sipp kamailio curl awk sort ss pgrep; do
    command -v "$tool" >/dev/null || { echo "e2e.sh: $tool is required" >&2; exit 2; }
done

if [[ -z "${SIPWARDEN:-}" ]]; then
    plugins/build >/dev/null
    cargo build --locked --release -p sipwarden 2>&1 | tail -n 1 >&2
    SIPWARDEN=$repo/target/release/sipwarden
else
    [[ -f plugins/bundle/identity.wasm ]] || plugins/build >/dev/null
fi
SIPWARDEN=$(realpath "$SIPWARDEN")

# Every port must be free before anything starts.
for p in $(seq "$base" $((base + 6))) "$uas_port" "$uac_port" "$uas_media" $((uas_media + 2)) \
    "$uac_media" $((uac_media + 2)) "$uas_ctl" "$uac_ctl"; do
    [[ -z $(ss -Hlun "sport = :$p") ]] || { echo "e2e.sh: UDP port $p is in use (set PORT_BASE)" >&2; exit 2; }
done
[[ -z $(ss -Hltn "sport = :$admin_port") ]] || { echo "e2e.sh: TCP port $admin_port is in use (set PORT_BASE)" >&2; exit 2; }

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [[ -n "${KEEP:-}" ]]; then echo "e2e.sh: work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# The plugin sets: none, and the four bundled policies with identity
# believing the P-Asserted-Identity of 127.0.0.1 (sipp cannot answer
# sipwarden's SHA-256-first challenges to a MESSAGE); the REGISTER runs use
# the bundle unchanged (every REGISTER needs digest anyway).
mkdir "$work/none" "$work/plugins" "$work/bundle"
cp plugins/bundle/*.wasm plugins/bundle/*.toml "$work/bundle/"
cp plugins/bundle/*.wasm plugins/bundle/*.toml "$work/plugins/"
cp -r plugins/bundle/stores "$work/stores"
sed -i 's|^trusted-peers = \[\]|trusted-peers = ["127.0.0.1/32"]|' "$work/plugins/identity.toml"
grep -q '^trusted-peers = \["127.0.0.1/32"\]' "$work/plugins/identity.toml"
# Subsets of that set: identity alone; identity and lookup-guard.
mkdir "$work/plugins1" "$work/plugins2"
cp "$work/plugins/identity."* "$work/plugins1/"
cp "$work/plugins/identity."* "$work/plugins/lookup-guard."* "$work/plugins2/"

cd "$work"
sipp -sf "$repo/tests/sipp/message_uas.xml" -i 127.0.0.1 -p "$uas_port" -mp "$uas_media" -cp "$uas_ctl" \
    -nostdin >uas.log 2>&1 &
uas_pid=$!
pids+=("$uas_pid")
for _ in $(seq 50); do
    [[ -n $(ss -Hlun "sport = :$uas_port") ]] && break
    sleep 0.1
done
[[ -n $(ss -Hlun "sport = :$uas_port") ]] || { cat uas.log >&2; exit 1; }

proxy_pid=""
# The proxy's processes: sipwarden's one, or Kamailio's main and its children.
procs() {
    local list=("$proxy_pid") i=0 child
    while ((i < ${#list[@]})); do
        for child in $(pgrep -P "${list[i]}" || true); do list+=("$child"); done
        i=$((i + 1))
    done
    echo "${list[@]}"
}
# utime+stime in clock ticks, summed over the proxy's processes.
cpu_ticks() {
    local total=0 pid stat rest
    for pid in $(procs); do
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        rest=${stat##*) }
        read -r -a f <<<"$rest"
        total=$((total + f[11] + f[12]))
    done
    echo "$total"
}
# A /proc/PID/status field in KiB (VmRSS, VmHWM), summed over the proxy's processes.
status_kib() {
    local field=$1 total=0 pid kib
    for pid in $(procs); do
        kib=$(awk -v f="$field:" '$1 == f { print $2 }' "/proc/$pid/status" 2>/dev/null) || continue
        total=$((total + ${kib:-0}))
    done
    echo "$total"
}

# The machine's busy ticks (user, nice, system, irq, softirq) and the ticks
# the hypervisor ran something else on this VM's vCPUs (steal). On these VMs
# a task's utime+stime includes the time stolen while it ran: a run with much
# steal is a noisy one. The per-run line also shows the CPU scaled by
# busy/(busy+steal), an estimate that assumes the steal fell evenly.
machine_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8, $9 }' /proc/stat; }
# Datagrams dropped by the kernel: machine-wide (a full socket buffer), and
# on the sockets bound to a port (ss's skmem d).
rcvbuf_errors() { awk '$1 == "Udp:" && !h { for (i = 2; i <= NF; i++) c[$i] = i; h = 1; next } $1 == "Udp:" { print $c["RcvbufErrors"] }' /proc/net/snmp; }
sock_drops() { ss -Huanm "sport = :$1" | grep -o 'skmem:([^)]*' | grep -o ',d[0-9]*' | tr -d ',d' | awk '{ s += $1 } END { print s + 0 }'; }

# start_proxy KIND DIR PORT: a fresh proxy listening on 127.0.0.1:PORT.
start_proxy() {
    local kind=$1 dir=$2 port=$3
    case $kind in
        sipwarden_* | register_*)
            local plugin_dir=none front durability
            case $kind in
                sipwarden_plugins) plugin_dir=plugins ;;
                sipwarden_1plugin) plugin_dir=plugins1 ;;
                sipwarden_2plugins) plugin_dir=plugins2 ;;
                register_*) plugin_dir=bundle ;;
            esac
            if [[ $kind == register_* ]]; then
                durability=${kind#register_}
                front="[registrar]
domains = [\"127.0.0.1\"]"
            else
                durability=batched
                front="[upstream]
uri = \"sip:127.0.0.1:$uas_port\""
            fi
            cat >"$dir/sipwarden.toml" <<EOF
[plugins]
dir = "$work/$plugin_dir"
watch = false
[listen]
udp = ["127.0.0.1:$port"]
$front
[audit]
path = "audit.jsonl"
durability = "$durability"
[directory]
file = "$work/stores/directory.toml"
[credentials]
file = "$work/stores/credentials.toml"
algorithms = ["MD5", "SHA-256"]
check-uri = false
[admin]
listen = "127.0.0.1:$admin_port"
EOF
            "$SIPWARDEN" --log warn serve --config "$dir/sipwarden.toml" 2>"$dir/proxy.log" &
            proxy_pid=$!
            pids+=("$proxy_pid")
            for _ in $(seq 300); do
                curl -sf "http://127.0.0.1:$admin_port/healthz" >/dev/null && break
                kill -0 "$proxy_pid" 2>/dev/null || break
                sleep 0.1
            done
            curl -sf "http://127.0.0.1:$admin_port/healthz" >/dev/null || { cat "$dir/proxy.log" >&2; exit 1; }
            ;;
        kamailio_stateless | kamailio_stateful)
            E2E_UAS="sip:127.0.0.1:$uas_port" kamailio -f "$repo/bench/e2e/${kind/_/-}.cfg" -DD -E \
                -m 256 -M 8 -P "$dir/kamailio.pid" -Y "$dir" \
                -A "LISTEN_PORT=$port" -A "CHILDREN=$children" >"$dir/proxy.log" 2>&1 &
            proxy_pid=$!
            pids+=("$proxy_pid")
            # Up when every SIP worker has bound the socket.
            for _ in $(seq 100); do
                (($(ss -Hlunp "sport = :$port" | grep -o 'pid=' | wc -l) >= children)) && break
                kill -0 "$proxy_pid" 2>/dev/null || break
                sleep 0.1
            done
            (($(ss -Hlunp "sport = :$port" | grep -o 'pid=' | wc -l) >= children)) || { tail -n 30 "$dir/proxy.log" >&2; exit 1; }
            ;;
    esac
    sleep 0.5
}

stop_proxy() {
    kill "$proxy_pid" 2>/dev/null || true
    wait "$proxy_pid" 2>/dev/null || true
    proxy_pid=""
}

# run KIND ROUND: one run against a fresh proxy; appends a line of figures
# to results (kind cpu_us rss_kib calls success failed held_bytes) and the response
# times (ms) to KIND.times.
run() {
    local kind=$1 round=$2 port n r scenario
    local dir=$work/$kind.$round
    mkdir "$dir"
    case $kind in
        sipwarden_none) port=$base ;;
        sipwarden_plugins) port=$((base + 1)) ;;
        kamailio_stateless) port=$((base + 2)) ;;
        kamailio_stateful) port=$((base + 3)) ;;
        register_*) port=$((base + 4)) ;;
        sipwarden_1plugin) port=$((base + 5)) ;;
        sipwarden_2plugins) port=$((base + 6)) ;;
    esac
    if [[ $kind == register_* ]]; then
        n=$reg_calls r=$reg_rate scenario=$repo/bench/e2e/register_auth.xml
    else
        n=$calls r=$rate scenario=$repo/bench/e2e/message_uac.xml
    fi
    start_proxy "$kind" "$dir" "$port"
    [[ -z $(ss -Hlun "sport = :$uac_port") ]] || { echo "e2e.sh: sipp's port $uac_port is in use" >&2; exit 1; }
    local before after busy0 busy1 steal0 steal1 t0 t1
    read -r busy0 steal0 < <(machine_ticks)
    local rcvbuf0 uas_drops0
    rcvbuf0=$(rcvbuf_errors) uas_drops0=$(sock_drops "$uas_port")
    local rss0
    rss0=$(status_kib VmRSS)
    t0=$(date +%s%N)
    before=$(cpu_ticks)
    (cd "$dir" && sipp "127.0.0.1:$port" -sf "$scenario" -i 127.0.0.1 -p "$uac_port" \
        -mp "$uac_media" -cp "$uac_ctl" -m "$n" -r "$r" -nostdin -timeout $((n / r + 60))s \
        -key target "sip:bob@127.0.0.1" -s alice -au alice -ap alice-secret \
        -key domain 127.0.0.1 -key contact_port "$uas_port" -key expires 300 \
        -trace_stat -stf stat.csv -fd 1 -trace_msg >uac.log 2>&1) || true
    after=$(cpu_ticks)
    t1=$(date +%s%N)
    read -r busy1 steal1 < <(machine_ticks)
    local rss drops
    rss=$(status_kib VmHWM)
    drops="UDP drops: proxy $(sock_drops "$port"), UAS $(($(sock_drops "$uas_port") - uas_drops0)), machine $(($(rcvbuf_errors) - rcvbuf0))"
    stop_proxy
    local success failed retrans elapsed
    read -r success failed retrans elapsed < <(awk -F';' '
        NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
        { last = $0 }
        END {
            split(last, f, ";")
            printf "%s %s %s %s\n", f[col["SuccessfulCall(C)"]] + 0, f[col["FailedCall(C)"]] + 0,
                f[col["Retransmissions(C)"]] + 0, f[col["ElapsedTime(C)"]]
        }' "$dir/stat.csv" 2>/dev/null || echo "0 0 0 ?")
    # Per Call-ID: first request sent to the first 200 received, in ms.
    awk '
        /^-----------------------------------------------/ {
            # sipp also logs messages of dead calls, after a line without a time: skipped.
            dir = ""
            if ($NF !~ /^[0-9][0-9]:[0-9][0-9]:[0-9][0-9]\.[0-9]+$/) next
            split($NF, t, ":"); at = t[1] * 3600 + t[2] * 60 + t[3] + day
            if (at < last - 43200) { day += 86400; at += 86400 }
            last = at; next
        }
        /^UDP message sent/ { dir = "sent"; status = ""; next }
        /^UDP message received/ { dir = "received"; status = ""; next }
        dir == "received" && status == "" && /^SIP\/2\.0 / { status = $2 }
        /^Call-ID:/ {
            if (dir == "sent" && !($2 in sent)) sent[$2] = at
            if (dir == "received" && status == "200" && !($2 in done)) { done[$2] = 1; printf "%.3f\n", (at - sent[$2]) * 1000 }
        }' "$dir"/*_messages.log >>"$work/$kind.times"
    local others
    others=$(awk -v b=$((busy1 - busy0)) -v st=$((steal1 - steal0)) -v dt=$((t1 - t0)) -v tck="$tck" -v n="$children" \
        -v t=$((after - before)) -v s="$success" 'BEGIN {
            printf "steal %.0f%% of the %d vCPUs, %.0f%% of busy time", st / (dt / 1e9 * tck * n) * 100, n, st / (b + st) * 100
            if (s > 0) printf " (CPU without it ~%.1f us/call)", t * 1e6 / tck / s * b / (b + st) }')
    local lost=$((n - success))
    local cpu_us="?"
    ((success > 0)) && cpu_us=$(awk -v t=$((after - before)) -v tck="$tck" -v s="$success" 'BEGIN { printf "%.1f", t * 1e6 / tck / s }')
    local held="?"
    ((success > 0)) && held=$(awk -v a="$rss" -v b="$rss0" -v s="$success" 'BEGIN { printf "%.0f", (a - b) * 1024 / s }')
    echo "$kind $cpu_us $rss $n $success $lost $held" >>"$work/results"
    printf "round %d %-20s %6d calls at %5d/s in %s: CPU %6.2f s, %7s µs/call, VmHWM %6.1f MiB (VmRSS before %.1f MiB: %s B per transaction held), ok %d, failed %d (FailedCall %d), retransmissions %d; %s; %s\n" \
        "$round" "$kind" "$n" "$r" "$elapsed" "$(awk -v t=$((after - before)) -v tck="$tck" 'BEGIN { print t / tck }')" \
        "$cpu_us" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$(awk -v k="$rss0" 'BEGIN { print k / 1024 }')" "$held" \
        "$success" "$lost" "$failed" "$retrans" "$others" "$drops" >&2
    if ((lost > 0)); then
        tail -n 5 "$dir/proxy.log" | sed "s|^|    $kind proxy.log: |" >&2
    fi
}

read -r -a proxies <<<"${PROXIES-sipwarden_none sipwarden_plugins kamailio_stateless kamailio_stateful}"
read -r -a registers <<<"${REGISTERS-register_batched register_strict}"
for kind in "${proxies[@]}"; do
    case $kind in
        sipwarden_none | sipwarden_1plugin | sipwarden_2plugins | sipwarden_plugins | kamailio_stateless | kamailio_stateful) ;;
        *) echo "e2e.sh: unknown proxy in PROXIES: $kind" >&2; exit 2 ;;
    esac
done
for kind in "${registers[@]}"; do
    [[ $kind == register_batched || $kind == register_strict ]] || { echo "e2e.sh: unknown run in REGISTERS: $kind" >&2; exit 2; }
done
echo "e2e.sh: $rounds rounds; MESSAGE $calls per proxy per round at $rate/s; REGISTER $reg_calls at $reg_rate/s; $children cores; work in $work ($(df -T "$work" | awk 'NR == 2 { print $2 }'))" >&2
start=$(date +%s)
for round in $(seq "$rounds"); do
    for kind in "${proxies[@]}" "${registers[@]}"; do run "$kind" "$round"; done
done

# summary KIND RATE LABEL: one table row over the rounds.
summary() {
    local kind=$1 r=$2 label=$3 w=${4:-19}
    local cpu rss n failed p50 p99 times=$work/$kind.times count held
    grep -q "^$kind " "$work/results" 2>/dev/null || return 0
    cpu=$(awk -v k="$kind" '$1 == k { print $2 }' "$work/results" | sort -n | awk '
        { v[NR] = $1 } END { if (NR % 2) printf "%.1f", v[(NR + 1) / 2]; else printf "%.1f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
    rss=$(awk -v k="$kind" '$1 == k && $3 > m { m = $3 } END { printf "%.1f", m / 1024 }' "$work/results")
    n=$(awk -v k="$kind" '$1 == k { s += $4 } END { print s }' "$work/results")
    held=$(awk -v k="$kind" '$1 == k { v[++c] = $7 } END { m = v[1]; for (i = 2; i <= c; i++) if (v[i] > m) m = v[i]; print m }' "$work/results")
    failed=$(awk -v k="$kind" '$1 == k { s += $6 } END { print s }' "$work/results")
    sort -n -o "$times" "$times"
    count=$(wc -l <"$times")
    p50=$(awk -v n="$count" 'NR == int(n * 0.50 + 0.999) { print; exit }' "$times")
    p99=$(awk -v n="$count" 'NR == int(n * 0.99 + 0.999) { print; exit }' "$times")
    printf "| %-44s | %5d/s | %6d | %*s | %12s | %10s | %6d | %8s ms | %8s ms |\n" \
        "$label" "$r" "$n" "$w" "$cpu" "$rss" "$held" "$failed" "${p50:-?}" "${p99:-?}"
}
cpu_of() { awk -v k="$1" '$1 == k { print $2 }' "$work/results" | sort -n | awk '
    { v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo
echo "MESSAGE through each proxy to a sipp UAS ($rounds rounds, $calls per proxy per round, $children cores, Kamailio children=$children)"
echo
echo "| proxy                                        |    rate |  calls | CPU/txn µs (median) | peak RSS MiB | B/txn held | failed |         p50 |         p99 |"
echo "|----------------------------------------------|---------|--------|---------------------|--------------|------------|--------|-------------|-------------|"
summary sipwarden_none "$rate" "sipwarden, upstream mode, no plugins"
summary sipwarden_1plugin "$rate" "sipwarden, upstream mode, identity alone"
summary sipwarden_2plugins "$rate" "sipwarden, upstream, identity + lookup-guard"
summary sipwarden_plugins "$rate" "sipwarden, upstream mode, 4 bundled policies"
summary kamailio_stateless "$rate" "Kamailio $(kamailio -v | awk 'NR == 1 { print $3 }') stateless forward()"
summary kamailio_stateful "$rate" "Kamailio $(kamailio -v | awk 'NR == 1 { print $3 }') stateful t_relay()"
if ((${#registers[@]})); then
    echo
    echo "REGISTER with digest (401, then 200) to sipwarden's registrar through the 4 bundled policies (identity, audit); CPU per REGISTER transaction pair"
    echo
    echo "| sipwarden registrar                          |    rate |  calls | CPU/pair µs (median) | peak RSS MiB | B/txn held | failed |         p50 |         p99 |"
    echo "|----------------------------------------------|---------|--------|----------------------|--------------|------------|--------|-------------|-------------|"
    summary register_batched "$reg_rate" "[audit] durability = \"batched\"" 20
    summary register_strict "$reg_rate" "[audit] durability = \"strict\"" 20
fi
echo
echo "e2e.sh: $(($(date +%s) - start)) s of runs"
ratio() {
    local a b
    grep -q "^$1 " "$work/results" && grep -q "^$2 " "$work/results" || return 0
    a=$(cpu_of "$1") b=$(cpu_of "$2")
    awk -v a="$a" -v b="$b" -v name="$1/$2" 'BEGIN { printf "ratio cpu_per_txn %s: %.2f\n", name, a / b }'
}
ratio sipwarden_plugins kamailio_stateless
ratio sipwarden_none kamailio_stateless
