package failover

// memberState is how a member of a name's pool counts in the answers: its
// endpoint's verdict, unless an override says otherwise.
type memberState struct {
	healthy  bool        // counts towards its pool being up, and is answered while it is
	drained  bool        // never answered, not even when every pool is down
	override *override   // the override in force, or nil
	alerts   []heldAlert // the alerts in force that count it down, unless an override says otherwise
}

// judge tells how each member of a pool counts, for one name.
type judge func(p *pool, m member) memberState

// judgeName is the judge of name in block b: the endpoints' verdicts that
// healthy reports, and the alerts in force of av (another check that must
// pass), overridden by ov (the operator's explicit word). ov and av may be nil.
func judgeName(name string, ov *overrideSet, av *alertView, healthy func(member) bool) judge {
	return func(p *pool, m member) memberState {
		s := memberState{healthy: healthy(m)}
		if m.unanswered {
			s.healthy, s.drained = false, true // weight 0
		}
		if s.alerts = av.lookup(name, p.name, m.addr); len(s.alerts) > 0 {
			s.healthy = false
		}
		if o := ov.lookup(name, p.name, m.addr); o != nil {
			s.override = o
			s.healthy = o.state == overrideUp
			s.drained = o.state == overrideDrain
		}
		return s
	}
}

// poolVerdict is how one pool of a name stands.
type poolVerdict struct {
	healthy int  // members counted healthy, of either family; a service/ member counts its serving endpoints
	up      bool // at least min_healthy (and at least one) of them
}

// verdict judges pool p, of the members it has now.
func (p *pool) verdict(members []member, judge judge) poolVerdict {
	v := poolVerdict{}
	for _, m := range members {
		if judge(p, m).healthy {
			v.healthy += memberWeight(m)
		}
	}
	v.up = v.healthy >= max(p.minHealthy, 1)
	return v
}
