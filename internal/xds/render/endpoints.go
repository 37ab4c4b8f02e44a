package render

import (
	"sort"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshd-io/meshd/internal/model"
)

// Endpoints renders the ClusterLoadAssignment of each EDS cluster from the endpoint
// index: the EDS fast path, run on endpoint changes without re-translating. Endpoints
// are grouped by locality; every group carries its Locality and a non-zero weight
// (grpc-go ignores groups without them). Envoy endpoints carry their tlsMode for
// auto-mTLS.
func Endpoints(clusters []EDSCluster, idx model.EndpointIndex, f Flavor) []*endpointv3.ClusterLoadAssignment {
	out := make([]*endpointv3.ClusterLoadAssignment, 0, len(clusters))
	for _, c := range clusters {
		out = append(out, loadAssignment(c, idx[model.EndpointKey{Hostname: c.Hostname, Port: c.Port}], f))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ClusterName < out[j].ClusterName })
	return out
}

func loadAssignment(c EDSCluster, eps []model.Endpoint, f Flavor) *endpointv3.ClusterLoadAssignment {
	byLocality := map[model.Locality][]*endpointv3.LbEndpoint{}
	for _, ep := range eps {
		if !selects(c.Labels, ep.Labels) {
			continue
		}
		health := corev3.HealthStatus_HEALTHY
		if !ep.Ready {
			health = corev3.HealthStatus_UNHEALTHY
		}
		lb := &endpointv3.LbEndpoint{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: SocketAddress(ep.Address, ep.Port),
			}},
			HealthStatus:        health,
			LoadBalancingWeight: wrapperspb.UInt32(1),
		}
		if f == Envoy && ep.TLSMode != "" {
			lb.Metadata = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
				TransportSocketMatchFilter: {Fields: map[string]*structpb.Value{TLSModeKey: structpb.NewStringValue(ep.TLSMode)}},
			}}
		}
		byLocality[ep.Locality] = append(byLocality[ep.Locality], lb)
	}
	localities := make([]model.Locality, 0, len(byLocality))
	for l := range byLocality {
		localities = append(localities, l)
	}
	sort.Slice(localities, func(i, j int) bool { return localities[i].String() < localities[j].String() })
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: c.Name}
	for _, l := range localities {
		lbs := byLocality[l]
		cla.Endpoints = append(cla.Endpoints, &endpointv3.LocalityLbEndpoints{
			Locality:            &corev3.Locality{Region: l.Region, Zone: l.Zone, SubZone: l.Subzone},
			LbEndpoints:         lbs,
			LoadBalancingWeight: wrapperspb.UInt32(uint32(len(lbs))),
		})
	}
	return cla
}

// selects reports whether an endpoint's labels include every subset label.
func selects(want, have map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
