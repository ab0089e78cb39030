GO ?= go
# Extra flags for go test, e.g. make test TESTFLAGS='-run EndToEnd -v'
TESTFLAGS ?=

.PHONY: coredns example example-primary test clean

# CoreDNS with every standard plugin and failover. go build's cache makes the
# unconditional rebuild cheap.
coredns:
	$(GO) build -o coredns ./plugin/coredns

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

clean:
	rm -rf coredns .example
