package model

import (
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Workloads are what ambient workload discovery (ztunnel's) is built from besides the
// IR and the endpoints: the pods and every namespace's labels. Like endpoints, they
// take a fast path and never cause a translation.
type Workloads struct {
	// Pods sorted by namespace, then name.
	Pods []*Pod
	// NamespaceLabels are every namespace's labels (istio.io/dataplane-mode,
	// istio.io/use-waypoint).
	NamespaceLabels map[string]map[string]string
}

// Pod is a pod as ambient discovery reads it: identity, addresses, health, locality.
type Pod struct {
	Name, Namespace, UID string
	Labels               map[string]string
	ServiceAccount, Node string
	// IPs are the pod's addresses, primary first.
	IPs         []string
	HostNetwork bool
	// Healthy: Ready and not being deleted.
	Healthy  bool
	Locality Locality
}

// Equal reports whether two pods are the same in every field.
func (p *Pod) Equal(o *Pod) bool {
	return p.Name == o.Name && p.Namespace == o.Namespace && p.UID == o.UID && p.ServiceAccount == o.ServiceAccount &&
		p.Node == o.Node && p.HostNetwork == o.HostNetwork && p.Healthy == o.Healthy && p.Locality == o.Locality &&
		slices.Equal(p.IPs, o.IPs) && maps.Equal(p.Labels, o.Labels)
}

// Equal reports whether two sets of workloads are the same.
func (w Workloads) Equal(o Workloads) bool {
	return slices.EqualFunc(w.Pods, o.Pods, (*Pod).Equal) &&
		maps.EqualFunc(w.NamespaceLabels, o.NamespaceLabels, maps.Equal[map[string]string])
}

// PodFromKube converts a (trimmed) pod; ok is false for pods that have no address yet
// or have finished (Succeeded, Failed), which no traffic can reach.
func PodFromKube(p *corev1.Pod, nodes map[string]*corev1.Node) (*Pod, bool) {
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return nil, false
	}
	var ips []string
	for _, ip := range p.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	if len(ips) == 0 && p.Status.PodIP != "" {
		ips = []string{p.Status.PodIP}
	}
	if len(ips) == 0 {
		return nil, false
	}
	out := &Pod{Name: p.Name, Namespace: p.Namespace, UID: string(p.UID), Labels: p.Labels,
		ServiceAccount: p.Spec.ServiceAccountName, Node: p.Spec.NodeName, IPs: ips,
		HostNetwork: p.Spec.HostNetwork, Healthy: p.DeletionTimestamp == nil && podReady(p)}
	if n := nodes[p.Spec.NodeName]; n != nil {
		out.Locality = Locality{Region: n.Labels[LabelRegion], Zone: n.Labels[LabelZone], Subzone: n.Labels[LabelIstioSubzone]}
	}
	return out, true
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// NewWorkloads converts pods (skipping those PodFromKube skips) and sorts them.
func NewWorkloads(pods []*corev1.Pod, nodes []*corev1.Node, namespaceLabels map[string]map[string]string) Workloads {
	byName := make(map[string]*corev1.Node, len(nodes))
	for _, n := range nodes {
		byName[n.Name] = n
	}
	out := Workloads{NamespaceLabels: namespaceLabels}
	for _, p := range pods {
		if wp, ok := PodFromKube(p, byName); ok {
			out.Pods = append(out.Pods, wp)
		}
	}
	slices.SortFunc(out.Pods, func(a, b *Pod) int {
		if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}
