package failover

import (
	"context"

	"github.com/coredns/coredns/plugin/metadata"
	"github.com/coredns/coredns/request"
)

// The metadata labels failover sets, for log, dnstap and other plugins that
// read them ({/failover/pool} in a log format):
//
//	failover/name   the governed name the answer was decided for (the query
//	                name, or a name its CNAME chain leads to)
//	failover/pool   the pool answered: primary, secondary, a pool's NAME, or
//	                "all" under all_down all; empty when none was
//	failover/reason healthy, failover (a pool before it was down), or
//	                all_down POLICY
//
// They are empty for answers failover did not decide.
var metadataLabels = [...]string{"failover/name", "failover/pool", "failover/reason"}

func noValue() string { return "" }

// Metadata implements metadata.Provider. It declares the labels, empty: only
// ServeDNS knows the answer.
func (f *Failover) Metadata(ctx context.Context, _ request.Request) context.Context {
	for _, label := range metadataLabels {
		metadata.SetValueFunc(ctx, label, noValue)
	}
	return ctx
}

// setMetadata records what an answer was decided with, when the metadata
// plugin collects labels for the query.
func setMetadata(ctx context.Context, name string, c *choice) {
	if metadata.ValueFunc(ctx, metadataLabels[0]) == nil {
		return // no metadata plugin in the server block: nothing to allocate for
	}
	metadata.SetValueFunc(ctx, "failover/name", func() string { return name })
	metadata.SetValueFunc(ctx, "failover/pool", func() string { return c.pool })
	metadata.SetValueFunc(ctx, "failover/reason", func() string { return c.reason })
}
