package grpcxds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	xdscreds "google.golang.org/grpc/credentials/xds"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/xds"
)

// IstioServerListenerTemplate is Istio's server_listener_resource_name_template.
const IstioServerListenerTemplate = "xds.istio.io/grpc/lds/inbound/%s"

// NodeID returns an Istio-style proxyless node ID:
// "sidecar~<ip>~<pod>.<ns>~<ns>.svc.cluster.local".
func NodeID(ip, pod, namespace string) string {
	return fmt.Sprintf("sidecar~%s~%s.%s~%s.svc.cluster.local", ip, pod, namespace, namespace)
}

// XDSConfig describes one proxyless gRPC xDS client (or xDS server backend,
// see WithXDSServer) and its private bootstrap.
type XDSConfig struct {
	// ServerAddr is the xDS (ADS) server's host:port; plaintext unless
	// ChannelCreds says otherwise.
	ServerAddr string
	// NodeID is the bootstrap node.id, e.g.
	// NodeID("127.0.0.1", "client-0", "default").
	NodeID string
	// Metadata is the bootstrap node.metadata, e.g.
	// {"GENERATOR": "grpc", "NAMESPACE": "default"}.
	Metadata map[string]string
	// Labels are the workload's labels, sent as node.metadata.LABELS (an object), as
	// Istio's agent does; the control plane selects policies with them.
	Labels map[string]string
	// Locality is the optional bootstrap node.locality.
	Locality *Locality
	// Target is the dial target, e.g.
	// "xds:///reviews.default.svc.cluster.local:9080". The client Listener
	// requested is the part after "xds:///" (template "%s"), and the virtual
	// host is chosen by matching the channel authority, which is that same
	// string (host:port, port included) unless the caller overrides it with
	// grpc.WithAuthority.
	Target string
	// ServerListenerTemplate is server_listener_resource_name_template
	// (default IstioServerListenerTemplate).
	ServerListenerTemplate string
	// ServerFeatures is xds_servers[0].server_features (default ["xds_v3"]).
	ServerFeatures []string
	// ChannelCreds is xds_servers[0].channel_creds (default
	// [{"type": "insecure"}]).
	ChannelCreds []map[string]any
	// CertificateProviders is the bootstrap certificate_providers map, e.g.
	// {"default": {"plugin_name": "file_watcher", "config": {
	// "certificate_file": ..., "private_key_file": ...,
	// "ca_certificate_file": ..., "refresh_interval": "1s"}}}.
	CertificateProviders map[string]any
	// XDSCredentials makes the client (or server backend) use xDS transport
	// credentials with an insecure fallback, so that TLS config from CDS
	// (client) or LDS (server) is applied. Always on for WithXDSServer.
	XDSCredentials bool
	// DialOptions are extra options for grpc.NewClient.
	DialOptions []grpc.DialOption
}

// Locality is a bootstrap node locality.
type Locality struct {
	Region  string `json:"region,omitempty"`
	Zone    string `json:"zone,omitempty"`
	SubZone string `json:"sub_zone,omitempty"`
}

// BootstrapJSON renders cfg as a gRPC xDS bootstrap (gRFC A27 format).
func BootstrapJSON(cfg XDSConfig) ([]byte, error) {
	if cfg.ServerAddr == "" {
		return nil, errors.New("grpcxds: XDSConfig.ServerAddr is empty")
	}
	if cfg.NodeID == "" {
		return nil, errors.New("grpcxds: XDSConfig.NodeID is empty")
	}
	features := cfg.ServerFeatures
	if features == nil {
		features = []string{"xds_v3"}
	}
	chCreds := cfg.ChannelCreds
	if chCreds == nil {
		chCreds = []map[string]any{{"type": "insecure"}}
	}
	tmpl := cfg.ServerListenerTemplate
	if tmpl == "" {
		tmpl = IstioServerListenerTemplate
	}
	node := map[string]any{"id": cfg.NodeID}
	md := map[string]any{}
	for k, v := range cfg.Metadata {
		md[k] = v
	}
	if len(cfg.Labels) > 0 {
		md["LABELS"] = cfg.Labels
	}
	if len(md) > 0 {
		node["metadata"] = md
	}
	if cfg.Locality != nil {
		node["locality"] = cfg.Locality
	}
	b := map[string]any{
		"xds_servers": []any{map[string]any{
			"server_uri":      cfg.ServerAddr,
			"channel_creds":   chCreds,
			"server_features": features,
		}},
		"node":                                   node,
		"server_listener_resource_name_template": tmpl,
	}
	if cfg.CertificateProviders != nil {
		b["certificate_providers"] = cfg.CertificateProviders
	}
	return json.MarshalIndent(b, "", "  ")
}

// Client is a proxyless grpc-go xDS client with its own bootstrap (its own
// xDS client, ADS stream and node ID), calling grpc.testing.TestService on
// the xds:/// target.
type Client struct {
	cfg  XDSConfig
	conn *grpc.ClientConn
	stub testgrpc.TestServiceClient
}

// NewClient creates a proxyless xDS client with a private, in-process
// bootstrap (no GRPC_XDS_BOOTSTRAP*): xds.NewXDSResolverWithConfigForTesting
// builds an "xds" resolver whose Build creates a new xDS client pool from the
// given bootstrap for every ClientConn, and grpc.WithResolvers makes this
// ClientConn use it instead of the global one. Several Clients in one process
// can therefore talk to different xDS servers with different node IDs. The
// channel connects lazily: the ADS stream opens with the first RPC (or
// Connect). Closed on t.Cleanup.
func NewClient(t testing.TB, cfg XDSConfig) *Client {
	t.Helper()
	c, err := Dial(cfg)
	if err != nil {
		t.Fatalf("grpcxds: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Dial is NewClient without testing.TB; the caller must Close the client.
func Dial(cfg XDSConfig) (*Client, error) {
	if !strings.HasPrefix(cfg.Target, "xds:") {
		return nil, fmt.Errorf("target %q is not an xds: target", cfg.Target)
	}
	bootstrap, err := BootstrapJSON(cfg)
	if err != nil {
		return nil, err
	}
	rb, err := xds.NewXDSResolverWithConfigForTesting(bootstrap)
	if err != nil {
		return nil, fmt.Errorf("xds resolver: %w", err)
	}
	var creds credentials.TransportCredentials = insecure.NewCredentials()
	if cfg.XDSCredentials {
		if creds, err = xdscreds.NewClientCredentials(xdscreds.ClientOptions{FallbackCreds: insecure.NewCredentials()}); err != nil {
			return nil, fmt.Errorf("xds client credentials: %w", err)
		}
	}
	opts := append([]grpc.DialOption{grpc.WithResolvers(rb), grpc.WithTransportCredentials(creds)}, cfg.DialOptions...)
	conn, err := grpc.NewClient(cfg.Target, opts...)
	if err != nil {
		return nil, fmt.Errorf("grpc.NewClient(%q): %w", cfg.Target, err)
	}
	return &Client{cfg: cfg, conn: conn, stub: testgrpc.NewTestServiceClient(conn)}, nil
}

// Conn returns the underlying ClientConn.
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// Config returns the client's XDSConfig.
func (c *Client) Config() XDSConfig { return c.cfg }

// Close closes the client (also done on t.Cleanup).
func (c *Client) Close() error { return c.conn.Close() }

// Call makes one UnaryCall with md as outgoing metadata and returns the name
// of the backend that answered ("" if none did) and the response metadata:
// headers and trailers joined (a failed call from a Backend carries
// x-backend and the x-echo-* keys in its trailers). opts are extra call
// options, e.g. grpc.WaitForReady(true).
func (c *Client) Call(ctx context.Context, md metadata.MD, opts ...grpc.CallOption) (backend string, header metadata.MD, err error) {
	return c.call(ctx, MethodUnaryCall, md, opts...)
}

// EmptyCall is Call with the EmptyCall method (for path-matching tests).
func (c *Client) EmptyCall(ctx context.Context, md metadata.MD, opts ...grpc.CallOption) (backend string, header metadata.MD, err error) {
	return c.call(ctx, MethodEmptyCall, md, opts...)
}

func (c *Client) call(ctx context.Context, method string, md metadata.MD, opts ...grpc.CallOption) (string, metadata.MD, error) {
	if len(md) > 0 {
		ctx = metadata.NewOutgoingContext(ctx, md)
	}
	var hdr, trl metadata.MD
	opts = append([]grpc.CallOption{grpc.Header(&hdr), grpc.Trailer(&trl)}, opts...)
	var err error
	var name string
	switch method {
	case MethodEmptyCall:
		_, err = c.stub.EmptyCall(ctx, &testgrpc.Empty{}, opts...)
	default:
		var resp *testgrpc.SimpleResponse
		resp, err = c.stub.UnaryCall(ctx, &testgrpc.SimpleRequest{}, opts...)
		name = resp.GetHostname()
	}
	all := metadata.Join(hdr, trl)
	if name == "" {
		if v := all.Get(BackendHeader); len(v) > 0 {
			name = v[0]
		}
	}
	return name, all, err
}

// Spread makes n sequential Calls and counts them per answering backend;
// failed calls are counted under their status code's name (e.g.
// "Unavailable", "DeadlineExceeded"), whichever backend failed them.
func (c *Client) Spread(ctx context.Context, n int, md metadata.MD, opts ...grpc.CallOption) map[string]int {
	out := make(map[string]int)
	for i := 0; i < n; i++ {
		backend, _, err := c.Call(ctx, md, opts...)
		if err != nil {
			out[status.Code(err).String()]++
			continue
		}
		out[backend]++
	}
	return out
}

// WaitFor calls Spread(batch) repeatedly until pred accepts a batch's counts
// or ctx ends. It returns the last counts and the time from the start of the
// wait to the start of the accepted batch.
func (c *Client) WaitFor(ctx context.Context, batch int, md metadata.MD, pred func(map[string]int) bool) (map[string]int, time.Duration, error) {
	start := time.Now()
	for {
		t := time.Now()
		got := c.Spread(ctx, batch, md)
		if pred(got) {
			return got, t.Sub(start), nil
		}
		if ctx.Err() != nil {
			return got, time.Since(start), fmt.Errorf("grpcxds: condition not met after %v, last counts %v: %w", time.Since(start).Round(time.Millisecond), got, ctx.Err())
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// Fraction returns counts[key] / (sum of counts), 0 for empty counts.
func Fraction(counts map[string]int, key string) float64 {
	total := 0
	for _, n := range counts {
		total += n
	}
	if total == 0 {
		return 0
	}
	return float64(counts[key]) / float64(total)
}
