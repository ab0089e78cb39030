package healthcheck

import (
	"crypto/tls"
	"sync/atomic"
)

// An https probe resumes the TLS session of an earlier probe where the
// endpoint allows it: the certificate exchange and its signatures, the
// dearest part of a handshake for both sides, are skipped. A resumed
// session still checks the certificate it was made with (expiry, name,
// chain), but not the one the endpoint would present now. So a full
// handshake, which sees the certificate served now, comes at least every
// `fall` probes and after any failed probe: a certificate changed for a bad
// one is seen within `fall` probes, and takes the endpoint down after
// `fall` more, as any failure does.

// sessions is the TLS session cache of one endpoint's https check.
type sessions struct {
	resume *tls.Config // with the cache: resumes a session when one is kept
	full   *tls.Config // stores a new session in the cache, never resumes one
	every  int32       // a full handshake at least every this many probes

	sinceFull atomic.Int32 // probes since the last full handshake; every, after a failure
}

func newSessions(cfg *tls.Config, fall int) *sessions {
	cache := tls.NewLRUClientSessionCache(2) // one server name: the next session and the last
	resume := cfg.Clone()
	resume.ClientSessionCache = cache
	full := cfg.Clone()
	full.ClientSessionCache = storeOnly{cache}
	s := &sessions{resume: resume, full: full, every: int32(max(fall, 1))}
	s.sinceFull.Store(s.every) // no session yet
	return s
}

// config returns the configuration of the next probe's handshake.
func (s *sessions) config() *tls.Config {
	if s.sinceFull.Load() >= s.every-1 {
		return s.full
	}
	return s.resume
}

// probed records how a probe ended: after a failure, full handshakes until
// one passes.
func (s *sessions) probed(passed bool) {
	switch {
	case !passed:
		s.sinceFull.Store(s.every)
	case s.sinceFull.Load() >= s.every-1:
		s.sinceFull.Store(0)
	default:
		s.sinceFull.Add(1)
	}
}

// storeOnly is a session cache that keeps what a handshake gives it but
// offers nothing to resume.
type storeOnly struct{ tls.ClientSessionCache }

func (storeOnly) Get(string) (*tls.ClientSessionState, bool) { return nil, false }
