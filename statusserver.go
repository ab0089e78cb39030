package failover

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// One listener per status address, whoever names it: several blocks of a
// server block, blocks of several server blocks (one instance each), and the
// old and new instances of a reload, of which the new one starts before the
// old one stops. So the listeners are shared, by address, across instances;
// the last instance to leave one closes it.
var statusServers = struct {
	sync.Mutex
	byAddr map[string]*statusServer
}{byAddr: map[string]*statusServer{}}

// statusServer serves the status of the instances registered at one address.
type statusServer struct {
	addr      string
	srv       *http.Server
	served    chan struct{}               // closed once Serve has returned
	instances atomic.Pointer[[]*Failover] // oldest first; replaced, never changed, under statusServers' lock
	alerts    *alertStore                 // pushed by Alertmanager: they outlive a reload, as the listener does
}

// joinStatus registers f with the server at addr, listening there first if
// no instance does yet.
func joinStatus(addr string, f *Failover) error {
	statusServers.Lock()
	defer statusServers.Unlock()
	s := statusServers.byAddr[addr]
	if s == nil {
		var err error
		if s, err = listenStatus(addr); err != nil {
			return fmt.Errorf("%s: status %s: %w", pluginName, addr, err)
		}
		statusServers.byAddr[addr] = s
	}
	if all := *s.instances.Load(); !slices.Contains(all, f) {
		all = append(slices.Clip(all), f)
		s.instances.Store(&all)
	}
	for _, b := range f.blocks {
		if b.status == addr {
			b.alertStore.Store(s.alerts)
		}
	}
	return nil
}

// leaveStatus unregisters f from every server, and closes those it was the
// last one of. The lock is held while they close, so that an instance
// starting meanwhile cannot find their addresses still taken.
func leaveStatus(f *Failover) {
	statusServers.Lock()
	defer statusServers.Unlock()
	for addr, s := range statusServers.byAddr {
		all := *s.instances.Load()
		i := slices.Index(all, f)
		if i < 0 {
			continue
		}
		all = slices.Delete(slices.Clone(all), i, i+1)
		s.instances.Store(&all)
		if len(all) == 0 {
			delete(statusServers.byAddr, addr)
			s.close()
		}
	}
}

func listenStatus(addr string) (*statusServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &statusServer{addr: addr, served: make(chan struct{}), alerts: newAlertStore()}
	s.instances.Store(&[]*Failover{})
	mux := http.NewServeMux()
	// GET patterns match HEAD too; the mux answers 405 to other methods.
	mux.HandleFunc("GET /{$}", s.serveStatus)
	mux.HandleFunc("GET /status", s.serveStatus)
	mux.HandleFunc("POST /alertmanager", s.serveAlertmanager)
	// An operator's endpoint: bounded, so that slow or idle clients do not
	// pile up.
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: statusReadTimeout,
		ReadTimeout:       statusReadTimeout,
		WriteTimeout:      statusWriteTimeout,
		IdleTimeout:       statusIdleTimeout,
		MaxHeaderBytes:    statusMaxHeaderBytes,
	}
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Errorf("status %s: %s", addr, err)
		}
	}()
	return s, nil
}

// close closes the listener and every connection, and returns once Serve has.
func (s *statusServer) close() {
	s.srv.Close()
	<-s.served
}

// reported returns the instances s reports. During a reload two instances
// have the same server block keys: the newer one is reported once it has
// judged its endpoints, and until then the older one, which still answers
// the queries.
func (s *statusServer) reported() []*Failover {
	all := *s.instances.Load()
	var reported []*Failover
	for i := len(all) - 1; i >= 0; i-- { // newest first
		f := all[i]
		j := slices.IndexFunc(reported, func(g *Failover) bool { return g.server == f.server })
		switch {
		case j < 0:
			reported = append(reported, f)
		case !reported[j].judged.Load() && f.judged.Load():
			reported[j] = f
		}
	}
	return reported
}

// serveStatus writes the status document, pretty-printed: people read it
// with curl. With ?name=NAME, only that name's; 404 if it is not reported here.
func (s *statusServer) serveStatus(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	if name != "" {
		if qname, err := queryName(name); err == nil { // as the Corefile's names
			name = qname
		} else {
			name = strings.ToLower(dns.Fqdn(name))
		}
	}
	doc := buildStatus(s.reported(), s.addr, name, time.Now())
	if name != "" && len(doc.Names) == 0 {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "name " + name + " is not reported at this address"})
		return
	}
	writeJSON(w, http.StatusOK, doc)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(append(body, '\n'))
}

// Bounds on a status connection.
const (
	statusReadTimeout    = 5 * time.Second
	statusWriteTimeout   = 10 * time.Second
	statusIdleTimeout    = 60 * time.Second
	statusMaxHeaderBytes = 16 << 10
)
