package render

import (
	"net"
	"sort"
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshd-io/meshd/internal/model"
)

// Endpoints renders the ClusterLoadAssignment of each EDS cluster from the endpoint
// index: the EDS fast path, run on endpoint changes without re-translating. Endpoints
// are grouped by priority and locality; every group carries its Locality and a
// non-zero weight (grpc-go ignores groups without them). Priorities and weights follow
// the cluster's locality settings for the scope's client. Envoy endpoints carry their
// tlsMode for auto-mTLS.
func Endpoints(clusters []*EDSCluster, idx model.EndpointIndex, f Flavor, client Scope) []*endpointv3.ClusterLoadAssignment {
	out := make([]*endpointv3.ClusterLoadAssignment, 0, len(clusters))
	for _, c := range clusters {
		out = append(out, loadAssignment(c, idx[model.EndpointKey{Hostname: c.Hostname, Port: c.Port}], f, client))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ClusterName < out[j].ClusterName })
	return out
}

type endpointGroup struct {
	priority uint32
	locality model.Locality
}

func loadAssignment(c *EDSCluster, eps []model.Endpoint, f Flavor, client Scope) *endpointv3.ClusterLoadAssignment {
	groups := map[endpointGroup][]*endpointv3.LbEndpoint{}
	var localities []model.Locality
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
		switch {
		case f == Waypoint && ep.Ambient:
			tunnelled(lb, ep)
		case f == Envoy && ep.TLSMode != "":
			lb.Metadata = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
				TransportSocketMatchFilter: {Fields: map[string]*structpb.Value{TLSModeKey: structpb.NewStringValue(ep.TLSMode)}},
			}}
		}
		g := endpointGroup{locality: ep.Locality}
		if c.Failover {
			g.priority = priority(c.Locality, ep, client)
		}
		if _, seen := groups[g]; !seen {
			localities = append(localities, ep.Locality)
		}
		groups[g] = append(groups[g], lb)
	}
	var weights map[model.Locality]uint32
	if c.Distribute {
		weights = distribution(c.Locality, client.Locality, localities)
	}
	keys := make([]endpointGroup, 0, len(groups))
	for g := range groups {
		if weights == nil || weights[g.locality] > 0 {
			keys = append(keys, g)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].priority != keys[j].priority {
			return keys[i].priority < keys[j].priority
		}
		return keys[i].locality.String() < keys[j].locality.String()
	})
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: c.Name}
	// Envoy needs priorities numbered from 0 without gaps.
	var prio uint32
	for i, g := range keys {
		if i > 0 && g.priority != keys[i-1].priority {
			prio++
		}
		lbs := groups[g]
		weight := uint32(len(lbs))
		if weights != nil {
			weight = weights[g.locality]
		}
		cla.Endpoints = append(cla.Endpoints, &endpointv3.LocalityLbEndpoints{
			Locality:            &corev3.Locality{Region: g.locality.Region, Zone: g.locality.Zone, SubZone: g.locality.Subzone},
			LbEndpoints:         lbs,
			LoadBalancingWeight: wrapperspb.UInt32(weight),
			Priority:            prio,
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

// tunnelled makes a waypoint's endpoint an internal address of connect_originate: the
// endpoint ID keeps workloads apart, and the metadata (passed through by the
// cluster's internal_upstream socket) tells connect_originate where to tunnel.
func tunnelled(lb *endpointv3.LbEndpoint, ep model.Endpoint) {
	target := net.JoinHostPort(ep.Address, strconv.FormatUint(uint64(ep.Port), 10))
	lb.GetEndpoint().Address = &corev3.Address{Address: &corev3.Address_EnvoyInternalAddress{EnvoyInternalAddress: &corev3.EnvoyInternalAddress{
		AddressNameSpecifier: &corev3.EnvoyInternalAddress_ServerListenerName{ServerListenerName: ConnectOriginate},
		EndpointId:           target,
	}}}
	lb.Metadata = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
		OriginalDstMetadata: {Fields: map[string]*structpb.Value{"local": structpb.NewStringValue(target)}},
	}}
}
