package failover

import (
	"github.com/miekg/dns"
)

// rewriter gives failover the response of the rest of the chain before the client gets it.
type rewriter struct {
	dns.ResponseWriter
	req     *dns.Msg
	snap    *snapshot
	written bool
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
