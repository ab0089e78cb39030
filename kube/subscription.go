package kube

import (
	"fmt"
	"sync"
)

// registry holds the clients and watches in use, each counted by its users,
// so that every block of every instance (old and new across a reload) that
// names a Service shares one watch of it, and every Service of a Source one
// client.
var registry = struct {
	sync.Mutex
	clients map[Source]*client
	watches map[Ref]*serviceWatch
}{clients: map[Source]*client{}, watches: map[Ref]*serviceWatch{}}

// Subscription is one user's share of the watch of a Service.
type Subscription struct {
	w        *serviceWatch
	onChange func()
	once     sync.Once
}

// Watch starts (first Watch of a Ref in the process) or shares (later ones)
// the watch of the Service ref names, and calls onChange after every change
// of its State. onChange runs on a goroutine of the watch and must return at
// once, without calling Watch or Close: it records and wakes. It is not
// called for the State a Subscription starts with: read State after Watch.
// Watch makes no network call; an API server that does not answer shows in
// Source and in the State, which stays unsynced.
func Watch(ref Ref, onChange func()) (*Subscription, error) {
	if err := ref.checkNames(); err != nil {
		return nil, err
	}
	if onChange == nil {
		onChange = func() {}
	}
	registry.Lock()
	defer registry.Unlock()
	w := registry.watches[ref]
	if w == nil {
		c := registry.clients[ref.Source]
		if c == nil {
			var err error
			if c, err = newClient(ref.Source); err != nil {
				return nil, fmt.Errorf("kubernetes %s: %w", ref.Source, err)
			}
			registry.clients[ref.Source] = c
		}
		c.refs++
		w = startWatch(ref, c)
		registry.watches[ref] = w
	}
	w.refs++
	s := &Subscription{w: w, onChange: onChange}
	w.subscribe(s)
	return s, nil
}

// State is the current State of the Service; lock-free, never nil.
func (s *Subscription) State() *State { return s.w.state.Load() }

// Source is the status of the API server the Service is read from.
func (s *Subscription) Source() SourceStatus { return s.w.client.health.Status() }

// Close ends s: onChange is not called once Close has returned. The last
// Close of a Ref stops the reflectors of its watch and waits for their
// goroutines; the last of a Source closes its idle connections and removes
// its metric. Close may be called more than once.
func (s *Subscription) Close() { s.once.Do(s.close) }

func (s *Subscription) close() {
	w := s.w
	registry.Lock()
	w.unsubscribe(s)
	w.refs--
	last := w.refs == 0
	if last {
		delete(registry.watches, w.ref)
	}
	registry.Unlock()
	if !last {
		return
	}
	w.stop()

	registry.Lock()
	defer registry.Unlock()
	if w.client.refs--; w.client.refs == 0 {
		delete(registry.clients, w.client.source)
		w.client.close()
	}
}
