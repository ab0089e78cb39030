#!/usr/bin/env bash
# Runs the failover demo: two backends on 127.0.0.11 and 127.0.0.12 (port 8080),
# and ./coredns with example/Corefile on 127.0.0.1 port 1053. Ctrl-C stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."

state=.example
mkdir -p "$state/bin"
go build -o coredns ./plugin/coredns
go build -o "$state/bin/backend" ./example/backend

start_backend() { # NAME ADDRESS
	"$state/bin/backend" -name "$1" -listen "$2" >"$state/$1.log" 2>&1 &
	echo $! >"$state/$1.pid"
}

stop_backends() {
	for pidfile in "$state"/*.pid; do
		[ -e "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
		rm -f "$pidfile"
	done
}

case "${1:-}" in
primary) # restart only the primary backend, in the background
	[ -e "$state/primary.pid" ] && kill "$(cat "$state/primary.pid")" 2>/dev/null || true
	start_backend primary 127.0.0.11:8080
	echo "primary backend started again (pid $(cat "$state/primary.pid"))"
	exit 0
	;;
esac

trap stop_backends EXIT
rm -f "$state/overrides" # no drill left over from a previous run
start_backend primary 127.0.0.11:8080
start_backend secondary 127.0.0.12:8080

cat <<MSG
failover demo: CoreDNS on 127.0.0.1:1053, backends on 127.0.0.11:8080 (primary) and 127.0.0.12:8080 (secondary).
In another terminal (dig is in Debian's bind9-dnsutils):

  dig @127.0.0.1 -p 1053 app.example.org +short   # 127.0.0.11
  kill "\$(cat $state/primary.pid)"                # stop the primary backend
  dig @127.0.0.1 -p 1053 app.example.org +short   # 127.0.0.12 within about 3 seconds
  make example-primary                            # start the primary again
  dig @127.0.0.1 -p 1053 app.example.org +short   # 127.0.0.11 again

Ctrl-C stops CoreDNS and the backends.
MSG
./coredns -conf example/Corefile
