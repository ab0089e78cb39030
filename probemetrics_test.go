package failover

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/failover-dns/failover/healthcheck"
)

// A thousand failures whose texts all differ (each names its own address and
// port, which gRPC's errors quote) make at most one probes_total series per class.
func grpcHealthCheck(addr string) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

func TestProbeSeriesBounded(t *testing.T) {
	client := &http.Client{Timeout: time.Second}
	texts := map[string]bool{}
	for i := range 1000 {
		ip := fmt.Sprintf("127.0.0.%d", 90+i%4)
		ln, err := net.Listen("tcp", ip+":0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close() // nothing listens there any more: refused
		switch i % 3 {
		case 0:
			_, err = net.DialTimeout("tcp", addr, time.Second)
		case 1:
			var resp *http.Response
			resp, err = client.Get("http://" + addr + "/health")
			if err == nil {
				resp.Body.Close()
			}
		default: // gRPC quotes the address it could not dial
			err = grpcHealthCheck(addr)
		}
		if err == nil {
			t.Fatalf("%s answered; want it refused", addr)
		}
		texts[err.Error()] = true
		recordProbe(nil, err, time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	recordProbe(nil, ctx.Err(), time.Millisecond)

	if len(texts) < 900 {
		t.Fatalf("only %d distinct error texts: the test no longer makes distinct failures", len(texts))
	}
	if n := testutil.CollectAndCount(probes); n > len(healthcheck.Classes)+1 {
		t.Errorf("%d probes_total series after %d distinct failures; want at most one per class and one for passes", n, len(texts))
	}
	for _, class := range []string{healthcheck.ClassRefused, healthcheck.ClassTimeout} {
		if v := testutil.ToFloat64(probes.WithLabelValues("fail", class)); v < 1 {
			t.Errorf(`probes_total{result="fail",reason=%q} = %v, want at least 1`, class, v)
		}
	}
}
