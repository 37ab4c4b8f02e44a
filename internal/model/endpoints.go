package model

import (
	"maps"
	"slices"
	"sort"
)

// Endpoints are kept apart from the Snapshot: an endpoint change takes the EDS fast
// path and never causes a translation.

// Endpoint is one ready (or serving) address behind a Service port.
type Endpoint struct {
	Address string
	// Port is the target port for the service port this endpoint set belongs to.
	Port uint32
	// Labels are the pod's labels; DestinationRule subsets select on them.
	Labels map[string]string
	// ServiceAccount gives the workload identity.
	ServiceAccount string
	Locality       Locality
	// Ready is false for terminating or not-ready endpoints; they are sent with
	// health status UNHEALTHY/DRAINING so clients stop picking them.
	Ready bool
	// TLSMode is the pod's security.istio.io/tlsMode label ("istio" means it
	// terminates Istio mTLS); auto-mTLS uses it.
	TLSMode string
	// Pod is "namespace/name" of the pod behind the address (the slice's targetRef),
	// empty for other endpoints: ambient workload discovery reads which services a pod
	// backs, on which target ports, from it.
	Pod string
	// Ambient is true when ztunnel captures the pod (Captured): it is reached over
	// HBONE, which is how a waypoint forwards to it.
	Ambient bool
}

// Locality is where an endpoint runs, from its node's topology labels.
type Locality struct {
	Region, Zone, Subzone string
}

// String renders the locality as Istio does: region/zone/subzone.
func (l Locality) String() string {
	return l.Region + "/" + l.Zone + "/" + l.Subzone
}

// EndpointKey names the endpoints of one port of one service.
type EndpointKey struct {
	Hostname string
	Port     uint32 // the service port
}

// EndpointIndex maps each service port to its endpoints, sorted by address.
type EndpointIndex map[EndpointKey][]Endpoint

// Sort orders every endpoint list by address and port, for deterministic output.
func (idx EndpointIndex) Sort() {
	for _, eps := range idx {
		sortEndpoints(eps)
	}
}

func sortEndpoints(eps []Endpoint) {
	sort.Slice(eps, func(i, j int) bool {
		if eps[i].Address != eps[j].Address {
			return eps[i].Address < eps[j].Address
		}
		return eps[i].Port < eps[j].Port
	})
}

// Equal reports whether two endpoints are the same in every field.
func (e Endpoint) Equal(o Endpoint) bool {
	return e.Address == o.Address && e.Port == o.Port && e.ServiceAccount == o.ServiceAccount &&
		e.Locality == o.Locality && e.Ready == o.Ready && e.TLSMode == o.TLSMode && e.Pod == o.Pod && e.Ambient == o.Ambient &&
		maps.Equal(e.Labels, o.Labels)
}

// ChangedSince lists the service ports whose endpoints differ from old's (added,
// changed or gone): what an EDS push must re-render. A list old holds too (an
// EndpointIndexer keeps the lists of unchanged service ports) is unchanged without a
// look at its endpoints.
func (idx EndpointIndex) ChangedSince(old EndpointIndex) map[EndpointKey]bool {
	out := map[EndpointKey]bool{}
	for k, eps := range idx {
		prev, ok := old[k]
		if ok && len(eps) == len(prev) && (len(eps) == 0 || &eps[0] == &prev[0]) {
			continue
		}
		if !ok || !slices.EqualFunc(eps, prev, Endpoint.Equal) {
			out[k] = true
		}
	}
	for k := range old {
		if _, ok := idx[k]; !ok {
			out[k] = true
		}
	}
	return out
}
