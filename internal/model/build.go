package model

import (
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshv1alpha1 "github.com/meshd-io/meshd/api/meshd/v1alpha1"
	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
	securityv1 "github.com/meshd-io/meshd/api/security/v1"
)

// DefaultClusterDomain is Kubernetes' default DNS suffix.
const DefaultClusterDomain = "cluster.local"

// Inputs are the objects a Snapshot is built from.
type Inputs struct {
	Mesh             *meshv1alpha1.MeshSpec // nil: defaults
	ClusterDomain    string
	Services         []*Service
	VirtualServices  []*networkingv1.VirtualService
	DestinationRules []*networkingv1.DestinationRule
	// AuthorizationPolicies and PeerAuthentications, any order.
	AuthorizationPolicies []*securityv1.AuthorizationPolicy
	PeerAuthentications   []*securityv1.PeerAuthentication
}

// NewSnapshot assembles an immutable snapshot, ordering the Istio objects as Istio
// resolves conflicts: oldest first, then by namespace and name.
func NewSnapshot(in Inputs) *Snapshot {
	s := &Snapshot{
		Mesh:                  in.Mesh.WithDefaults(),
		ClusterDomain:         in.ClusterDomain,
		Services:              make(map[string]*Service, len(in.Services)),
		VirtualServices:       append([]*networkingv1.VirtualService(nil), in.VirtualServices...),
		DestinationRules:      append([]*networkingv1.DestinationRule(nil), in.DestinationRules...),
		AuthorizationPolicies: append([]*securityv1.AuthorizationPolicy(nil), in.AuthorizationPolicies...),
		PeerAuthentications:   append([]*securityv1.PeerAuthentication(nil), in.PeerAuthentications...),
	}
	if s.ClusterDomain == "" {
		s.ClusterDomain = DefaultClusterDomain
	}
	for _, svc := range in.Services {
		s.Services[svc.Hostname] = svc
	}
	sort.Slice(s.VirtualServices, func(i, j int) bool {
		return older(&s.VirtualServices[i].ObjectMeta, &s.VirtualServices[j].ObjectMeta)
	})
	sort.Slice(s.DestinationRules, func(i, j int) bool {
		return older(&s.DestinationRules[i].ObjectMeta, &s.DestinationRules[j].ObjectMeta)
	})
	sort.Slice(s.AuthorizationPolicies, func(i, j int) bool {
		return older(&s.AuthorizationPolicies[i].ObjectMeta, &s.AuthorizationPolicies[j].ObjectMeta)
	})
	sort.Slice(s.PeerAuthentications, func(i, j int) bool {
		return older(&s.PeerAuthentications[i].ObjectMeta, &s.PeerAuthentications[j].ObjectMeta)
	})
	return s
}

func older(a, b *metav1.ObjectMeta) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	return a.Name < b.Name
}
