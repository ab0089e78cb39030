package failover

import (
	"sync"

	"github.com/miekg/dns"
)

// rewriter gives failover the response of the rest of the chain before the
// client gets it. It holds the response until ServeDNS writes it, once the
// chain has returned: packing and sending then run on a shallow stack. Run
// deep in the chain, they outgrew the stack a query's goroutine starts with,
// and growing it cost a fifth of the server's CPU under load.
type rewriter struct {
	dns.ResponseWriter
	req     *dns.Msg
	snap    *snapshot
	held    *dns.Msg // the response written by the chain, not yet sent
	written bool

	// What the last response sent was rewritten with, for metadata.
	owner   string
	applied *choice
}

// Every A and AAAA query needs a rewriter, governed or not: reusing them keeps
// names failover does not govern free of allocations.
var rewriters = sync.Pool{New: func() any { return new(rewriter) }}

func newRewriter(w dns.ResponseWriter, req *dns.Msg, snap *snapshot) *rewriter {
	rw := rewriters.Get().(*rewriter)
	*rw = rewriter{ResponseWriter: w, req: req, snap: snap}
	return rw
}

// release returns rw to the pool. The chain has returned and the response is
// sent: no plugin writes through rw any more.
func (rw *rewriter) release() {
	*rw = rewriter{}
	rewriters.Put(rw)
}

// WriteMsg implements dns.ResponseWriter. The response is sent by flush.
func (w *rewriter) WriteMsg(res *dns.Msg) error {
	// A plugin that writes twice gets its responses sent in order.
	if err := w.flush(); err != nil {
		return err
	}
	w.written = true
	w.held = res
	return nil
}

// flush sends the held response, rewritten.
func (w *rewriter) flush() error {
	res := w.held
	if res == nil {
		return nil
	}
	w.held = nil
	var out *dns.Msg
	out, w.owner, w.applied = rewrite(w.req, res, w.snap)
	return w.ResponseWriter.WriteMsg(out)
}

// Write implements dns.ResponseWriter. A plugin that writes raw bytes must not
// slip a governed name past failover, so the bytes are read as a message.
func (w *rewriter) Write(buf []byte) (int, error) {
	res := new(dns.Msg)
	if err := res.Unpack(buf); err != nil {
		if err := w.flush(); err != nil {
			return 0, err
		}
		w.written = true
		return w.ResponseWriter.Write(buf)
	}
	if err := w.WriteMsg(res); err != nil {
		return 0, err
	}
	return len(buf), nil
}
