#!/usr/bin/env bash
# Checks the alerting rules and the Grafana dashboard of monitoring/: the rules
# and their unit tests with promtool, the dashboard's queries parsed by
# promtool as recording rules, and every coredns_failover_ metric and selector
# label against what the plugin exports (dashcheck).
set -euo pipefail
cd "$(dirname "$0")/.."
GO="${GO:-go}"

# promtool comes from the Debian package prometheus. When it is not installed,
# the package is downloaded and only promtool taken out of it, under .cache/:
# installing the package would also start a Prometheus server, and needs root.
if ! command -v promtool >/dev/null 2>&1; then
	cached=.cache/prometheus/usr/bin
	if [ ! -x "$cached/promtool" ]; then
		echo "promtool not found: fetching it from the Debian package prometheus"
		mkdir -p .cache
		sudo=""
		[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo=sudo
		(cd .cache && { apt-get download prometheus 2>/dev/null ||
			{ $sudo apt-get update -qq && apt-get download prometheus; }; }) || {
			echo "promtool not found and the Debian package prometheus could not be downloaded: install it" >&2
			exit 1
		}
		dpkg-deb -x .cache/prometheus_*.deb .cache/prometheus
		rm -f .cache/prometheus_*.deb
	fi
	PATH="$PWD/$cached:$PATH"
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

promtool check rules monitoring/alerts.yml
promtool test rules monitoring/alerts_test.yml

# Record names are dashboard:panel_ID_N, N the target's index in the panel.
"$GO" run ./monitoring/dashcheck -dashboard monitoring/grafana-dashboard.json \
	-rules-out "$tmp/dashboard.rules.yml" monitoring/alerts.yml monitoring/alerts_test.yml
echo "Checking the queries of monitoring/grafana-dashboard.json"
promtool check rules "$tmp/dashboard.rules.yml"
echo "monitoring: ok"
