package grpcxds

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	xdscreds "google.golang.org/grpc/credentials/xds"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/xds"
)

// Names of the test service and its methods, as matched by RDS path matchers
// (grpc-go matches a route's path/prefix/safe_regex against the full method
// name "/package.Service/Method").
const (
	ServiceName     = "grpc.testing.TestService"
	MethodUnaryCall = "/grpc.testing.TestService/UnaryCall"
	MethodEmptyCall = "/grpc.testing.TestService/EmptyCall"
)

// Metadata keys the backend writes.
const (
	// BackendHeader carries the name of the answering backend, in the
	// response headers of a successful call and in the trailers of a failed
	// one.
	BackendHeader = "x-backend"
	// EchoPrefix prefixes every request metadata key echoed back by the
	// backend: request key "foo" comes back as "x-echo-foo". Pseudo headers
	// lose their colon (":authority" comes back as "x-echo-authority").
	EchoPrefix = "x-echo-"
)

// Backend is a grpc-go server implementing grpc.testing.TestService
// (UnaryCall and EmptyCall) that reports its name and echoes the request
// metadata, with controllable failures and delay.
//
// Response metadata: on success the headers carry x-backend and the
// x-echo-* keys and SimpleResponse.Hostname/ServerId carry the name. On an
// injected failure nothing is put in the headers (the response is
// Trailers-Only, which is what allows grpc-go to retry the call: a call whose
// headers were received is committed and never retried, stream.go
// shouldRetry) and x-backend plus the x-echo-* keys travel in the trailers.
type Backend struct {
	testgrpc.UnimplementedTestServiceServer

	name    string
	lis     net.Listener
	stop    func()
	serving chan struct{} // closed once serving (always closed for plain backends)

	mu       sync.Mutex
	failN    int
	failCode codes.Code
	failAll  *codes.Code
	delay    time.Duration

	calls    atomic.Int64
	failures atomic.Int64
}

type backendOptions struct {
	addr       string
	lis        net.Listener
	serverOpts []grpc.ServerOption
	xds        *XDSConfig
}

// BackendOption configures StartBackend.
type BackendOption func(*backendOptions)

// WithListener serves on an already open listener (for example one inside a test
// network namespace) instead of listening on an address.
func WithListener(l net.Listener) BackendOption { return func(o *backendOptions) { o.lis = l } }

// WithAddr sets the listen address (default "127.0.0.1:0").
func WithAddr(addr string) BackendOption { return func(o *backendOptions) { o.addr = addr } }

// WithServerOptions adds grpc.ServerOptions (credentials, interceptors...).
func WithServerOptions(opts ...grpc.ServerOption) BackendOption {
	return func(o *backendOptions) { o.serverOpts = append(o.serverOpts, opts...) }
}

// WithXDSServer makes the backend a proxyless xDS *server*
// (xds.NewGRPCServer) with its own in-process bootstrap built from cfg
// (cfg.Target is ignored). It then asks the xDS server for the Listener
// named by cfg.ServerListenerTemplate filled with the backend's IP:PORT
// (Istio: "xds.istio.io/grpc/lds/inbound/127.0.0.1:PORT"), and accepts
// connections only once that Listener is received and valid (see
// WaitServing). Server credentials are xDS credentials with an insecure
// fallback, so a DownstreamTlsContext in the Listener turns mTLS on.
// Server-side RBAC (envoy.extensions.filters.http.rbac.v3.RBAC) is only
// enforced in this mode.
func WithXDSServer(cfg XDSConfig) BackendOption {
	return func(o *backendOptions) { o.xds = &cfg }
}

// StartBackend starts a backend on 127.0.0.1:0 (by default) and stops it on
// t.Cleanup.
func StartBackend(t testing.TB, name string, opts ...BackendOption) *Backend {
	t.Helper()
	o := backendOptions{addr: "127.0.0.1:0"}
	for _, opt := range opts {
		opt(&o)
	}
	lis := o.lis
	if lis == nil {
		var err error
		if lis, err = net.Listen("tcp", o.addr); err != nil {
			t.Fatalf("grpcxds: backend %s: listen: %v", name, err)
		}
	}
	b := &Backend{name: name, lis: lis, serving: make(chan struct{})}

	var reg interface {
		grpc.ServiceRegistrar
		Serve(net.Listener) error
		Stop()
	}
	if o.xds == nil {
		s := grpc.NewServer(o.serverOpts...)
		reg = s
		close(b.serving)
	} else {
		bootstrap, err := BootstrapJSON(*o.xds)
		if err != nil {
			_ = lis.Close()
			t.Fatalf("grpcxds: backend %s: %v", name, err)
		}
		creds, err := xdscreds.NewServerCredentials(xdscreds.ServerOptions{FallbackCreds: insecure.NewCredentials()})
		if err != nil {
			_ = lis.Close()
			t.Fatalf("grpcxds: backend %s: xds server credentials: %v", name, err)
		}
		var once sync.Once
		sopts := append([]grpc.ServerOption{
			grpc.Creds(creds),
			xds.BootstrapContentsForTesting(bootstrap),
			xds.ServingModeCallback(func(addr net.Addr, args xds.ServingModeChangeArgs) {
				t.Logf("grpcxds: backend %s (%s): serving mode %v (err: %v)", name, addr, args.Mode, args.Err)
				if args.Mode == connectivity.ServingModeServing {
					once.Do(func() { close(b.serving) })
				}
			}),
		}, o.serverOpts...)
		s, err := xds.NewGRPCServer(sopts...)
		if err != nil {
			_ = lis.Close()
			t.Fatalf("grpcxds: backend %s: xds.NewGRPCServer: %v", name, err)
		}
		reg = s
	}
	testgrpc.RegisterTestServiceServer(reg, b)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = reg.Serve(lis)
	}()
	b.stop = func() {
		reg.Stop()
		<-done
	}
	t.Cleanup(b.Stop)
	return b
}

// Name returns the backend's name.
func (b *Backend) Name() string { return b.name }

// Addr returns the backend's host:port.
func (b *Backend) Addr() string { return b.lis.Addr().String() }

// Host returns the backend's IP.
func (b *Backend) Host() string { return b.lis.Addr().(*net.TCPAddr).IP.String() }

// Port returns the backend's port.
func (b *Backend) Port() uint32 { return uint32(b.lis.Addr().(*net.TCPAddr).Port) }

// Stop stops the backend (also done on t.Cleanup); it is idempotent.
func (b *Backend) Stop() {
	b.mu.Lock()
	stop := b.stop
	b.stop = nil
	b.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// WaitServing waits until an xDS backend (WithXDSServer) has received a valid
// Listener and serves. It returns at once for plain backends.
func (b *Backend) WaitServing(ctx context.Context) error {
	select {
	case <-b.serving:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("grpcxds: backend %s not serving: %w", b.name, ctx.Err())
	}
}

// SetFailures makes the next n calls fail with code (for retry tests).
func (b *Backend) SetFailures(n int, code codes.Code) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failN, b.failCode = n, code
}

// SetFailAll makes every call fail with code until SetHealthy (for outlier
// detection tests).
func (b *Backend) SetFailAll(code codes.Code) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failAll = &code
}

// SetHealthy clears SetFailAll, SetFailures and SetDelay.
func (b *Backend) SetHealthy() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failAll, b.failN, b.delay = nil, 0, 0
}

// SetDelay delays every call by d before answering (0 disables).
func (b *Backend) SetDelay(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.delay = d
}

// Calls returns the number of calls received (failed ones included).
func (b *Backend) Calls() int64 { return b.calls.Load() }

// Failures returns the number of calls answered with an injected failure.
func (b *Backend) Failures() int64 { return b.failures.Load() }

// ResetCalls zeroes Calls and Failures.
func (b *Backend) ResetCalls() {
	b.calls.Store(0)
	b.failures.Store(0)
}

// UnaryCall implements grpc.testing.TestService.
func (b *Backend) UnaryCall(ctx context.Context, _ *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	if err := b.handle(ctx); err != nil {
		return nil, err
	}
	return &testgrpc.SimpleResponse{Hostname: b.name, ServerId: b.name}, nil
}

// EmptyCall implements grpc.testing.TestService.
func (b *Backend) EmptyCall(ctx context.Context, _ *testgrpc.Empty) (*testgrpc.Empty, error) {
	if err := b.handle(ctx); err != nil {
		return nil, err
	}
	return &testgrpc.Empty{}, nil
}

func (b *Backend) handle(ctx context.Context) error {
	b.calls.Add(1)
	b.mu.Lock()
	delay := b.delay
	var fail *codes.Code
	switch {
	case b.failAll != nil:
		c := *b.failAll
		fail = &c
	case b.failN > 0:
		b.failN--
		c := b.failCode
		fail = &c
	}
	b.mu.Unlock()

	md := b.responseMD(ctx)
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			_ = grpc.SetTrailer(ctx, md)
			return status.FromContextError(ctx.Err()).Err()
		}
	}
	if fail != nil {
		b.failures.Add(1)
		_ = grpc.SetTrailer(ctx, md) // trailers only: keeps the call retryable
		return status.Errorf(*fail, "grpcxds: injected failure from backend %s", b.name)
	}
	return grpc.SetHeader(ctx, md)
}

func (b *Backend) responseMD(ctx context.Context) metadata.MD {
	out := metadata.Pairs(BackendHeader, b.name)
	in, _ := metadata.FromIncomingContext(ctx)
	for k, vs := range in {
		k = strings.TrimPrefix(k, ":")
		if strings.HasPrefix(k, "grpc-") {
			continue // reserved
		}
		out.Append(EchoPrefix+k, vs...)
	}
	return out
}
