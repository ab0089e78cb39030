package healthcheck

import (
	"context"
	"net"
	"net/netip"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// servingError is a probe failure on a health answer other than SERVING.
type servingError healthpb.HealthCheckResponse_ServingStatus

func (e servingError) Error() string {
	return "grpc status " + healthpb.HealthCheckResponse_ServingStatus(e).String()
}

// rpcError is a probe failure on a health RPC that failed with a gRPC status:
// "grpc: Unimplemented: unknown service grpc.health.v1.Health".
type rpcError struct{ status *status.Status }

func (e rpcError) Error() string {
	if msg := e.status.Message(); msg != "" {
		return "grpc: " + e.status.Code().String() + ": " + msg
	}
	return "grpc: " + e.status.Code().String()
}

func (e rpcError) GRPCStatus() *status.Status { return e.status }

// newGRPCProber asks the endpoint at target, with the standard health service
// (grpc.health.v1.Health/Check), about c.Service; it passes on SERVING.
//
// grpc:// speaks HTTP/2 in clear text (h2c) and ignores s.TLS; grpcs:// speaks
// TLS configured by clientTLS(s.TLS, host), as https:// does. The :authority
// is host:port, host being c.Host or else the endpoint's address, and port the
// one the probe connects to, as an http probe's Host header.
func newGRPCProber(c *Check, s Settings, addr netip.Addr, target string) prober {
	host := c.Host
	if host == "" {
		host = addr.String()
	}
	_, port, _ := net.SplitHostPort(target)
	authority := net.JoinHostPort(host, port)
	var (
		secure     credentials.TransportCredentials
		serverName string
	)
	if c.Scheme == "grpcs" {
		cfg := clientTLS(s.TLS, host)
		// gRPC takes the server name from the :authority; grpcTLS gives it.
		serverName, cfg.ServerName = cfg.ServerName, ""
		secure = credentials.NewTLS(cfg)
	}
	dialer := &net.Dialer{}
	return func(ctx context.Context) error {
		// Why the connection failed, if it did: gRPC reports it only as text.
		var connErr atomic.Pointer[error]
		failed := func(err error) {
			if err != nil {
				connErr.CompareAndSwap(nil, &err)
			}
		}
		creds := insecure.NewCredentials()
		if secure != nil {
			creds = &grpcTLS{TransportCredentials: secure, serverName: serverName, failed: failed}
		}
		// A connection of its own, closed after the one RPC: a kept channel
		// would reconnect in the background and hide a listener that no
		// longer accepts, as a kept-alive HTTP connection would.
		conn, err := grpc.NewClient("passthrough:///"+target,
			grpc.WithTransportCredentials(creds),
			grpc.WithAuthority(authority),
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
				conn, err := dialer.DialContext(ctx, "tcp", target)
				failed(err)
				return conn, err
			}),
			grpc.WithNoProxy(), // never a proxy from the environment
			grpc.WithUserAgent(userAgent),
			grpc.WithDisableRetry(),
			grpc.WithMaxHeaderListSize(uint32(maxHeaderBytes)),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxHealthResponse)),
		)
		if err != nil {
			return err
		}
		defer conn.Close()
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: c.Service})
		switch {
		case err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING:
			return nil
		case err == nil:
			return servingError(resp.GetStatus())
		case connErr.Load() != nil:
			return *connErr.Load()
		case ctx.Err() != nil:
			return ctx.Err() // the deadline, or the engine stopping
		}
		return rpcError{status.Convert(err)}
	}
}

// grpcTLS is the TLS of one gRPC probe. It verifies serverName, which gRPC
// would otherwise take from the :authority, and records a failed handshake.
type grpcTLS struct {
	credentials.TransportCredentials
	serverName string
	failed     func(error)
}

func (t *grpcTLS) ClientHandshake(ctx context.Context, _ string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	tlsConn, info, err := t.TransportCredentials.ClientHandshake(ctx, t.serverName, conn)
	t.failed(err)
	return tlsConn, info, err
}

func (t *grpcTLS) Clone() credentials.TransportCredentials {
	return &grpcTLS{TransportCredentials: t.TransportCredentials.Clone(), serverName: t.serverName, failed: t.failed}
}

// maxHealthResponse bounds the health answer a gRPC probe reads; a
// HealthCheckResponse is a few bytes. Its headers are bounded by maxHeaderBytes.
const maxHealthResponse = 4 << 10
