package failover

import (
	"context"
	"testing"

	"github.com/coredns/coredns/plugin/metadata"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
)

func TestMetadata(t *testing.T) {
	hosts := answering(dns.RcodeSuccess, test.A("app.example.org. 60 IN A 203.0.113.9"))
	tests := []struct {
		name, qname            string
		down                   []string
		wantName, pool, reason string
	}{
		{"primary healthy", "app.example.org.", nil, "app.example.org.", "primary", "healthy"},
		{"failed over", "app.example.org.", []string{"192.0.2.1", "192.0.2.2"}, "app.example.org.", "secondary", "failover"},
		{"all down", "app.example.org.", []string{"192.0.2.1", "192.0.2.2", "198.51.100.1"}, "app.example.org.", "primary", "all_down primary"},
		{"not governed", "other.example.org.", nil, "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newTestFailover(t, testBlocks, hosts, tc.down...)
			req := new(dns.Msg)
			req.SetQuestion(tc.qname, dns.TypeA)
			w := dnstest.NewRecorder(&test.ResponseWriter{})
			ctx := metadata.ContextWithMetadata(context.Background())
			ctx = f.Metadata(ctx, request.Request{W: w, Req: req})
			if _, err := f.ServeDNS(ctx, w, req); err != nil {
				t.Fatal(err)
			}
			for label, want := range map[string]string{"failover/name": tc.wantName, "failover/pool": tc.pool, "failover/reason": tc.reason} {
				fn := metadata.ValueFunc(ctx, label)
				if fn == nil {
					t.Fatalf("label %s not set", label)
				}
				if got := fn(); got != want {
					t.Errorf("%s = %q, want %q", label, got, want)
				}
			}
		})
	}
}
