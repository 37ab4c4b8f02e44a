package ztunnelgen

import (
	"strings"

	"istio.io/istio/pkg/workloadapi"

	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/model"
)

// renderService is a service's Service: its virtual IPs, its ports and its waypoint.
func renderService(in *ir.IR, svc *ir.Service, targets map[model.EndpointKey]uint32) *workloadapi.Service {
	name, _, _ := strings.Cut(svc.Hostname, ".")
	out := &workloadapi.Service{Name: name, Namespace: svc.Namespace, Hostname: svc.Hostname}
	for _, a := range svc.Addresses {
		if b := ipBytes(a); b != nil {
			out.Addresses = append(out.Addresses, &workloadapi.NetworkAddress{Address: b})
		}
	}
	for _, p := range svc.Ports {
		out.Ports = append(out.Ports, &workloadapi.Port{ServicePort: p.Number,
			TargetPort: targets[model.EndpointKey{Hostname: svc.Hostname, Port: p.Number}]})
	}
	if w := svc.Waypoint; w != nil {
		for _, g := range in.Gateways {
			if g.Namespace == w.Namespace && g.Name == w.Name {
				out.Waypoint = gatewayAddress(g)
			}
		}
	}
	return out
}

// targetPorts is, per service port, the target port every endpoint shares. A port
// whose endpoints differ (a named targetPort that pods number differently) has none:
// ztunnel then takes each workload's own from its services.
func targetPorts(idx model.EndpointIndex) map[model.EndpointKey]uint32 {
	out := make(map[model.EndpointKey]uint32, len(idx))
	for k, eps := range idx {
		var port uint32
		for i, ep := range eps {
			if i > 0 && ep.Port != port {
				port = 0
				break
			}
			port = ep.Port
		}
		if port != 0 {
			out[k] = port
		}
	}
	return out
}
