package kube

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The outcomes of calls, as reflectors report them, make the status and the
// metric of a Source.
func TestHealthTransitions(t *testing.T) {
	src := Source{Kubeconfig: "/health-test"}
	h := newHealth(src)
	defer h.close()
	metric := func() float64 { return testutil.ToFloat64(apiUp.WithLabelValues(src.String())) }
	ctx := context.Background()
	a, b := &listWatch{}, &listWatch{}

	st := h.Status()
	if st.Up || st.Err == "" || metric() != 0 {
		t.Fatalf("before any call: %+v, metric %v; want down, not connected", st, metric())
	}
	h.called(ctx, a, nil)
	if st := h.Status(); !st.Up || st.Err != "" || metric() != 1 {
		t.Fatalf("after a call succeeded: %+v, metric %v", st, metric())
	}
	upSince := h.Status().Since

	_, refused := net.Dial("tcp", "127.0.40.1:1") // nothing listens there
	if refused == nil {
		t.Fatal("something listens on 127.0.40.1:1")
	}
	h.called(ctx, a, refused)
	st = h.Status()
	if st.Up || !strings.Contains(st.Err, "connection refused") || metric() != 0 || !st.Since.After(upSince) {
		t.Fatalf("after a refused call: %+v, metric %v", st, metric())
	}
	h.called(ctx, b, nil)
	if h.Status().Up {
		t.Fatal("up while a's last call failed")
	}
	h.called(ctx, a, apierrors.NewInternalError(errors.New("etcd is away")))
	if st := h.Status(); st.Up || !strings.Contains(st.Err, "etcd is away") {
		t.Fatalf("a later error is not reported: %+v", st)
	}
	h.called(ctx, a, nil)
	if st := h.Status(); !st.Up || metric() != 1 {
		t.Fatalf("after every reflector's call succeeded: %+v, metric %v", st, metric())
	}

	// The protocol's errors, and errors of a watch that is stopping, are
	// no outage.
	h.called(ctx, a, apierrors.NewResourceExpired("too old resource version"))
	h.called(ctx, a, apierrors.NewGone("gone"))
	stopped, cancel := context.WithCancel(ctx)
	cancel()
	h.called(stopped, a, refused)
	if !h.Status().Up {
		t.Fatalf("benign errors made the source down: %+v", h.Status())
	}

	// Forbidden is down too: the Services cannot be read.
	h.called(ctx, b, apierrors.NewForbidden(schema.GroupResource{Resource: "services"}, "", errors.New("RBAC")))
	if st := h.Status(); st.Up || !strings.Contains(st.Err, "forbidden") {
		t.Fatalf("forbidden: %+v", st)
	}
	// A watch that stops no longer counts.
	h.forget(b)
	if !h.Status().Up {
		t.Fatalf("the failure of a stopped watch keeps the source down: %+v", h.Status())
	}

	h.close()
	if n := testutil.CollectAndCount(apiUp, "coredns_failover_kubernetes_api_up"); n != 0 {
		t.Errorf("%d series left after the source closed", n)
	}
}
