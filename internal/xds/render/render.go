// Package render turns pieces of the IR into Envoy resources: routes, clusters and
// endpoints. The per-class generators (grpcgen for proxyless gRPC, sidecargen for Envoy
// sidecars) assemble them into listeners and route configurations. A Flavor says which
// client reads the result, since grpc-go implements a subset of Envoy's API and NACKs
// or ignores some of it. Everything here is pure.
package render

import (
	"sync"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/model"
	"github.com/meshd-io/meshd/internal/protomarshal"
)

// Flavor is the kind of xDS client a resource is rendered for.
type Flavor int

const (
	// Proxyless is grpc-go's xDS client: no query strings, no RANDOM or MAGLEV, no
	// consecutive-error ejection, no CORS or TLS contexts from meshd.
	Proxyless Flavor = iota
	// Envoy is an Envoy proxy (sidecar, gateway, waypoint): all of it.
	Envoy
	// Waypoint is a waypoint's Envoy: Envoy's API, but it reaches workloads through
	// HBONE tunnels. Its clusters hand connections to the connect_originate internal
	// listener, and their endpoints are internal addresses that carry the workload's
	// IP:port in metadata.
	Waypoint
)

// Names of a waypoint's HBONE plumbing, as Istio names them.
const (
	// ConnectOriginate is the internal listener (and the ORIGINAL_DST cluster behind
	// it) that opens an HBONE tunnel to a workload's port 15008.
	ConnectOriginate = "connect_originate"
	// OriginalDstMetadata is the metadata namespace whose "local" field the
	// original_dst listener filter of an internal listener restores the destination
	// address from.
	OriginalDstMetadata = "envoy.filters.listener.original_dst"
)

// Filter names, as Envoy and grpc-go know them.
const (
	FaultFilter  = "envoy.filters.http.fault"
	CORSFilter   = "envoy.filters.http.cors"
	RouterFilter = "envoy.filters.http.router"
)

// Lookup finds a service and the DestinationRule the client's scope uses for it.
type Lookup func(host string) (*ir.Service, *ir.DestinationPolicy)

// Resources are the config of one proxy class and scope, each list sorted by name.
type Resources struct {
	Listeners []*listenerv3.Listener
	Routes    []*routev3.RouteConfiguration
	Clusters  []*clusterv3.Cluster
	// EDS are the clusters whose endpoints the client asks for: the input to the EDS
	// fast path, which renders ClusterLoadAssignments without re-translating.
	EDS []*EDSCluster
	// Services are the services a sidecar or proxyless scope's config was rendered
	// for, by hostname (nil for other classes): what a config update must change for
	// the config to change (see xds's unchanged).
	Services []*ir.Service
}

// Messages lists every resource, in the order a proxy takes them (listeners, routes,
// clusters), then the endpoints of idx rendered for the scope: for tests and
// measurements that look at a scope's whole config.
func (r *Resources) Messages(idx model.EndpointIndex, f Flavor, scope Scope) []proto.Message {
	out := make([]proto.Message, 0, len(r.Listeners)+len(r.Routes)+2*len(r.Clusters))
	for _, m := range r.Listeners {
		out = append(out, m)
	}
	for _, m := range r.Routes {
		out = append(out, m)
	}
	for _, m := range r.Clusters {
		out = append(out, m)
	}
	for _, m := range Endpoints(r.EDS, idx, f, scope) {
		out = append(out, m)
	}
	return out
}

// AppendEDS appends to dst a pointer to each of eds: a scope's EDS clusters are
// pointers into what its generator rendered (and memoized) per service, not copies,
// as a regeneration for one change listed them all again.
func AppendEDS(dst []*EDSCluster, eds []EDSCluster) []*EDSCluster {
	for i := range eds {
		dst = append(dst, &eds[i])
	}
	return dst
}

// EDSCluster says which endpoints a cluster's ClusterLoadAssignment holds.
type EDSCluster struct {
	Name     string
	Hostname string
	Port     uint32
	// Labels filter endpoints for a subset cluster.
	Labels map[string]string
	// Locality is the cluster's localityLbSetting; Failover orders endpoints into
	// priorities from the client's locality, Distribute weights localities.
	Locality   *ir.LocalityLB
	Failover   bool
	Distribute bool
}

// ADSSource tells the client to fetch a resource over the same ADS stream.
func ADSSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
}

// MustAny wraps a message; marshalling a well-formed generated message cannot fail.
// The bytes are deterministic (protomarshal): an Any's value is opaque to the outer
// marshal, so a map inside (RBAC's policies) would otherwise come out in another order
// each time, and the resource's version would change with nothing changed.
func MustAny(m proto.Message) *anypb.Any {
	a, err := protomarshal.Any(m)
	if err != nil {
		panic(err)
	}
	return a
}

// onceAny packs a message that never changes the first time it is asked for, and
// hands out copies of that Any sharing its bytes: packing an empty predicate for every
// route cost as much as the rest of the route's retry policy.
func onceAny(m proto.Message) func() *anypb.Any {
	packed := sync.OnceValue(func() *anypb.Any { return MustAny(m) })
	return func() *anypb.Any {
		a := packed()
		return &anypb.Any{TypeUrl: a.TypeUrl, Value: a.Value}
	}
}

// SocketAddress is a TCP address.
func SocketAddress(ip string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}
