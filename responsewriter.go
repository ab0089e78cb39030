package failover

import (
	"context"
	"sync"

	"github.com/coredns/coredns/plugin/metrics"
	"github.com/miekg/dns"
)

// rewriter gives failover the response of the rest of the chain before the
// client gets it. It holds the response until ServeDNS writes it, once the
// chain has returned: packing and sending then run on a shallow stack. Run
// deep in the chain, they outgrew the stack a query's goroutine starts with,
// and growing it cost a fifth of the server's CPU under load.
//
// A rewriter belongs to one query and is never reused: a plugin below may
// keep it after ServeDNS returns (cache's serve_stale verify refreshes in a
// goroutine, and forward asks it for the client's address), and a plugin may
// write from another goroutine, even late. A write after ServeDNS returned is
// sent at once, rewritten under the same health.
type rewriter struct {
	dns.ResponseWriter
	ctx  context.Context
	req  *dns.Msg
	snap *snapshot
	sign *signer // signs what failover made, in a zone of the server block's dnssec; nil without

	mu      sync.Mutex
	held    *dns.Msg // the response written by the chain, not yet sent
	written bool
	done    bool // ServeDNS has returned: writes go out at once
}

func newRewriter(ctx context.Context, w dns.ResponseWriter, req *dns.Msg, snap *snapshot) *rewriter {
	return &rewriter{ResponseWriter: w, ctx: ctx, req: req, snap: snap}
}

// WriteMsg implements dns.ResponseWriter. The response is sent by flush.
func (w *rewriter) WriteMsg(res *dns.Msg) error {
	w.mu.Lock()
	// A plugin that writes twice gets its responses sent in order.
	err := w.flush()
	if err == nil {
		w.written = true
		w.held = res
		if w.done {
			err = w.flush()
		}
	}
	w.mu.Unlock()
	return err
}

// flush sends the held response, rewritten. The metadata of the answer is set
// before the write, for the plugins that read it then (dnstap), and only while
// the query is served: after ServeDNS returned, nobody reads it, and the
// metadata's map is not safe to write from another goroutine. Called with mu held.
func (w *rewriter) flush() error {
	res := w.held
	if res == nil {
		return nil
	}
	w.held = nil
	out, owner, applied := rewrite(w.req, res, w.snap)
	if applied != nil {
		countAnswer(metrics.WithServer(w.ctx), applied)
		if !w.done {
			setMetadata(w.ctx, owner, applied)
		}
	}
	if w.sign != nil {
		out = w.sign.sign(metrics.WithServer(w.ctx), w.req, out, w.snap)
	}
	return w.ResponseWriter.WriteMsg(out)
}

// Write implements dns.ResponseWriter. A plugin that writes raw bytes must not
// slip a governed name past failover, so the bytes are read as a message.
func (w *rewriter) Write(buf []byte) (int, error) {
	res := new(dns.Msg)
	if err := res.Unpack(buf); err == nil {
		if err := w.WriteMsg(res); err != nil {
			return 0, err
		}
		return len(buf), nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.flush(); err != nil {
		return 0, err
	}
	w.written = true
	return w.ResponseWriter.Write(buf)
}
