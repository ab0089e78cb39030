package failover

// alertSeries lists the series of the targets that alerts hold down in the
// decisions of snap: one per held pool of a name, and one per name and pool
// a held address is a member of.
func alertSeries(blocks []*block, snap *snapshot) []series {
	var all []series
	for i, b := range blocks {
		if len(b.alerts) == 0 {
			continue
		}
		for j, name := range b.names {
			av := snap.blockDecisions(i, b)[j].alerts
			if av == nil {
				continue
			}
			for _, p := range b.pools {
				if len(av.poolAlerts(name, p.name)) > 0 {
					all = append(all, series{alertHeld.MetricVec, "alert_held", []string{name, p.name, ""}})
				}
				for _, m := range p.members {
					if len(av.addrs[m.addr]) > 0 {
						all = append(all, series{alertHeld.MetricVec, "alert_held", []string{name, p.name, m.addr.String()}})
					}
				}
			}
		}
	}
	return all
}

// recordAlertSeries makes the alert series of f those of snap, if any of the
// blocks at positions affected takes alerts. Called by whoever owns
// f.alertSeries: publishFirst, then the goroutine that rebuilds the answers.
func (f *Failover) recordAlertSeries(snap *snapshot, affected []int) {
	for _, i := range affected {
		if len(f.blocks[i].alerts) > 0 {
			next := alertSeries(f.blocks, snap)
			acquireSeries(next)
			for _, s := range next {
				alertHeld.WithLabelValues(s.labels...).Set(1)
			}
			releaseSeries(f.alertSeries)
			f.alertSeries = next
			return
		}
	}
}

// allPositions returns 0 to n-1.
func allPositions(n int) []int {
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	return all
}
