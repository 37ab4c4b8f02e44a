package xds

import (
	"context"
	"crypto/x509"
	"slices"
	"strings"
	"sync/atomic"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/go-logr/logr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// identityMetadataKey is the node metadata field in which the ADS front door records
// the identity the stream authenticated as. Whatever a proxy puts there itself is
// overwritten, so only the server's own finding ever reaches the caches.
const identityMetadataKey = "MESHD_AUTHENTICATED_IDENTITY"

// Identity is who an xDS stream proved to be: a SPIFFE ID of a Kubernetes service
// account.
type Identity struct {
	SPIFFE         string
	Namespace      string
	ServiceAccount string
}

// Identify authenticates the caller of a stream from its context (a verified client
// certificate or a service-account token). Errors are gRPC status errors.
type Identify func(ctx context.Context) (Identity, error)

// ServeOptions configure one listening port.
type ServeOptions struct {
	// GRPC are the gRPC server's options (TLS credentials on the secure port).
	GRPC []grpc.ServerOption
	// Register adds more services on the same port (the CA on 15012, as istiod does).
	Register func(*grpc.Server)
	// Identify, when set, admits only streams it authenticates, binds each stream to
	// that identity (the namespace a proxy claims must be its own) and lets the stream
	// read its own identity's secrets. Without it (the plaintext port) no secret is
	// served.
	Identify Identify
}

// identityADS authenticates every ADS stream before go-control-plane sees it and stamps
// the identity into each request's node.
type identityADS struct {
	discoveryv3.AggregatedDiscoveryServiceServer
	identify Identify
	log      logr.Logger
}

func (a identityADS) StreamAggregatedResources(st discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesServer) error {
	id, err := a.authenticate(st.Context())
	if err != nil {
		return err
	}
	stamp := &nodeStamp{stamp: a.stamper(id)}
	err = a.AggregatedDiscoveryServiceServer.StreamAggregatedResources(stampedStream{st, stamp})
	return refusedOr(stamp.refused.get(), err)
}

func (a identityADS) DeltaAggregatedResources(st discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesServer) error {
	id, err := a.authenticate(st.Context())
	if err != nil {
		return err
	}
	stamp := &nodeStamp{stamp: a.stamper(id)}
	err = a.AggregatedDiscoveryServiceServer.DeltaAggregatedResources(stampedDeltaStream{st, stamp})
	return refusedOr(stamp.refused.get(), err)
}

// refusedOr prefers the front door's refusal: go-control-plane ends a stream whose
// Recv fails as if the client had closed it, so the reason would otherwise be lost.
func refusedOr(refused, err error) error {
	if refused != nil {
		return refused
	}
	return err
}

func (a identityADS) authenticate(ctx context.Context) (*Identity, error) {
	if a.identify == nil {
		return nil, nil
	}
	id, err := a.identify(ctx)
	if err != nil {
		if _, ok := status.FromError(err); !ok {
			err = status.Error(codes.Unauthenticated, err.Error())
		}
		return nil, err
	}
	return &id, nil
}

// stamper returns what each received request's node goes through: the identity field
// set to id (or removed when the port authenticates nobody), and a proxy claiming a
// namespace other than its identity's refused, since config is scoped by namespace.
func (a identityADS) stamper(id *Identity) func(*corev3.Node) (*corev3.Node, error) {
	return func(n *corev3.Node) (*corev3.Node, error) {
		if n == nil {
			return nil, nil
		}
		md := n.GetMetadata().GetFields()
		_, spoofed := md[identityMetadataKey]
		if id == nil && !spoofed {
			return n, nil
		}
		n = proto.Clone(n).(*corev3.Node)
		if n.Metadata == nil {
			n.Metadata = &structpb.Struct{}
		}
		if n.Metadata.Fields == nil {
			n.Metadata.Fields = map[string]*structpb.Value{}
		}
		if id == nil {
			delete(n.Metadata.Fields, identityMetadataKey)
			return n, nil
		}
		if claimed := parseNode(n).Namespace; claimed != id.Namespace {
			a.log.Info("refused xDS stream: the proxy claims a namespace that is not its identity's",
				"node", n.GetId(), "claimed", claimed, "identity", id.SPIFFE)
			return nil, status.Errorf(codes.PermissionDenied,
				"node %q claims namespace %q but authenticated as %s", n.GetId(), claimed, id.SPIFFE)
		}
		n.Metadata.Fields[identityMetadataKey] = structpb.NewStringValue(id.SPIFFE)
		return n, nil
	}
}

// nodeStamp applies the front door to each request's node and keeps the first refusal.
type nodeStamp struct {
	stamp   func(*corev3.Node) (*corev3.Node, error)
	refused refusal
	// names are the stream's last resource names per type (read and written only by
	// the stream's receiving goroutine): see sameNames.
	names map[string][]string
}

// sameNames hands back the stream's previous name list of a type when a request
// repeats it, as every state-of-the-world ACK does (an Envoy sidecar's endpoint ACKs
// name every cluster of the mesh). go-control-plane keeps the last request and its
// subscription keyed by these strings; with the previous list reused, the request's
// fresh copies are garbage at once, so a stream holds one copy of its names, not
// one per type and request in flight.
func (s *nodeStamp) sameNames(typ string, names []string) []string {
	if len(names) == 0 {
		return names
	}
	if prev, ok := s.names[typ]; ok && slices.Equal(prev, names) {
		return prev
	}
	if s.names == nil {
		s.names = map[string][]string{}
	}
	s.names[typ] = names
	return names
}

func (s *nodeStamp) apply(node **corev3.Node) error {
	if *node == nil {
		return nil // go-control-plane reuses the stream's first node
	}
	stamped, err := s.stamp(*node)
	if err != nil {
		s.refused.set(err)
		return err
	}
	*node = stamped
	return nil
}

type stampedStream struct {
	discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesServer
	*nodeStamp
}

func (s stampedStream) Recv() (*discoveryv3.DiscoveryRequest, error) {
	req, err := s.AggregatedDiscoveryService_StreamAggregatedResourcesServer.Recv()
	if err == nil {
		req.ResourceNames = s.sameNames(req.TypeUrl, req.ResourceNames)
		err = s.apply(&req.Node)
	}
	return req, err
}

type stampedDeltaStream struct {
	discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesServer
	*nodeStamp
}

func (s stampedDeltaStream) Recv() (*discoveryv3.DeltaDiscoveryRequest, error) {
	req, err := s.AggregatedDiscoveryService_DeltaAggregatedResourcesServer.Recv()
	if err == nil {
		err = s.apply(&req.Node)
	}
	return req, err
}

// authenticatedIdentity is the identity the front door stamped into a node, or "".
func authenticatedIdentity(n *corev3.Node) string {
	return n.GetMetadata().GetFields()[identityMetadataKey].GetStringValue()
}

// refusal is the error a stream's receiving goroutine refused it with.
type refusal struct{ p atomic.Pointer[error] }

func (r *refusal) set(err error) { r.p.Store(&err) }

func (r *refusal) get() error {
	if p := r.p.Load(); p != nil {
		return *p
	}
	return nil
}

// CertificateIdentity reads the service account a mesh certificate was issued to from
// its SPIFFE ID, spiffe://<trust-domain>/ns/<ns>/sa/<sa>.
func CertificateIdentity(cert *x509.Certificate, trustDomain string) (Identity, bool) {
	for _, u := range cert.URIs {
		parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
		if u.Scheme == "spiffe" && u.Host == trustDomain && len(parts) == 4 && parts[0] == "ns" && parts[2] == "sa" && parts[1] != "" && parts[3] != "" {
			return Identity{SPIFFE: u.String(), Namespace: parts[1], ServiceAccount: parts[3]}, true
		}
	}
	return Identity{}, false
}
