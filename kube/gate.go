package kube

import "sync"

// gate counts what runs on behalf of one watch (its reflectors, and the calls
// to the API server they make from goroutines of their own), so that stopping
// the watch can wait for all of it. Once closed it lets nothing in: a
// sync.WaitGroup alone must not see an Add while its Wait may return.
type gate struct {
	mu      sync.Mutex
	closed  bool
	running sync.WaitGroup
}

// enter reports whether the caller may start; it then calls leave when done.
func (g *gate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.running.Add(1)
	return true
}

func (g *gate) leave() { g.running.Done() }

// goRun runs f in a goroutine the gate counts, unless it is closed.
func (g *gate) goRun(f func()) {
	if !g.enter() {
		return
	}
	go func() {
		defer g.leave()
		f()
	}()
}

// closeAndWait lets nothing in any more and waits for what runs.
func (g *gate) closeAndWait() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.running.Wait()
}
