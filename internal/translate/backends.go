package translate

import (
	"fmt"

	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshd-io/meshd/internal/ir"
)

// backend is a route's backendRef with the header edits of its own filters.
type backend struct {
	ref     gatewayv1.BackendRef
	headers ir.HeaderOps
}

// ruleBackends are a rule's backends with their header filters applied; other
// backend filters make the route unsupported.
func ruleBackends(in *routeInput, path string, refs []gatewayv1.HTTPBackendRef) []backend {
	out := make([]backend, 0, len(refs))
	for j, b := range refs {
		bk := backend{ref: b.BackendRef}
		for k, f := range b.Filters {
			if msg := backendFilter(&bk.headers, f.Type, f.RequestHeaderModifier, f.ResponseHeaderModifier); msg != "" {
				in.unsupported = fmt.Sprintf("%s.backendRefs[%d].filters[%d]: %s", path, j, k, msg)
			}
		}
		out = append(out, bk)
	}
	return out
}

func plainBackends(refs []gatewayv1.BackendRef) []backend {
	out := make([]backend, 0, len(refs))
	for _, r := range refs {
		out = append(out, backend{ref: r})
	}
	return out
}

// backendRefs resolves backends to weighted destinations. A backend that is not a
// Service, names a missing one or port, or sits in another namespace without a
// ReferenceGrant is reported on the route (ResolvedRefs=False) and left out; weight
// zero leaves a backend out too.
func (t *translator) backendRefs(in *routeInput, backends []backend, path string) []*ir.Destination {
	var out []*ir.Destination
	for i, b := range backends {
		ref := b.ref
		field := fmt.Sprintf("%s.backendRefs[%d]", path, i)
		group, kind, ns := refTarget(ref.Group, ref.Kind, ref.Namespace, coreGroup, kindService, in.key.Namespace)
		if group != coreGroup || kind != kindService {
			in.problem(gatewayv1.RouteReasonInvalidKind, fmt.Sprintf("%s: %s %q is not a Service", field, groupKind(group, kind), ref.Name))
			continue
		}
		if !t.referenceAllowed(gatewayGroup, in.key.Kind, in.key.Namespace, coreGroup, kindService, ns, string(ref.Name)) {
			in.problem(gatewayv1.RouteReasonRefNotPermitted,
				fmt.Sprintf("%s: Service %s/%s is in another namespace and no ReferenceGrant there allows %ss from %s", field, ns, ref.Name, in.key.Kind, in.key.Namespace))
			continue
		}
		host := string(ref.Name) + "." + ns + ".svc." + t.snap.ClusterDomain
		svc := t.snap.Services[host]
		if svc == nil {
			in.problem(gatewayv1.RouteReasonBackendNotFound, fmt.Sprintf("%s: Service %s/%s does not exist", field, ns, ref.Name))
			continue
		}
		if ref.Port == nil {
			in.problem(gatewayv1.RouteReasonUnsupportedValue, fmt.Sprintf("%s: a Service backend needs a port", field))
			continue
		}
		port := uint32(*ref.Port)
		if _, ok := svc.Port(port); !ok {
			in.problem(gatewayv1.RouteReasonBackendNotFound, fmt.Sprintf("%s: Service %s/%s has no port %d", field, ns, ref.Name, port))
			continue
		}
		weight := uint32(1)
		if ref.Weight != nil {
			weight = uint32(*ref.Weight)
		}
		if weight == 0 {
			continue
		}
		out = append(out, &ir.Destination{Cluster: ir.ClusterName(port, "", host), Hostname: host, Port: port, Weight: weight, Headers: b.headers})
	}
	return out
}

func groupKind(group, kind string) string {
	if group == "" {
		return "core/" + kind
	}
	return group + "/" + kind
}
