// Package ztunnelgen renders ambient workload discovery for ztunnel, Istio's node proxy:
// the istio.workload.Address resources (one per workload and one per service) and the
// istio.security.Authorization resources (the L4 part of AuthorizationPolicies) that
// ztunnel subscribes to over delta ADS. Names are istiod's:
//
//   - a pod's Address is its UID, "<cluster>//Pod/<namespace>/<name>";
//   - a service's Address is "<namespace>/<hostname>";
//   - an Authorization is "<namespace>/<name>".
//
// It is pure: the workloads come from pods, namespaces' labels and the endpoint index
// (which services a pod backs, on which target ports), waypoints and policies from the
// IR. Output is sorted by name.
package ztunnelgen

import (
	"cmp"
	"net/netip"
	"slices"

	"istio.io/istio/pkg/workloadapi"
	"istio.io/istio/pkg/workloadapi/security"

	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/model"
)

// Type URLs ztunnel subscribes to.
const (
	AddressType       = "type.googleapis.com/istio.workload.Address"
	AuthorizationType = "type.googleapis.com/istio.security.Authorization"
)

// ClusterID is the cluster meshd's workloads are in: ztunnel's default
// (ISTIO_META_CLUSTER_ID), which meshd's ztunnel DaemonSet sets too.
const ClusterID = "Kubernetes"

// hbonePort is where a waypoint accepts HBONE.
const hbonePort = 15008

// defaultTrustDomain is elided from workloads, as istiod does.
const defaultTrustDomain = "cluster.local"

// Input is what ztunnel's config is made of.
type Input struct {
	IR        *ir.IR
	Workloads model.Workloads
	Endpoints model.EndpointIndex
}

// Resources are ztunnel's config, each list sorted by resource name.
type Resources struct {
	Addresses      []Named[*workloadapi.Address]
	Authorizations []Named[*security.Authorization]
}

// Named is a resource and its xDS name (the protos carry none that xDS can read).
type Named[T any] struct {
	Name     string
	Resource T
}

// Generate renders every workload, service and L4 policy ztunnel must know.
func Generate(in Input) *Resources {
	out := &Resources{}
	if in.IR == nil {
		return out
	}
	ws, converted := workloads(in)
	for _, w := range ws {
		out.Addresses = append(out.Addresses, Named[*workloadapi.Address]{w.UID(), &workloadapi.Address{
			Type: &workloadapi.Address_Workload{Workload: w.render(in.IR.TrustDomain)}}})
	}
	targets := targetPorts(in.Endpoints)
	for _, svc := range in.IR.Services {
		out.Addresses = append(out.Addresses, Named[*workloadapi.Address]{namespacedHostname(svc.Namespace, svc.Hostname), &workloadapi.Address{
			Type: &workloadapi.Address_Service{Service: renderService(in.IR, svc, targets)}}})
	}
	slices.SortFunc(out.Addresses, func(a, b Named[*workloadapi.Address]) int { return cmp.Compare(a.Name, b.Name) })
	out.Authorizations = append(Authorizations(in.IR), peerAuthnPolicies(converted)...)
	slices.SortFunc(out.Authorizations, func(a, b Named[*security.Authorization]) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// namespacedHostname is istiod's key of a service: "<namespace>/<hostname>".
func namespacedHostname(ns, hostname string) string { return ns + "/" + hostname }

// ipBytes parses an IP into the raw bytes the workload API carries; nil if it is not
// an IP.
func ipBytes(s string) []byte {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return nil
	}
	return a.Unmap().AsSlice()
}

// gatewayAddress is where ztunnel reaches a waypoint over HBONE: its first IP; nil
// while it has none (it is not deployed yet, or its Service has no cluster IP).
func gatewayAddress(gw *ir.Gateway) *workloadapi.GatewayAddress {
	if gw == nil {
		return nil
	}
	for _, a := range gw.Addresses {
		if b := ipBytes(a); b != nil {
			return &workloadapi.GatewayAddress{
				Destination:   &workloadapi.GatewayAddress_Address{Address: &workloadapi.NetworkAddress{Address: b}},
				HboneMtlsPort: hbonePort,
			}
		}
	}
	return nil
}
