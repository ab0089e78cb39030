package integration

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/failover-dns/failover/internal/k8stest"
)

// isolation gives one replica a network of its own, to show a broken path
// with real sockets: a network namespace joined to the test's by a veth
// pair, with a blackhole route to each address it must not reach. It is
// made inside the network namespace of k8stest.RunInPodNetwork, so that
// every interface and address it adds goes when the test's run ends.
//
// Loopback addresses do not cross a veth pair: the replica listens on its
// end of the pair, reaches endpoints in k8stest.PodNetwork through the
// test's end, and reaches the API server through a proxy that the test runs
// on its end (kube-apiserver listens on a loopback address), checking the
// server's certificate for "localhost", which the certificate names.
type isolation struct {
	blackholes []string         // addresses the replica's packets to are dropped
	cluster    *k8stest.Cluster // the API server the replica reaches, if any
	kubeconfig string           // the others' kubeconfig, which the replica's is made from
}

// The veth pair: the test's end and the replica's, in a network of their own
// outside k8stest.PodNetwork (whose addresses are all local to the test).
const (
	vethTest       = "fleet-test"
	vethReplica    = "fleet-replica"
	vethTestIP     = "10.245.41.1"
	vethReplicaIP  = "10.245.41.2"
	vethPrefixBits = "/24"
)

// isolatedReplica makes a replica that listens on the replica's end of the
// veth pair: nothing else listens in its new network, so its ports are
// fixed, those the plugins document.
func isolatedReplica(t *testing.T, identity string) *replica {
	t.Helper()
	at := func(port string) string { return net.JoinHostPort(vethReplicaIP, port) }
	return makeReplica(t, identity, at("53"), at("8054"), at("9153"), at("6053"))
}

// attach connects the network namespace of r's process, which waits for it
// before it becomes CoreDNS, and gives r the kubeconfig that reaches the API
// server through the proxy.
func (iso *isolation) attach(t *testing.T, r *replica) {
	t.Helper()
	pid := fmt.Sprint(r.cmd.Process.Pid)
	ipCmd(t, "link", "add", vethTest, "type", "veth", "peer", "name", vethReplica, "netns", pid)
	ipCmd(t, "addr", "add", vethTestIP+vethPrefixBits, "dev", vethTest)
	ipCmd(t, "link", "set", vethTest, "up")
	inside := [][]string{
		{"link", "set", "lo", "up"},
		{"addr", "add", vethReplicaIP + vethPrefixBits, "dev", vethReplica},
		{"link", "set", vethReplica, "up"},
		{"route", "add", "default", "via", vethTestIP},
	}
	for _, addr := range iso.blackholes {
		inside = append(inside, []string{"route", "add", "blackhole", addr + "/32"})
	}
	for _, args := range inside {
		ipCmd(t, append([]string{"--netns-pid", pid}, args...)...)
	}
	if iso.cluster != nil {
		r.kubeconfig = iso.proxiedKubeconfig(t)
	}
}

// ipCmd runs ip with args; the pseudo-flag --netns-pid PID first runs it in
// the network namespace of process PID.
func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("ip", args...)
	if len(args) > 1 && args[0] == "--netns-pid" {
		cmd = exec.Command("nsenter", append([]string{"--net=/proc/" + args[1] + "/ns/net", "ip"}, args[2:]...)...)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
}

// proxiedKubeconfig starts the proxy to the API server on the test's end of
// the veth pair, and writes a kubeconfig that goes through it.
func (iso *isolation) proxiedKubeconfig(t *testing.T) string {
	t.Helper()
	api, err := url.Parse(iso.cluster.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(vethTestIP, "0"))
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: api.Host, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(p.close)

	cfg, err := clientcmd.LoadFromFile(iso.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cluster := cfg.Clusters[k8stest.Context]
	cluster.Server = "https://" + ln.Addr().String()
	cluster.TLSServerName = "localhost"
	path := filepath.Join(t.TempDir(), "proxied.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// tcpProxy forwards each connection it accepts to target, byte for byte
// (TLS passes through it), and closes them all when it closes.
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func (p *tcpProxy) serve() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close() // the API server is down: the client sees a reset
			continue
		}
		if !p.track(in, out) {
			return
		}
		p.wg.Add(2)
		go p.pipe(in, out)
		go p.pipe(out, in)
	}
}

// track registers the connections, unless the proxy is closing.
func (p *tcpProxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
	return true
}

// pipe copies from one side to the other; when either side ends, both do.
func (p *tcpProxy) pipe(from, to net.Conn) {
	defer p.wg.Done()
	// A reset or a closed side ends it alike: the client reconnects.
	io.Copy(to, from)
	from.Close()
	to.Close()
	p.mu.Lock()
	delete(p.conns, from)
	delete(p.conns, to)
	p.mu.Unlock()
}

func (p *tcpProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
