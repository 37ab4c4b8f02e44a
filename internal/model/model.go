// Package model is the typed, immutable snapshot of everything meshd translates:
// services and their endpoints from Kubernetes, the Istio kinds, and the Mesh settings.
// Controllers build a new Snapshot on every change (sharing unchanged parts with the
// last one); translation reads it and never mutates it.
package model

import (
	"sort"

	meshv1alpha1 "github.com/meshd-io/meshd/api/meshd/v1alpha1"
	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
	securityv1 "github.com/meshd-io/meshd/api/security/v1"
)

// Snapshot is one consistent view of the mesh's configuration.
type Snapshot struct {
	Mesh meshv1alpha1.MeshSpec // with defaults filled in
	// ClusterDomain is the DNS suffix of services ("cluster.local").
	ClusterDomain string

	// Services by hostname (FQDN).
	Services map[string]*Service
	// VirtualServices and DestinationRules, sorted oldest first (creation time, then
	// namespace/name): the order in which Istio resolves conflicts.
	VirtualServices  []*networkingv1.VirtualService
	DestinationRules []*networkingv1.DestinationRule
	// AuthorizationPolicies and PeerAuthentications, oldest first too (the oldest
	// wins between equally specific PeerAuthentications).
	AuthorizationPolicies []*securityv1.AuthorizationPolicy
	PeerAuthentications   []*securityv1.PeerAuthentication
	// Sidecars, oldest first (the oldest wins between Sidecars that both apply).
	Sidecars []*networkingv1.Sidecar
	// GatewayAPI are the Gateway API objects.
	GatewayAPI GatewayAPI
}

// Service is a Kubernetes Service as the mesh sees it.
type Service struct {
	Name, Namespace string
	// Hostname is the FQDN: <name>.<namespace>.svc.<cluster domain>.
	Hostname  string
	ClusterIP string
	Ports     []ServicePort
	// ExportTo from the networking.istio.io/exportTo annotation; empty means "*".
	ExportTo []string
	// UseWaypoint and UseWaypointNamespace are the Service's istio.io/use-waypoint and
	// istio.io/use-waypoint-namespace labels (the only labels translation reads).
	UseWaypoint, UseWaypointNamespace string
}

// Istio's ambient labels.
const (
	LabelUseWaypoint          = "istio.io/use-waypoint"
	LabelUseWaypointNamespace = "istio.io/use-waypoint-namespace"
	LabelWaypointFor          = "istio.io/waypoint-for"
	LabelDataplaneMode        = "istio.io/dataplane-mode"
)

// Captured applies ztunnel's capture rule: a pod is in the ambient mesh when it, or
// else its namespace, is labelled istio.io/dataplane-mode=ambient (the pod's "none"
// opts out), unless it runs on the host's network or has a sidecar.
func Captured(podLabels map[string]string, hostNetwork bool, nsLabels map[string]string) bool {
	// A pod with a sidecar (its injector labels it tlsMode=istio) keeps it: Istio's CNI
	// does not redirect such pods, so they take no HBONE until they are restarted.
	if hostNetwork || podLabels[LabelTLSMode] == "istio" {
		return false
	}
	switch podLabels[LabelDataplaneMode] {
	case "ambient":
		return true
	case "none":
		return false
	}
	return nsLabels[LabelDataplaneMode] == "ambient"
}

// UseWaypoint resolves istio.io/use-waypoint for an object in namespace objNS whose
// own labels give name and ns (istio.io/use-waypoint and -namespace, "" when unset):
// its own labels, else its namespace's (nsLabels); "none" opts out of the namespace's
// waypoint. It returns the waypoint Gateway's name and namespace, ok false for none.
func UseWaypoint(name, ns, objNS string, nsLabels map[string]string) (string, string, bool) {
	if name == "" {
		name, ns = nsLabels[LabelUseWaypoint], nsLabels[LabelUseWaypointNamespace]
	}
	if name == "" || name == "none" {
		return "", "", false
	}
	if ns == "" {
		ns = objNS
	}
	return name, ns, true
}

// ServicePort is one port of a Service.
type ServicePort struct {
	Name     string
	Port     uint32
	Protocol Protocol
}

// Protocol is the application protocol Istio infers from the port name or appProtocol.
type Protocol string

const (
	ProtocolHTTP    Protocol = "HTTP"
	ProtocolHTTP2   Protocol = "HTTP2"
	ProtocolGRPC    Protocol = "GRPC"
	ProtocolHTTPS   Protocol = "HTTPS"
	ProtocolTLS     Protocol = "TLS"
	ProtocolTCP     Protocol = "TCP"
	ProtocolUnknown Protocol = "UNKNOWN"
)

// CarriesHTTPRoutes reports whether a VirtualService's HTTP routes apply to a port of
// this protocol. UNKNOWN ports are sniffed by sidecars and carry them too, as in Istio.
func (p Protocol) CarriesHTTPRoutes() bool {
	return p == ProtocolHTTP || p == ProtocolHTTP2 || p == ProtocolGRPC || p == ProtocolUnknown
}

// Port returns the service port numbered n.
func (s *Service) Port(n uint32) (ServicePort, bool) {
	for _, p := range s.Ports {
		if p.Port == n {
			return p, true
		}
	}
	return ServicePort{}, false
}

// SortedServices returns the services ordered by hostname.
func (s *Snapshot) SortedServices() []*Service {
	out := make([]*Service, 0, len(s.Services))
	for _, svc := range s.Services {
		out = append(out, svc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Hostname < out[j].Hostname })
	return out
}
