package grpcgen

import (
	"sort"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshd-io/meshd/internal/model"
)

// Endpoints renders the ClusterLoadAssignment of each EDS cluster from the endpoint
// index: the EDS fast path, run on endpoint changes without re-translating. Endpoints
// are grouped by locality; every group carries its Locality and a non-zero weight
// (grpc-go ignores groups without them).
func Endpoints(clusters []EDSCluster, idx model.EndpointIndex) []*endpointv3.ClusterLoadAssignment {
	out := make([]*endpointv3.ClusterLoadAssignment, 0, len(clusters))
	for _, c := range clusters {
		out = append(out, loadAssignment(c, idx[model.EndpointKey{Hostname: c.Hostname, Port: c.Port}]))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ClusterName < out[j].ClusterName })
	return out
}

func loadAssignment(c EDSCluster, eps []model.Endpoint) *endpointv3.ClusterLoadAssignment {
	byLocality := map[model.Locality][]*endpointv3.LbEndpoint{}
	for _, ep := range eps {
		if !selects(c.Labels, ep.Labels) {
			continue
		}
		health := corev3.HealthStatus_HEALTHY
		if !ep.Ready {
			health = corev3.HealthStatus_UNHEALTHY
		}
		byLocality[ep.Locality] = append(byLocality[ep.Locality], &endpointv3.LbEndpoint{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: socketAddress(ep.Address, ep.Port),
			}},
			HealthStatus:        health,
			LoadBalancingWeight: wrapperspb.UInt32(1),
		})
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

func socketAddress(ip string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}
