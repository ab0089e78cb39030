package failover

import (
	"sync"

	"github.com/miekg/dns"
)

// rewriter gives failover the response of the rest of the chain before the client gets it.
type rewriter struct {
	dns.ResponseWriter
	req     *dns.Msg
	snap    *snapshot
	written bool
}

// Every A and AAAA query needs a rewriter, governed or not: reusing them keeps
// names failover does not govern free of allocations.
var rewriters = sync.Pool{New: func() any { return new(rewriter) }}

func newRewriter(w dns.ResponseWriter, req *dns.Msg, snap *snapshot) *rewriter {
	rw := rewriters.Get().(*rewriter)
	*rw = rewriter{ResponseWriter: w, req: req, snap: snap}
	return rw
}

// release returns rw to the pool. The chain has returned: no plugin writes
// through it any more.
func (rw *rewriter) release() {
	*rw = rewriter{}
	rewriters.Put(rw)
}

// WriteMsg implements dns.ResponseWriter.
func (w *rewriter) WriteMsg(res *dns.Msg) error {
	w.written = true
	return w.ResponseWriter.WriteMsg(rewrite(w.req, res, w.snap))
}

// Write implements dns.ResponseWriter. A plugin that writes raw bytes must not
// slip a governed name past failover, so the bytes are read as a message.
func (w *rewriter) Write(buf []byte) (int, error) {
	res := new(dns.Msg)
	if err := res.Unpack(buf); err != nil {
		w.written = true
		return w.ResponseWriter.Write(buf)
	}
	if err := w.WriteMsg(res); err != nil {
		return 0, err
	}
	return len(buf), nil
}
