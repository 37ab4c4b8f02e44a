package model

import (
	"cmp"
	"slices"

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
	// Sidecars, any order.
	Sidecars []*networkingv1.Sidecar
	// GatewayAPI objects, any order.
	GatewayAPI GatewayAPI
}

// NewSnapshot assembles an immutable snapshot, ordering the Istio objects as Istio
// resolves conflicts: oldest first, then by namespace and name.
func NewSnapshot(in Inputs) *Snapshot {
	s := &Snapshot{
		Mesh:                  in.Mesh.WithDefaults(),
		ClusterDomain:         in.ClusterDomain,
		Services:              make(map[string]*Service, len(in.Services)),
		VirtualServices:       OldestFirst(in.VirtualServices),
		DestinationRules:      OldestFirst(in.DestinationRules),
		AuthorizationPolicies: OldestFirst(in.AuthorizationPolicies),
		PeerAuthentications:   OldestFirst(in.PeerAuthentications),
		Sidecars:              OldestFirst(in.Sidecars),
		GatewayAPI:            in.GatewayAPI.sorted(),
	}
	if s.ClusterDomain == "" {
		s.ClusterDomain = DefaultClusterDomain
	}
	for _, svc := range in.Services {
		s.Services[svc.Hostname] = svc
	}
	return s
}

// OldestFirst returns a copy of objs ordered as Istio resolves conflicts between
// objects: by creation time, then namespace, then name.
func OldestFirst[T metav1.Object](objs []T) []T {
	out := slices.Clone(objs)
	slices.SortStableFunc(out, func(a, b T) int { return CompareAge(a, b) })
	return out
}

// CompareAge orders objects as OldestFirst does: by creation time, then namespace,
// then name.
func CompareAge(a, b metav1.Object) int {
	ta, tb := a.GetCreationTimestamp(), b.GetCreationTimestamp()
	if c := ta.Compare(tb.Time); c != 0 {
		return c
	}
	return cmp.Or(cmp.Compare(a.GetNamespace(), b.GetNamespace()), cmp.Compare(a.GetName(), b.GetName()))
}
