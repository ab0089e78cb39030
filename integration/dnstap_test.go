package integration

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	tap "github.com/dnstap/golang-dnstap"
	"google.golang.org/protobuf/proto"
)

// TestMetadataReachesDnstap runs dnstap with an extra field made of failover's
// metadata, to a real dnstap receiver on a unix socket: dnstap reads the
// metadata when the response is written, so failover must have set it by then.
func TestMetadataReachesDnstap(t *testing.T) {
	backends := startBackends(t, "127.0.0.201", "127.0.0.202")
	primary, secondary := backends[0], backends[1]
	sock := filepath.Join(t.TempDir(), "dnstap.sock")
	frames := receiveDnstap(t, sock)

	corefile := fmt.Sprintf(`example.org:0 {
	metadata
	dnstap unix://%s full {
		extra "name={/failover/name} pool={/failover/pool} reason={/failover/reason}"
	}
	%s
}
`, sock, failoverBlock(primary.ip, secondary.ip, primary.port))
	_, udp := startCoreDNS(t, corefile)

	want := map[string]string{
		primary.ip:   "name=app.example.org. pool=primary reason=healthy",
		secondary.ip: "name=app.example.org. pool=secondary reason=failover",
	}
	for _, answer := range []string{primary.ip, secondary.ip} {
		if answer == secondary.ip {
			primary.set(unavailable)
		}
		waitAnswer(t, udp, "app.example.org.", answer, 5*time.Second)
		waitExtra(t, frames, want[answer])
	}
}

// waitExtra reads client responses from frames until one carries extra, or fails.
func waitExtra(t *testing.T, frames <-chan *tap.Dnstap, extra string) {
	t.Helper()
	var seen []string
	deadline := time.After(10 * time.Second)
	for {
		select {
		case d := <-frames:
			if d.GetMessage().GetType() != tap.Message_CLIENT_RESPONSE {
				continue
			}
			if string(d.Extra) == extra {
				return
			}
			seen = append(seen, string(d.Extra))
		case <-deadline:
			t.Fatalf("no client response with extra %q; saw %q", extra, seen)
		}
	}
}

// receiveDnstap listens on a unix socket at path, as a dnstap collector does,
// and delivers every frame it reads, decoded, until the test ends.
func receiveDnstap(t *testing.T, path string) <-chan *tap.Dnstap {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	raw := make(chan []byte, 64)
	frames := make(chan *tap.Dnstap, 64)
	done := make(chan struct{})
	var readers sync.WaitGroup
	readers.Add(1)
	go func() { // accept: one reader per connection, until the listener closes
		defer readers.Done()
		for {
			conn, err := ln.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			} else if err != nil {
				t.Errorf("dnstap receiver: %v", err)
				return
			}
			in, err := tap.NewFrameStreamInputTimeout(conn, true, 5*time.Second)
			if err != nil {
				t.Errorf("dnstap receiver: handshake: %v", err)
				conn.Close()
				continue
			}
			readers.Add(2)
			go func() { defer readers.Done(); in.ReadInto(raw) }() // returns once conn closes
			go func() { defer readers.Done(); <-done; conn.Close() }()
		}
	}()
	decoded := make(chan struct{})
	go func() { // decode, until every reader has returned
		defer close(decoded)
		for buf := range raw {
			d := new(tap.Dnstap)
			if err := proto.Unmarshal(buf, d); err != nil {
				t.Errorf("dnstap receiver: %v", err)
				continue
			}
			select {
			case frames <- d:
			default: // nobody reads: drop, as a full collector would
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		close(done)
		readers.Wait()
		close(raw)
		<-decoded
	})
	return frames
}
