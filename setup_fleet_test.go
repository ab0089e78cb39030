package failover

import (
	"testing"

	"github.com/coredns/caddy"
)

func TestSetupFleet(t *testing.T) {
	kubeconfig := kubeconfigFile(t)
	c := caddy.NewTestController("dns", `failover app.example.org {
		primary   192.0.2.1
		secondary 192.0.2.2
		check http://:8080/healthz
		fleet coredns-failover/coredns
		kubeconfig `+kubeconfig+`
	}
	failover db.example.org {
		primary   192.0.2.3
		secondary 192.0.2.4
		check tcp://:5432
		fleet dns/edge
		probers 2
		quorum 66%
		kubeconfig `+kubeconfig+` test
	}`)
	f, err := parse(c)
	if err != nil {
		t.Fatal(err)
	}
	first, second := f.blocks[0].fleet, f.blocks[1].fleet
	if first == nil || second == nil {
		t.Fatal("a block with 'fleet' has no fleet")
	}
	if c := first.config; c.Namespace != "coredns-failover" || c.Group != "coredns" || c.Probers != defaultProbers || c.Quorum != defaultQuorum || c.Source.Kubeconfig != kubeconfig {
		t.Errorf("first fleet %+v; want coredns-failover/coredns, probers %d, quorum %d, the kubeconfig", c, defaultProbers, defaultQuorum)
	}
	if c := second.config; c.Group != "edge" || c.Probers != 2 || c.Quorum != 66 || c.Source.Context != "test" {
		t.Errorf("second fleet %+v; want dns/edge, probers 2, quorum 66, context test", c)
	}
	if got := blockEndpoints(f.blocks[0]); len(got) != 2 {
		t.Errorf("%d endpoints shared with the fleet; want both addresses", len(got))
	}
}

func TestSetupFleetErrors(t *testing.T) {
	kubeconfig := kubeconfigFile(t)
	kc := "kubeconfig " + kubeconfig + "\n"
	block := "failover a.example.org {\nprimary 192.0.2.1\ncheck tcp://:80\n"
	tests := []setupError{
		{"no group", block + "fleet\n" + kc + "}", "Testfile:4 - Error during parsing: 'fleet' takes NAMESPACE/GROUP"},
		{"no namespace", block + "fleet coredns\n" + kc + "}", "Testfile:4 - Error during parsing: 'fleet coredns': want NAMESPACE/GROUP"},
		{"three parts", block + "fleet a/b/c\n" + kc + "}", "'fleet a/b/c': want NAMESPACE/GROUP"},
		{"bad namespace", block + "fleet Kube_System/coredns\n" + kc + "}", "Testfile:4 - Error during parsing: fleet Kube_System/coredns:"},
		{"bad group", block + "fleet kube-system/core.dns!\n" + kc + "}", "fleet kube-system/core.dns!:"},
		{"probers without fleet", block + "probers 2\n}", "Testfile:4 - Error during parsing: 'probers' applies only to a block with 'fleet NAMESPACE/GROUP'"},
		{"quorum without fleet", block + "quorum 50%\n}", "'quorum' applies only to a block with 'fleet NAMESPACE/GROUP'"},
		{"probers zero", block + "fleet a/b\nprobers 0\n" + kc + "}", "Testfile:5 - Error during parsing:"},
		{"quorum without percent", block + "fleet a/b\nquorum 50\n" + kc + "}", "Testfile:5 - Error during parsing: 'quorum 50': want a percentage from 0% to 99%"},
		{"quorum 100", block + "fleet a/b\nquorum 100%\n" + kc + "}", "'quorum 100%': want a percentage from 0% to 99%"},
		{"quorum negative", block + "fleet a/b\nquorum -1%\n" + kc + "}", "'quorum -1%'"},
		{"fleet twice", block + "fleet a/b\nfleet a/c\n" + kc + "}", "'fleet' is given twice in this block"},
		{"in-cluster outside a cluster", block + "fleet a/b\n}", "Testfile:4 - Error during parsing: fleet a/b: the Kubernetes API (in-cluster): not running in a Kubernetes cluster"},
		{"same group, other probers", block + "fleet a/b\n" + kc + "}\nfailover b.example.org {\nprimary 192.0.2.2\ncheck tcp://:80\nfleet a/b\nprobers 1\n" + kc + "}",
			"Testfile:10 - Error during parsing: fleet a/b: its probers, quorum and kubeconfig must be those of the block at line 1"},
	}
	expectSetupErrors(t, tests)
}

// TestJoinFleetsOncePerGroup: the blocks of an instance that name one group
// share one membership; a block of another group has its own.
func TestJoinFleetsOncePerGroup(t *testing.T) {
	kubeconfig := kubeconfigFile(t) // an API server nobody listens for: the group decides alone
	block := func(name, primary, group string) string {
		return "failover " + name + " {\nprimary " + primary + "\ncheck tcp://:9\nfleet " + group + "\nkubeconfig " + kubeconfig + "\n}\n"
	}
	f, err := parse(caddy.NewTestController("dns", block("a.example.org", "127.0.50.71 127.0.50.72", "dns/one")+
		block("b.example.org", "127.0.50.72 127.0.50.73", "dns/one")+block("c.example.org", "127.0.50.74", "dns/two")))
	if err != nil {
		t.Fatal(err)
	}
	f.engine.Start()
	defer f.engine.Stop()
	f.joinFleets()
	defer f.leaveFleets()
	a, b, c := f.blocks[0].membership.Load(), f.blocks[1].membership.Load(), f.blocks[2].membership.Load()
	if a == nil || a != b {
		t.Fatalf("blocks of one group have memberships %p and %p; want one", a, b)
	}
	if c == nil || c == a {
		t.Fatalf("the block of another group has membership %p; want its own", c)
	}
}
