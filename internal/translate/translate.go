// Package translate turns a model.Snapshot into the IR proxies are generated from, and
// a status report for every Istio object it read. It is pure: no client, no clock, no
// I/O; it never mutates its input; output is sorted.
package translate

import (
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/model"
)

// Translate builds the IR and the status report of a snapshot.
func Translate(snap *model.Snapshot) (*ir.IR, *Report) {
	t := &translator{
		snap:     snap,
		report:   newReport(),
		services: map[string]*ir.Service{},
	}
	t.addServices()
	t.destinationRules()
	t.virtualServices()
	out := &ir.IR{RootNamespace: snap.Mesh.RootNamespace, TrustDomain: snap.Mesh.TrustDomain}
	t.gatewayAPI(out)
	for _, h := range slices.Sorted(maps.Keys(t.services)) {
		out.Services = append(out.Services, t.services[h])
	}
	t.security(out)
	out.Finish()
	return out, t.report
}

type translator struct {
	snap     *model.Snapshot
	report   *Report
	services map[string]*ir.Service
}

// addServices turns each Kubernetes Service into IR with a default route per port: all
// traffic to the port's cluster, as Istio does when no VirtualService names the host.
func (t *translator) addServices() {
	for _, svc := range t.snap.SortedServices() {
		s := &ir.Service{Hostname: svc.Hostname, Namespace: svc.Namespace, ExportTo: ir.Visibility(svc.ExportTo)}
		if svc.ClusterIP != "" && svc.ClusterIP != "None" {
			s.Addresses = []string{svc.ClusterIP}
		}
		for _, p := range svc.Ports {
			s.Ports = append(s.Ports, &ir.Port{
				Number: p.Port, Name: p.Name, Protocol: string(p.Protocol),
				Default: &ir.RouteTable{Routes: []*ir.Route{{
					Name: "default",
					Forward: &ir.Forward{Destinations: []*ir.Destination{{
						Cluster: ir.ClusterName(p.Port, "", svc.Hostname), Hostname: svc.Hostname,
						Port: p.Port, Weight: 100,
					}}},
					Retry: defaultRetry(),
				}}},
			})
		}
		t.services[svc.Hostname] = s
	}
}

// resolveHost turns a host as written in an Istio object into an FQDN: a short name
// (no dots) resolves in the object's own namespace, as Istio does.
func (t *translator) resolveHost(host, namespace string) string {
	if host == "*" || strings.Contains(host, ".") {
		return host
	}
	return host + "." + namespace + ".svc." + t.snap.ClusterDomain
}

// matchingServices returns the services a (possibly wildcard) host names, sorted.
func (t *translator) matchingServices(host string) []*ir.Service {
	if !strings.HasPrefix(host, "*") {
		if s := t.services[host]; s != nil {
			return []*ir.Service{s}
		}
		return nil
	}
	var out []*ir.Service
	suffix := host[1:]
	for _, h := range slices.Sorted(maps.Keys(t.services)) {
		if host == "*" || strings.HasSuffix(h, suffix) {
			out = append(out, t.services[h])
		}
	}
	return out
}

// exportTo resolves "." to the owning namespace.
func exportTo(list []string, namespace string) ir.Visibility {
	if len(list) == 0 {
		return nil
	}
	out := make(ir.Visibility, 0, len(list))
	for _, v := range list {
		if v == "." {
			v = namespace
		}
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}
