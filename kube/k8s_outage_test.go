package kube

import (
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/failover-dns/failover/internal/k8stest"
)

func apiUpValue(src Source) float64 { return testutil.ToFloat64(apiUp.WithLabelValues(src.String())) }

const (
	downLine = "cannot read Services from"
	backLine = "reading Services from"
)

// kube-apiserver killed: the State is kept, the Source is down (status,
// metric, one log line); started again: the Source is up, one log line, and
// the State follows a change made as it came back. (A change made while our
// client cannot reach a running API server: TestK8sAPIServerUnreachable.)
func TestK8sAPIServerStopped(t *testing.T) {
	c := k8stest.Start(t)
	src := Source{Kubeconfig: c.Kubeconfig(t)}
	logs := captureLog(t)
	c.Namespace(t, "prod")
	c.Service(t, "prod", "app")
	c.EndpointSlice(t, "prod", "app", "app-a", k8stest.Endpoint{Addr: "10.1.0.1"})
	sub, rec := watchRef(t, Ref{src, "prod", "app"})
	awaitState(t, sub, rec, 0, syncDeadline, "synced", func(st *State) bool { return st.Synced })
	up := awaitSource(t, sub, changeDeadline, "up", func(s SourceStatus) bool { return s.Up })
	if v := apiUpValue(src); v != 1 {
		t.Errorf("kubernetes_api_up %v while up, want 1", v)
	}
	kept := sub.State()

	c.StopAPIServer(t)
	down := awaitSource(t, sub, outageDeadline, "down after kube-apiserver stopped", func(s SourceStatus) bool { return !s.Up })
	if down.Err == "" || !down.Since.After(up.Since) {
		t.Errorf("down: %+v, want an error and a later Since than %v", down, up.Since)
	}
	if v := apiUpValue(src); v != 0 {
		t.Errorf("kubernetes_api_up %v while down, want 0", v)
	}
	if st := sub.State(); st != kept {
		t.Errorf("State changed while down: %s, was %s", describe(st), describe(kept))
	}

	c.StartAPIServer(t)
	upAtWrite := sub.Source().Up
	before := rec.calls.Load()
	c.EndpointSlice(t, "prod", "app", "app-a", k8stest.Endpoint{Addr: "10.1.0.1"}, k8stest.Endpoint{Addr: "10.1.0.2"})
	awaitSource(t, sub, outageDeadline, "up after kube-apiserver started", func(s SourceStatus) bool { return s.Up })
	awaitState(t, sub, rec, before, outageDeadline, "the change made as it came back", func(st *State) bool {
		return slices.Equal(st.Endpoints, []Endpoint{ep("10.1.0.1", true), ep("10.1.0.2", true)})
	})
	t.Logf("the source was up when the change was written: %v", upAtWrite)
	if v := apiUpValue(src); v != 1 {
		t.Errorf("kubernetes_api_up %v after the return, want 1", v)
	}
	if d, b := logs.count(downLine), logs.count(backLine); d != 1 || b != 1 {
		t.Errorf("%d lines of the outage and %d of the return, want 1 each; log:\n%s", d, b, logs)
	}
}

// The API server unreachable (the connections of the plugin cut, the server
// still serving others): the State is kept while a change is made, a new
// watch stays unsynced, and on return both catch up.
func TestK8sAPIServerUnreachable(t *testing.T) {
	c := k8stest.Start(t)
	server, err := url.Parse(c.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startProxy(t, "127.0.40.1", server.Host)
	src := Source{Kubeconfig: proxiedKubeconfig(t, c.Kubeconfig(t), proxy.addr, server.Hostname())}
	logs := captureLog(t)
	c.Namespace(t, "prod")
	c.Service(t, "prod", "app")
	c.Service(t, "prod", "late")
	c.EndpointSlice(t, "prod", "app", "app-a", k8stest.Endpoint{Addr: "10.1.0.1"})
	sub, rec := watchRef(t, Ref{src, "prod", "app"})
	awaitState(t, sub, rec, 0, syncDeadline, "synced", func(st *State) bool { return st.Synced })
	awaitSource(t, sub, changeDeadline, "up", func(s SourceStatus) bool { return s.Up })
	kept := sub.State()

	proxy.cut()
	awaitSource(t, sub, outageDeadline, "down after the cut", func(s SourceStatus) bool { return !s.Up })
	if v := apiUpValue(src); v != 0 {
		t.Errorf("kubernetes_api_up %v while unreachable, want 0", v)
	}
	c.EndpointSlice(t, "prod", "app", "app-a", k8stest.Endpoint{Addr: "10.1.0.2", Ready: k8stest.Bool(false)})
	c.EndpointSlice(t, "prod", "app", "app-b", k8stest.Endpoint{Addr: "10.1.0.3"})
	late, lateRec := watchRef(t, Ref{src, "prod", "late"})
	if st := late.State(); st.Synced {
		t.Errorf("a watch started while unreachable is synced: %s", describe(st))
	}
	if late.Source().Up {
		t.Error("a watch started while unreachable reports its source up")
	}
	if st := sub.State(); st != kept {
		t.Errorf("State changed while unreachable: %s, was %s", describe(st), describe(kept))
	}

	before := rec.calls.Load()
	proxy.restore()
	awaitState(t, sub, rec, before, outageDeadline, "the changes made while unreachable", func(st *State) bool {
		return slices.Equal(st.Endpoints, []Endpoint{ep("10.1.0.2", false), ep("10.1.0.3", true)})
	})
	awaitState(t, late, lateRec, 0, outageDeadline, "the watch started while unreachable", func(st *State) bool { return st.Synced && st.Found })
	awaitSource(t, sub, outageDeadline, "up after the return", func(s SourceStatus) bool { return s.Up })
	if d, b := logs.count(downLine), logs.count(backLine); d != 1 || b != 1 {
		t.Errorf("%d lines of the outage and %d of the return, want 1 each; log:\n%s", d, b, logs)
	}
	if !strings.Contains(logs.String(), src.String()) {
		t.Errorf("the log does not name the source %s:\n%s", src, logs)
	}
}

// proxiedKubeconfig writes a copy of the kubeconfig at path whose server is
// addr, verifying the API server's certificate for its own name.
func proxiedKubeconfig(t *testing.T, path, addr, serverName string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, cluster := range cfg.Clusters {
		cluster.Server = "https://" + addr
		cluster.TLSServerName = serverName
	}
	out := filepath.Join(t.TempDir(), "proxied.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, out); err != nil {
		t.Fatal(err)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		t.Fatal(err)
	}
	return out
}
