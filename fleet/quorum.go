package fleet

import "fmt"

// tally counts the votes on one endpoint: this replica's local verdict, when
// it probes the endpoint, and the observations in the fresh Leases of the
// others.
type tally struct{ up, down int }

func (t tally) total() int { return t.up + t.down }

// healthy is the shared verdict: down only when more than quorum percent of
// the votes say down, so that with the default of 50 one replica of three
// with a broken path keeps the endpoint up, and two of three take it down.
func (t tally) healthy(quorum int) bool { return t.down*100 <= quorum*t.total() }

// why says in the log what decided the verdict.
func (t tally) why(healthy bool) string {
	if healthy {
		return fmt.Sprintf("%d of %d replicas see it up", t.up, t.total())
	}
	return fmt.Sprintf("%d of %d replicas see it down", t.down, t.total())
}
