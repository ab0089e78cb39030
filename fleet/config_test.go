package fleet

import (
	"strings"
	"testing"
	"time"
)

func TestConfigCheck(t *testing.T) {
	t.Setenv(EnvPodName, "Replica-0")
	ok := Config{Namespace: "kube-system", Group: "dns", Probers: 3, Quorum: 50}
	for _, c := range []struct {
		change func(*Config)
		err    string
	}{
		{func(*Config) {}, ""},
		{func(c *Config) { c.Quorum = 0 }, ""},
		{func(c *Config) { c.Namespace = "Kube_System" }, "fleet namespace"},
		{func(c *Config) { c.Group = "" }, "fleet group"},
		{func(c *Config) { c.Group = "dns.example" }, "fleet group"},
		{func(c *Config) { c.Probers = 0 }, "probers 0"},
		{func(c *Config) { c.Quorum = 100 }, "quorum 100%"},
		{func(c *Config) { c.Quorum = -1 }, "quorum -1%"},
		{func(c *Config) { c.Group = strings.Repeat("g", 63); t.Setenv(EnvPodName, strings.Repeat("r", 200)) }, "not a DNS-1123 subdomain"},
	} {
		cfg := ok
		c.change(&cfg)
		err := cfg.Check()
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%+v: %v", cfg, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%+v: error %v, want one with %q", cfg, err, c.err)
		}
	}
	t.Setenv(EnvPodName, "coredns-7d8f_9")
	if err := ok.Check(); err == nil || !strings.Contains(err.Error(), "dns-coredns-7d8f_9") {
		t.Errorf("identity with an underscore: %v, want the Lease name refused", err)
	}
}

func TestIdentity(t *testing.T) {
	t.Setenv(EnvPodName, "CoreDNS-5d78c9869d-Abcde")
	if id, err := Identity(); err != nil || id != "coredns-5d78c9869d-abcde" {
		t.Errorf("Identity() = %q, %v; want POD_NAME lower-cased", id, err)
	}
	t.Setenv(EnvPodName, "")
	if id, err := Identity(); err != nil || id == "" || id != strings.ToLower(id) {
		t.Errorf("Identity() without POD_NAME = %q, %v; want the hostname, lower-cased", id, err)
	}
}

func TestLeaseDuration(t *testing.T) {
	for renew, want := range map[time.Duration]time.Duration{
		time.Second: 3 * time.Second, 1500 * time.Millisecond: 5 * time.Second, 10 * time.Second: 30 * time.Second,
	} {
		if got := leaseDuration(renew); got != want {
			t.Errorf("leaseDuration(%v) = %v, want %v", renew, got, want)
		}
	}
}
