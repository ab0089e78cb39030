package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// costs are the CPU figures of a measured window: the prober's (this
// process) and the server's, each per unit of work, so that the two can be
// set side by side whatever the rate reached.
type costs struct {
	wall      time.Duration
	user, sys time.Duration // this process's CPU in the window
	probes    uint64
	server    serverStats // the server's in the window: CPU, requests, TLS handshakes
	check     string      // http, https or tcp
	prober    string      // who probes: "" for the engine, or "HAProxy"
}

// serverWindow returns the server's figures between two calls of stats:
// the second already counts requests and handshakes from the first.
func serverWindow(start, end serverStats) serverStats {
	end.user -= start.user
	end.sys -= start.sys
	end.cpu -= start.cpu
	return end
}

// print writes the cost lines: per probe, per request, and their ratio, the
// issue's measure of a prober as cheap as the server it probes.
func (c costs) print() {
	if c.check == "tcp" && c.server.requests == 0 {
		c.printNoConnections()
		return
	}
	perProbe := func(d time.Duration) float64 { return d.Seconds() / float64(max(c.probes, 1)) * 1e6 }
	perRequest := func(d time.Duration) float64 { return d.Seconds() / float64(max(c.server.requests, 1)) * 1e6 }
	unit := "request"
	if c.check == "tcp" {
		unit = "connection"
	}
	who, probe := "prober", "probe"
	if c.prober != "" {
		who, probe = c.prober, "check"
	}
	fmt.Printf("%sCPU per %s: %.1f µs (user %.1f, sys %.1f) over %d %ss; server CPU per %s: %.1f µs (user %.1f, sys %.1f) over %d\n",
		prefix(c.prober), probe, perProbe(c.user+c.sys), perProbe(c.user), perProbe(c.sys), c.probes, probe,
		unit, perRequest(c.server.cpu), perRequest(c.server.user), perRequest(c.server.sys), c.server.requests)
	ratio := c.ratio()
	fmt.Printf("%sCPU %s/server: %.2f (user %.2f, sys %.2f); target <= 1 %s\n",
		prefix(c.prober), who, ratio, perProbe(c.user)/perRequest(c.server.user), perProbe(c.sys)/perRequest(c.server.sys), verdict(ratio <= 1))
	if c.check == "https" {
		handshakes := c.server.resumed + c.server.full
		fmt.Printf("server TLS handshakes: %d resumed, %d full (%.1f%% resumed)\n",
			c.server.resumed, c.server.full, 100*float64(c.server.resumed)/float64(max(handshakes, 1)))
	}
}

// printNoConnections writes the cost lines of tcp probes that the server
// never saw: they reset in place of the handshake's last ACK, so the server
// has no connection to accept, and spends nothing per probe in its process.
func (c costs) printNoConnections() {
	perProbe := func(d time.Duration) float64 { return d.Seconds() / float64(max(c.probes, 1)) * 1e6 }
	who, probe := "prober", "probe"
	if c.prober != "" {
		who, probe = c.prober, "check"
	}
	fmt.Printf("%sCPU per %s: %.1f µs (user %.1f, sys %.1f) over %d %ss; the server accepted no connection (CPU %.3f s per s): the %s's resets take the place of the handshake's last ACK, and its kernel's work for the server lands in the %s's CPU on loopback\n",
		prefix(c.prober), probe, perProbe(c.user+c.sys), perProbe(c.user), perProbe(c.sys), c.probes, probe,
		c.server.cpu.Seconds()/c.wall.Seconds(), who, who)
}

// ratio is the CPU per probe over the server's CPU per request.
func (c costs) ratio() float64 {
	perProbe := (c.user + c.sys).Seconds() / float64(max(c.probes, 1))
	return perProbe / (c.server.cpu.Seconds() / float64(max(c.server.requests, 1)))
}

// prefix starts the lines of a prober other than the engine with its name.
func prefix(prober string) string {
	if prober == "" {
		return ""
	}
	return prober + ": "
}

// timeWait samples the TCP sockets in TIME_WAIT of the host, cheaply enough
// to do every second inside the window: /proc/net/sockstat, one line.
type timeWait struct{ peak int }

func (t *timeWait) sample() { t.peak = max(t.peak, sockstatTWCount()) }

// print writes the peak, the count at the end, and at the end the sockets
// of this benchmark's own connections, by side: of other processes of the
// host, which the kernel counts too, none.
func (t *timeWait) print(base netip.Addr, endpoints, port int) {
	t.sample()
	prober, server := ourTimeWait(base, endpoints, port)
	fmt.Printf("TCP sockets in TIME_WAIT: peak %d (sampled every second), %s at the end, of which this benchmark's: prober's side %d, server's side %d; target < %d endpoints %s\n",
		t.peak, sockstatTW(), prober, server, endpoints, verdict(t.peak < endpoints))
}

func sockstatTWCount() int {
	n, err := strconv.Atoi(sockstatTW())
	if err != nil {
		return -1
	}
	return n
}

// ourTimeWait counts the connections in TIME_WAIT between the prober and
// the server's endpoints, from /proc/net/tcp: on the prober's side, the
// sockets whose remote end is an endpoint; on the server's, those whose
// local end is. It reads the whole table, too dear to do inside the window
// when it holds 100,000 sockets.
func ourTimeWait(base netip.Addr, endpoints, port int) (prober, server int) {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return -1, -1
	}
	defer f.Close()
	first := binary.BigEndian.Uint32(base.AsSlice())
	endpoint := func(field string) bool {
		addr, p, ok := strings.Cut(field, ":")
		b, err := hex.DecodeString(addr)
		if !ok || err != nil || len(b) != 4 {
			return false
		}
		n, err := strconv.ParseUint(p, 16, 16)
		// The kernel prints the address as a number in host order: little
		// endian here.
		ip := binary.LittleEndian.Uint32(b)
		return err == nil && int(n) == port && ip >= first && ip < first+uint32(endpoints)
	}
	in := bufio.NewScanner(f)
	for in.Scan() {
		// sl local_address rem_address st ...
		f := strings.Fields(in.Text())
		if len(f) < 4 || f[3] != "06" {
			continue
		}
		switch {
		case endpoint(f[2]):
			prober++
		case endpoint(f[1]):
			server++
		}
	}
	return prober, server
}

// yardstick measures a fixed piece of Go code, so that figures taken on a
// slower or faster machine can be read: the machine ran the Go
// benchmarks 2.3 times slower than the one of the README's figures. It is
// the reading of an HTTP answer with net/http's parser, as every http probe
// does: ordinary Go code with allocations and garbage collection, as the
// prober's own, and no system calls, whose cost depends on the kernel and on
// what the other core does. Not a hash: sha256 runs on the SHA extensions
// where the CPU has them, several times faster than where it has not, which
// says little about ordinary code. It runs before the server starts, for
// about a second.
func yardstick() testing.BenchmarkResult {
	answer := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain; charset=utf-8\r\nDate: Thu, 03 Dec 2026 12:00:00 GMT\r\n\r\nok")
	req, _ := http.NewRequest(http.MethodGet, "http://scale.example.org/health", nil)
	return testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		r := bytes.NewReader(answer)
		br := bufio.NewReader(r)
		for b.Loop() {
			r.Reset(answer)
			br.Reset(r)
			resp, err := http.ReadResponse(br, req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

func printYardstick(r testing.BenchmarkResult) {
	fmt.Printf("yardstick: %d ns/op, %d B/op, %d allocs/op (http.ReadResponse of a 200 answer, testing.Benchmark, before the server starts)\n",
		r.NsPerOp(), r.AllocedBytesPerOp(), r.AllocsPerOp())
}
