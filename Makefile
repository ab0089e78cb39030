GO ?= go
# Extra flags for go test, e.g. make test TESTFLAGS='-run EndToEnd -v'
TESTFLAGS ?=
# How long make fuzz runs each fuzz target; make test runs each for FUZZTIME_TEST.
FUZZTIME ?= 2m
FUZZTIME_TEST ?= 3s
# Every fuzz target, as NAME:PACKAGE.
FUZZ_TARGETS := FuzzSetup:. FuzzServeDNS:. FuzzParseOverrides:. FuzzProbeHTTP:./healthcheck
# Go benchmarks: repetitions (for benchstat) and the pattern of what runs.
BENCHCOUNT ?= 6
BENCH ?= .

# The container image: its name and tag (v1.15.0-failover.N: the CoreDNS
# version, then ours), and the time stamped on everything in it, the last
# commit's, so that the same source gives the same digest.
IMAGE ?= failover-coredns:v1.15.0-failover.0
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)

.PHONY: all coredns checkconf image example example-primary test monitoring fuzz bench bench-go bench-e2e bench-scale bench-scale-failover clean

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

test:
	@unformatted="$$(gofmt -l $$(find . -name '*.go' -not -path './.example/*'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 15m $(TESTFLAGS) ./...
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
bench: bench-go bench-e2e bench-scale bench-scale-failover

bench-go:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -count $(BENCHCOUNT) ./...

bench-e2e:
	./bench/e2e.sh

# The probe engine at scale: 10,000 HTTP endpoints on loopback addresses, served
# by a separate process, probed every second; prints the probe rate, lateness,
# and the prober's CPU time and memory. SCALEFLAGS adds flags (go run ./bench/scale
# -h lists them); pinned: taskset -c 0 make bench-scale SCALEFLAGS='-server-cpus 1'.
bench-scale:
	GO='$(GO)' $(GO) run ./bench/scale -endpoints 10000 -duration 30s $(SCALEFLAGS)

# The real plugin at scale: every primary fails at once, under 2,000 names (a
# block each) and 10,000 names (5 a block), two endpoints a block; prints when
# the answers moved and the probes' lateness through it.
bench-scale-failover:
	GO='$(GO)' $(GO) run ./bench/scale -names 2000 $(SCALEFLAGS)
	GO='$(GO)' $(GO) run ./bench/scale -names 10000 -per-block 5 $(SCALEFLAGS)

clean:
	rm -rf coredns checkconf .example _out
