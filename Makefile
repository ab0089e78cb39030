GO ?= go
# Extra flags for go test, e.g. make test TESTFLAGS='-run EndToEnd -v'
TESTFLAGS ?=
# How long make fuzz runs each fuzz target; make test runs each for FUZZTIME_TEST.
FUZZTIME ?= 2m
FUZZTIME_TEST ?= 3s
# Every fuzz target, as NAME:PACKAGE.
FUZZ_TARGETS := FuzzSetup:. FuzzServeDNS:. FuzzParseOverrides:. FuzzAlertmanagerWebhook:. FuzzProbeHTTP:./healthcheck
# Go benchmarks: repetitions (for benchstat) and the pattern of what runs.
BENCHCOUNT ?= 6
BENCH ?= .

# The container image: its name and tag (v1.15.0-failover.N: the CoreDNS
# version, then ours), and the time stamped on everything in it, the last
# commit's, so that the same source gives the same digest.
IMAGE ?= failover-coredns:v1.15.0-failover.0
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)

# The Kubernetes release the tests run kube-apiserver, etcd and kubectl of
# (the one whose client-go CoreDNS 1.15 uses), built by make k8s-assets from
# the wrapper module build/k8s into a cache keyed by version, shared by every
# checkout on the machine. internal/k8stest looks there (FAILOVER_K8S_ASSETS
# overrides); its tests check that this version is build/k8s's and theirs.
K8S_VERSION := v1.37.1
K8S_ASSETS ?= $(HOME)/.cache/failover/k8s/$(K8S_VERSION)
# What kube-apiserver and kubectl report as their version (/version, kubectl
# version): a go build leaves v0.0.0-master.
K8S_LDFLAGS := $(foreach pkg,k8s.io/component-base/version k8s.io/client-go/pkg/version,\
	-X $(pkg).gitVersion=$(K8S_VERSION) -X $(pkg).gitMajor=$(word 1,$(subst ., ,$(K8S_VERSION:v%=%))) \
	-X $(pkg).gitMinor=$(word 2,$(subst ., ,$(K8S_VERSION:v%=%))) -X $(pkg).gitTreeState=clean)
# The tests that run a control plane: every test calling k8stest.Start is
# named TestK8s..., or TestFleet... for the replicas sharing health (make
# test-k8s TESTFLAGS='-run Fleet' runs those alone).
K8S_TESTS := ^(TestK8s|TestFleet)

.PHONY: all coredns checkconf image example example-primary test test-k8s k8s-assets monitoring fuzz bench bench-go bench-e2e bench-dnssec bench-scale bench-scale-checks bench-scale-failover bench-fleet clean

all: coredns checkconf

# CoreDNS with every standard plugin and failover. go build's cache makes the
# unconditional rebuild cheap.
coredns:
	$(GO) build -o coredns ./plugin/coredns

# Checks Corefiles as that CoreDNS reads them at startup, without starting
# them: ./checkconf Corefile... (- reads standard input).
checkconf:
	$(GO) build -o checkconf ./cmd/checkconf

# A linux/amd64 OCI image of a static coredns, built by build/image with
# go-containerregistry: no container engine, no base image. Writes _out/oci (an
# OCI layout) and _out/failover-coredns.tar (a docker-archive), prints the digest.
# Copies the build machine's CA bundle (Debian package ca-certificates).
image:
	@test -f /etc/ssl/certs/ca-certificates.crt || { echo "image: /etc/ssl/certs/ca-certificates.crt missing: apt-get install ca-certificates"; exit 1; }
	$(GO) run ./build/image -go '$(GO)' -out _out -tag '$(IMAGE)' -created $(SOURCE_DATE_EPOCH)

# Build and run the demo of the README: CoreDNS on 127.0.0.1:1053 and two backends.
example:
	./example/run.sh

# Start the demo's primary backend again after it was stopped.
example-primary:
	./example/run.sh primary

# kube-apiserver, etcd and kubectl for the tests, built from the Go module
# proxy (about 20 minutes on two cores, once a machine: a binary already in
# $(K8S_ASSETS) is not built again). Each is built in a temporary directory
# beside the cache and renamed into it, so that an interrupted build leaves
# nothing that looks complete.
k8s-assets:
	@set -e; mkdir -p '$(K8S_ASSETS)'; \
	for bin in etcd:go.etcd.io/etcd/server/v3 kube-apiserver:k8s.io/kubernetes/cmd/kube-apiserver kubectl:k8s.io/kubernetes/cmd/kubectl; do \
		name=$${bin%%:*}; pkg=$${bin#*:}; \
		if [ -x '$(K8S_ASSETS)'/$$name ]; then continue; fi; \
		echo "k8s-assets: building $$name $(K8S_VERSION) into $(K8S_ASSETS)"; \
		tmp=$$(mktemp -d '$(K8S_ASSETS)'/.build.XXXXXX); \
		( cd build/k8s && $(GO) build -trimpath -ldflags '$(K8S_LDFLAGS)' -o "$$tmp/$$name" "$$pkg" ) || { rm -rf "$$tmp"; exit 1; }; \
		mv "$$tmp/$$name" '$(K8S_ASSETS)'/$$name; rmdir "$$tmp"; \
	done

# Only the tests that run kube-apiserver and etcd.
test-k8s: k8s-assets
	FAILOVER_K8S_ASSETS='$(K8S_ASSETS)' $(GO) test -race -count=1 -timeout 15m -run '$(K8S_TESTS)' $(TESTFLAGS) ./...

test: k8s-assets
	@unformatted="$$(gofmt -l $$(find . -name '*.go' -not -path './.example/*'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	FAILOVER_K8S_ASSETS='$(K8S_ASSETS)' $(GO) test -race -count=1 -timeout 15m $(TESTFLAGS) ./...
	@$(MAKE) --no-print-directory monitoring
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME_TEST)

# The Prometheus alerting rules (promtool check and unit tests) and the Grafana
# dashboard's queries of monitoring/. Needs promtool, Debian package prometheus.
monitoring:
	GO='$(GO)' ./monitoring/check.sh

# Coverage-guided fuzzing of each target in turn. A failing input is written to
# the package's testdata/fuzz, where go test replays it from then on.
fuzz:
	@set -e; for target in $(FUZZ_TARGETS); do \
		name=$${target%%:*}; pkg=$${target#*:}; \
		echo "fuzz: $$name in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

# Go benchmarks of ServeDNS against loadbalance, then the end-to-end load test
# of ./coredns with dnsperf, with and without failover, and the probe engine
# at 10,000 endpoints. Needs a quiet machine.
bench: bench-go bench-e2e bench-dnssec bench-scale bench-scale-checks bench-scale-failover

bench-go:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -count $(BENCHCOUNT) ./...

bench-e2e:
	./bench/e2e.sh

# The same with a zone signed by dnssec behind cache, and queries with the DO bit: what
# failover's signing costs (README, DNSSEC).
bench-dnssec:
	MODE=dnssec ./bench/e2e.sh

# The probe engine at scale: 10,000 HTTP endpoints on loopback addresses, served
# by a separate process, probed every second; prints the probe rate, lateness,
# the prober's CPU time and memory, its CPU per probe beside the server's per
# request, the sockets in TIME_WAIT and a yardstick. SCALEFLAGS adds flags (go run ./bench/scale
# -h lists them); pinned: taskset -c 0 make bench-scale SCALEFLAGS='-server-cpus 1'.
bench-scale:
	GO='$(GO)' $(GO) run ./bench/scale -endpoints 10000 -duration 30s $(SCALEFLAGS)

# Each check at 10,000 endpoints, in 12 s windows: http and tcp (an accept-and-close
# server), each followed by HAProxy's checks of the same endpoints in the same run,
# and https (ECDSA P-256; SCALEFLAGS='-cert-key rsa' for RSA 2048) with the engine
# alone, then http with the real plugin (5,000 names, a primary and a secondary
# each; metrics and a status listener on) with nothing failing. Installs Debian's
# haproxy when it is missing.
bench-scale-checks:
	@command -v haproxy >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy; }
	GO='$(GO)' $(GO) run ./bench/scale -endpoints 10000 -duration 12s -check http -compare haproxy $(SCALEFLAGS)
	GO='$(GO)' $(GO) run ./bench/scale -endpoints 10000 -duration 12s -check tcp -compare haproxy $(SCALEFLAGS)
	GO='$(GO)' $(GO) run ./bench/scale -endpoints 10000 -duration 12s -check https $(SCALEFLAGS)
	GO='$(GO)' $(GO) run ./bench/scale -names 5000 -fail none -duration 12s -check http $(SCALEFLAGS)

# The real plugin at scale: every primary fails at once, under 2,000 names (a
# block each) and 10,000 names (5 a block), two endpoints a block; prints when
# the answers moved and the probes' lateness through it.
bench-scale-failover:
	GO='$(GO)' $(GO) run ./bench/scale -names 2000 $(SCALEFLAGS)
	GO='$(GO)' $(GO) run ./bench/scale -names 10000 -per-block 5 $(SCALEFLAGS)

# One CoreDNS replica's CPU in steady state (interval 1s), against a real API
# server and bench/scale's backend server: at 10,000 endpoints one real
# replica alone, and in a fleet with probers 1 whose two other replicas the
# benchmark simulates (their Leases); at 2,000 endpoints three real replicas
# without fleet, with probers 1 and with probers 3 (two cores cannot run
# three at 10,000). Prints two tables (go test ./bench/fleet -h lists
# -rounds, -warmup, -window: FLEETFLAGS='-rounds 3'). Takes about a quarter
# of an hour; needs a quiet machine.
bench-fleet: k8s-assets
	GO='$(GO)' FAILOVER_K8S_ASSETS='$(K8S_ASSETS)' $(GO) test -run '^$$' -bench FleetOneReplicaCPU -benchtime 1x -timeout 30m -v ./bench/fleet -endpoints 10000 -rounds 2 $(FLEETFLAGS)
	GO='$(GO)' FAILOVER_K8S_ASSETS='$(K8S_ASSETS)' $(GO) test -run '^$$' -bench FleetReplicaCPU -benchtime 1x -timeout 30m -v ./bench/fleet -endpoints 2000 -rounds 2 $(FLEETFLAGS)

clean:
	rm -rf coredns checkconf .example _out
