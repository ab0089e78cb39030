#!/usr/bin/env bash
# End-to-end load test: CoreDNS serving app.example.org from `hosts`, without and with a
# `failover` block that rewrites every answer, measured with dnsperf over alternating rounds.
# With MODE=dnssec (make bench-dnssec), app.example.org comes from `file`, signed by `dnssec`
# behind `cache`, and the queries ask for signatures (DO): failover's answer is signed again.
# Run from the repository root (make bench). Settings, all optional:
#   MODE=hosts             or dnssec
#   ROUNDS=4 DURATION=10   rounds per configuration, seconds of load per round
#   CLIENTS=10 OUTSTANDING=100   dnsperf -c and -q (see the choice below)
#   PORT, CHECK_PORT       DNS port and backend health-check port (default: first free from
#                          10053 and 18080)
#   SERVER_IP=127.0.0.1 PRIMARY_IP=127.0.0.61 SECONDARY_IP=127.0.0.62   where CoreDNS and the
#                          backends listen
# Prints a summary to stdout and always exits 0 once measured; "TARGET MET" when the
# failover configuration keeps at least 95% of the baseline's median throughput.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-4}
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-10}
OUTSTANDING=${OUTSTANDING:-100}
MODE=${MODE:-hosts}
SERVER_IP=${SERVER_IP:-127.0.0.1}
PRIMARY_IP=${PRIMARY_IP:-127.0.0.61}
SECONDARY_IP=${SECONDARY_IP:-127.0.0.62}
TARGET=0.95
case $MODE in
hosts | dnssec) ;;
*)
	echo "MODE is hosts or dnssec, not '$MODE'" >&2
	exit 2
	;;
esac

command -v go >/dev/null 2>&1 || export PATH="/usr/local/go/bin:$PATH"

# Everything started in the background is recorded here and stopped on any exit,
# including errors and Ctrl-C.
pids=()
tmp=$(mktemp -d)
cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		# CoreDNS and the backends stop at once on SIGTERM; SIGKILL only if one hangs.
		for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Tools: dnsperf is the load generator, dig the probe that checks the answers are right.
missing=()
command -v dnsperf >/dev/null 2>&1 || missing+=(dnsperf)
command -v dig >/dev/null 2>&1 || missing+=(bind9-dnsutils)
[ "$MODE" = hosts ] || command -v dnssec-keygen >/dev/null 2>&1 || missing+=(bind9-utils)
if [ "${#missing[@]}" -gt 0 ]; then
	sudo=()
	[ "$(id -u)" = 0 ] || sudo=(sudo)
	"${sudo[@]}" apt-get update -qq
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

go build -o coredns ./plugin/coredns
go build -o "$tmp/backend" ./example/backend

# With two or more cores, CoreDNS gets core 0 to itself (GOMAXPROCS=1 so the Go runtime does
# not spread onto the load generator's core) and dnsperf and the backends run on core 1: the
# figures then measure one core of CoreDNS, not a contest between server and client.
server_pin=()
client_pin=()
server_env=()
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
	server_pin=(taskset -c 0)
	client_pin=(taskset -c 1)
	server_env=(GOMAXPROCS=1)
fi

in_use() { # PORT: whether anything listens on PORT (TCP or UDP)
	if command -v ss >/dev/null 2>&1; then
		[ -n "$(ss -Htuln "sport = :$1")" ]
	else
		(exec 3<>"/dev/tcp/$SERVER_IP/$1") 2>/dev/null
	fi
}
free_port() { # FIRST: the first port from FIRST on that nothing listens on
	local p=$1
	while in_use "$p"; do p=$((p + 1)); done
	echo "$p"
}
PORT=${PORT:-$(free_port 10053)}
CHECK_PORT=${CHECK_PORT:-$(free_port 18080)}

# The two backends only have to accept TCP connections, so that the primary stays healthy and
# failover answers the primary on every query.
for backend in primary:$PRIMARY_IP secondary:$SECONDARY_IP; do
	name=${backend%%:*} addr=${backend#*:}
	"${client_pin[@]}" "$tmp/backend" -name "$name" -listen "$addr:$CHECK_PORT" >"$tmp/$name.log" 2>&1 &
	pids+=($!)
done
for addr in $PRIMARY_IP $SECONDARY_IP; do
	for i in $(seq 100); do
		(exec 3<>"/dev/tcp/$addr/$CHECK_PORT") 2>/dev/null && break
		if [ "$i" = 100 ]; then
			echo "backend on $addr:$CHECK_PORT does not accept connections" >&2
			cat "$tmp"/primary.log "$tmp"/secondary.log >&2
			exit 1
		fi
		sleep 0.1
	done
done

# The two Corefiles differ only by the failover block.
if [ "$MODE" = hosts ]; then
	zone_block="    bind $SERVER_IP
    hosts {
        192.0.2.10 app.example.org
    }"
else
	# A key as the dnssec plugin's README makes one; one key signs everything.
	key=$(dnssec-keygen -q -K "$tmp" -a ECDSAP256SHA256 -f KSK example.org)
	cat >"$tmp/db.example.org" <<EOF
\$ORIGIN example.org.
@    3600 IN SOA ns.example.org. admin.example.org. 1 7200 3600 1209600 300
@    3600 IN NS  ns.example.org.
ns   3600 IN A   192.0.2.53
app  3600 IN A   192.0.2.10
EOF
	zone_block="    bind $SERVER_IP
    file $tmp/db.example.org
    dnssec {
        key file $tmp/$key
    }
    cache"
fi
cat >"$tmp/baseline.Corefile" <<EOF
example.org:$PORT {
$zone_block
}
EOF
cat >"$tmp/failover.Corefile" <<EOF
example.org:$PORT {
$zone_block
    failover app.example.org {
        primary   $PRIMARY_IP
        secondary $SECONDARY_IP
        check     tcp://:$CHECK_PORT
        interval  1s
        timeout   500ms
    }
}
EOF
echo "app.example.org A" >"$tmp/queries" # dnsperf loops over the file for the whole run

declare -A expect=([baseline]=192.0.2.10 [failover]=$PRIMARY_IP)
# -q 100 outstanding keeps CoreDNS's socket never empty: on 2 cores, 10 left it idle at times
# (lower qps), 25 to 100 gave the same qps, and more only queued longer (latency grows with
# -q at equal qps) until 400 overflowed the socket buffer and lost queries. -c 10 spreads the
# queries over 10 source ports. -t 1 keeps a lost query from holding its slot for 5s. -v prints
# the latency of every query, the only source of a p99 in dnsperf 2.10, and costs dnsperf
# little (it stays far below 100% of its core).
dnsperf_cmd=(dnsperf -s "$SERVER_IP" -p "$PORT" -d "$tmp/queries" -l "$DURATION"
	-c "$CLIENTS" -q "$OUTSTANDING" -t 1 -v)
# -D: the DO bit, which has dnssec (and failover) sign every answer.
[ "$MODE" = hosts ] || dnsperf_cmd+=(-D)
clk_tck=$(getconf CLK_TCK)

answer() { # the addresses answered for app.example.org; dig prints its errors on stdout too
	if [ "$MODE" = hosts ]; then
		dig @"$SERVER_IP" -p "$PORT" app.example.org A +short +time=1 +tries=1 2>/dev/null |
			grep -E '^[0-9.]+$' || true
		return
	fi
	# With dnssec, an address counts only with the signature over it.
	dig @"$SERVER_IP" -p "$PORT" app.example.org A +dnssec +short +time=1 +tries=1 2>/dev/null |
		awk '/^[0-9.]+$/ {a = a $0} /^A [0-9]+ / {signed = 1} END {if (a != "") print (signed ? a : "unsigned " a)}' || true
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime
children_cpu() { # user + system seconds of the shell's reaped children, from `times`
	# `times` must run in this shell, not in a $(...) subshell that has no children of its own.
	times >"$tmp/times"
	awk 'NR == 2 {
		for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); s += t[1] * 60 + t[2] }
		print s
	}' "$tmp/times"
}
forget() { # PID: drop PID from the processes to stop, once it has been reaped
	local p kept=()
	for p in "${pids[@]}"; do [ "$p" = "$1" ] || kept+=("$p"); done
	pids=("${kept[@]}")
}
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

echo "results: round config qps avg_ms p99_ms lost non_noerror rss_mib hwm_mib server_cpu% dnsperf_cpu%"
run_round() { # ROUND CONFIG: one measured run of CoreDNS with CONFIG's Corefile
	local round=$1 config=$2 pid i got
	env "${server_env[@]}" "${server_pin[@]}" ./coredns -conf "$tmp/$config.Corefile" >"$tmp/coredns.log" 2>&1 &
	pid=$!
	pids+=("$pid")

	# Ready when it answers what this configuration must answer; a wrong answer (for failover,
	# hosts' 192.0.2.10) means the comparison would be meaningless, so it stops the test.
	for i in $(seq 100); do
		got=$(answer)
		[ -n "$got" ] && break
		if ! kill -0 "$pid" 2>/dev/null || [ "$i" = 100 ]; then
			echo "CoreDNS ($config) did not start answering on $SERVER_IP:$PORT" >&2
			cat "$tmp/coredns.log" >&2
			exit 1
		fi
		sleep 0.1
	done
	if [ "$got" != "${expect[$config]}" ]; then
		echo "CoreDNS ($config) answers '$got', want ${expect[$config]}" >&2
		cat "$tmp/coredns.log" >&2
		exit 1
	fi

	# dnsperf runs in the background so that a signal reaches the traps at once; its CPU time
	# is the growth of the shell's children times (it is the only child reaped meanwhile).
	local ticks0 ticks1 start end wall dp
	ticks0=$(cpu_ticks "$pid")
	children_cpu >"$tmp/child0"
	start=$EPOCHREALTIME
	"${client_pin[@]}" "${dnsperf_cmd[@]}" >"$tmp/dnsperf.out" 2>&1 &
	dp=$!
	pids+=("$dp")
	wait "$dp" || { echo "dnsperf ($config) failed:" >&2; cat "$tmp/dnsperf.out" >&2; exit 1; }
	forget "$dp"
	end=$EPOCHREALTIME
	children_cpu >"$tmp/child1"
	wall=$(awk -v a="$start" -v b="$end" 'BEGIN {print b - a}')
	ticks1=$(cpu_ticks "$pid")
	local rss hwm
	rss=$(status_kb "$pid" VmRSS)
	hwm=$(status_kb "$pid" VmHWM)

	# The answer must still be the expected one after the load: for failover, the primary
	# stayed healthy throughout.
	got=$(answer)
	if [ "$got" != "${expect[$config]}" ]; then
		echo "CoreDNS ($config) answers '$got' after the load, want ${expect[$config]}" >&2
		cat "$tmp/coredns.log" >&2
		exit 1
	fi
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	forget "$pid"

	local qps avg lost p99 bad
	qps=$(awk '/Queries per second:/ {print $4}' "$tmp/dnsperf.out")
	avg=$(awk '/Average Latency \(s\):/ {print $4 * 1000}' "$tmp/dnsperf.out")
	lost=$(awk '/Queries lost:/ {print $3}' "$tmp/dnsperf.out")
	if [ -z "$qps" ] || [ -z "$avg" ]; then
		echo "dnsperf ($config) printed no statistics:" >&2
		cat "$tmp/dnsperf.out" >&2
		exit 1
	fi
	# dnsperf 2.10 has no latency histogram; -v prints "> RCODE NAME TYPE SECONDS" per query,
	# RCODE T for a timeout and I for an interrupted one. The p99 is the nearest-rank 99th
	# percentile over the answered queries; timeouts are counted apart as lost.
	p99=$(awk '$1 == ">" && $2 != "T" && $2 != "I" {print $NF}' "$tmp/dnsperf.out" | LC_ALL=C sort -g |
		awk '{v[NR] = $1} END {i = int(NR * 0.99); if (i < NR * 0.99) i++; if (i < 1) i = 1; print v[i] * 1000}')
	bad=$(awk '$1 == ">" && $2 != "NOERROR" && $2 != "T" && $2 != "I" {n++} END {print n + 0}' "$tmp/dnsperf.out")

	# CPU shares show which side is the bottleneck: CoreDNS near 100% of its core, dnsperf well below.
	local server_cpu client_cpu
	server_cpu=$(awk -v t=$((ticks1 - ticks0)) -v hz="$clk_tck" -v w="$wall" 'BEGIN {printf "%.0f", 100 * t / hz / w}')
	client_cpu=$(awk -v a="$(<"$tmp/child0")" -v b="$(<"$tmp/child1")" -v w="$wall" 'BEGIN {printf "%.0f", 100 * (b - a) / w}')
	printf 'result: %d %-8s %8.0f %7.3f %7.3f %5d %5d %7.1f %7.1f %4d %4d\n' "$round" "$config" "$qps" \
		"$avg" "$p99" "$lost" "$bad" "$(awk -v k="$rss" 'BEGIN {print k / 1024}')" \
		"$(awk -v k="$hwm" 'BEGIN {print k / 1024}')" "$server_cpu" "$client_cpu"
	# Queries per CPU-second of CoreDNS: what the server does with the CPU it got, a figure
	# less sensitive than qps to other processes taking part of its core.
	local per_core
	per_core=$(awk -v q="$qps" -v t=$((ticks1 - ticks0)) -v hz="$clk_tck" -v w="$wall" 'BEGIN {print q * w / (t / hz)}')
	echo "$config $qps $avg $p99 $hwm $server_cpu $client_cpu $per_core" >>"$tmp/results"
	if [ "$bad" -gt 0 ] || [ "$lost" -gt 0 ]; then
		echo "warning: $bad answers were not NOERROR and $lost queries were lost (OUTSTANDING too high?)" >&2
	fi
	if [ "$client_cpu" -ge 90 ]; then
		echo "warning: dnsperf used ${client_cpu}% of its core, it may be the bottleneck" >&2
	fi
	if [ -n "${server_pin[*]}" ] && [ "$server_cpu" -lt 90 ]; then
		echo "warning: CoreDNS got only ${server_cpu}% of its core: other processes compete for it, figures are noisy" >&2
	fi
}

# Alternating the configurations spreads drifts in the machine's load over both.
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq "$ROUNDS"); do
	run_round "$round" baseline
	run_round "$round" failover
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

stats() { # CONFIG COLUMN SCALE FORMAT: "median (min-max)" of COLUMN * SCALE over CONFIG's rounds
	awk -v c="$1" -v col="$2" '$1 == c {print $col}' "$tmp/results" | LC_ALL=C sort -g |
		awk -v s="$3" -v f="$4" '{v[NR] = $1 * s} END {
			m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf f " (" f "-" f ")", m, v[1], v[NR]
		}'
}
median() { # CONFIG COLUMN
	awk -v c="$1" -v col="$2" '$1 == c {print $col}' "$tmp/results" | LC_ALL=C sort -g |
		awk '{v[NR] = $1} END {print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

echo
echo "== failover e2e benchmark ($MODE): $ROUNDS rounds of ${DURATION}s per configuration, alternating"
echo "machine:  nproc $(nproc), $(uname -sm), load average $load_before before, $load_after after"
echo "dnsperf:  $(dnsperf -h 2>&1 | awk '/^Version/ {print $2}')"
echo "coredns:  ${server_env[*]} ${server_pin[*]} ./coredns -conf CONFIG.Corefile ($SERVER_IP:$PORT)"
echo "load:     ${client_pin[*]} ${dnsperf_cmd[*]/#$tmp\//}"
if [ "$MODE" = hosts ]; then
	echo "queries:  app.example.org A (baseline answers 192.0.2.10 from hosts, failover rewrites to $PRIMARY_IP)"
else
	echo "queries:  app.example.org A, DO (baseline: file, dnssec, cache answer 192.0.2.10 signed; failover"
	echo "          rewrites to $PRIMARY_IP and has dnssec sign it)"
fi
echo "figures:  median (min-max) over rounds; latencies in ms; peak RSS is VmHWM in MiB;"
echo "          cpu% is the share of one core over the run (CoreDNS near 100% means it is the bottleneck)"
printf '%-9s %-22s %-20s %-22s %-17s %-13s %s\n' config qps avg_latency_ms p99_latency_ms \
	peak_rss_mib server_cpu% dnsperf_cpu%
for config in baseline failover; do
	printf '%-9s %-22s %-20s %-22s %-17s %-13s %s\n' "$config" "$(stats "$config" 2 1 %.0f)" \
		"$(stats "$config" 3 1 %.3f)" "$(stats "$config" 4 1 %.3f)" "$(stats "$config" 5 0.0009765625 %.1f)" \
		"$(stats "$config" 6 1 %.0f)" "$(stats "$config" 7 1 %.0f)"
done
echo "queries per CPU-second of CoreDNS: baseline $(stats baseline 8 1 %.0f), failover $(stats failover 8 1 %.0f)," \
	"ratio of medians $(awk -v f="$(median failover 8)" -v b="$(median baseline 8)" 'BEGIN {printf "%.3f", f / b}')"
ratio=$(awk -v f="$(median failover 2)" -v b="$(median baseline 2)" 'BEGIN {printf "%.3f", f / b}')
echo "qps ratio failover/baseline (medians): $ratio (target >= $TARGET)"
if awk -v r="$ratio" -v t="$TARGET" 'BEGIN {exit !(r >= t)}'; then
	echo "TARGET MET"
else
	echo "TARGET MISSED"
fi
