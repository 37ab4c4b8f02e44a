package model

import (
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
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

// Equal reports whether two pods are the same in every field (a pod kept by
// PodConversions is the same pointer, equal without a look).
func (p *Pod) Equal(o *Pod) bool {
	return p == o || p.Name == o.Name && p.Namespace == o.Namespace && p.UID == o.UID && p.ServiceAccount == o.ServiceAccount &&
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
	return newWorkloads(pods, nodes, namespaceLabels, PodFromKube)
}

// PodConversions converts pods pass after pass, as NewWorkloads does, converting again
// only the pods that changed (by resourceVersion) or whose node did, and sorting again
// only when pods came or went: every endpoint pass builds the workloads, and
// converting and sorting 100,000 pods anew each time was 66 ms and 20 MB. Kept
// conversions are the same pointers, which Pod.Equal recognises. Pods without a UID
// or a resourceVersion, or on a node without one, are converted each time, and
// sorted; pods sharing a UID (none from an API server) make a pass NewWorkloads'. Not
// safe for concurrent use.
type PodConversions struct {
	byUID map[types.UID]*podConversion
	prev  []*Pod // the last pass's workloads' pods, sorted
	pass  uint64
}

type podConversion struct {
	resourceVersion, nodeVersion string
	pod                          *Pod // nil: PodFromKube skipped it
	pos                          int  // pod's index in prev
	pass                         uint64
}

// Workloads is NewWorkloads(pods, nodes, namespaceLabels).
func (c *PodConversions) Workloads(pods []*corev1.Pod, nodes []*corev1.Node, namespaceLabels map[string]map[string]string) Workloads {
	if c.byUID == nil {
		c.byUID = make(map[types.UID]*podConversion, len(pods))
	}
	c.pass++
	byName := make(map[string]*corev1.Node, len(nodes))
	for _, n := range nodes {
		byName[n.Name] = n
	}
	// The pods keep last pass's order when the same pods are converted (none came,
	// went, or started or stopped being skipped): a changed pod takes its old place,
	// as its name and namespace are its UID's.
	sameSet := true
	var changed []*podConversion
	kept := 0
	for _, p := range pods {
		if !keepable(p, byName) {
			// Converted afresh below; what was kept of it goes, so that the pass
			// that can keep it again starts from its own conversion.
			delete(c.byUID, p.UID)
			sameSet = false
			continue
		}
		nodeVersion := ""
		if n := byName[p.Spec.NodeName]; n != nil {
			nodeVersion = n.ResourceVersion
		}
		e := c.byUID[p.UID]
		if e != nil && e.pass == c.pass {
			// Two pods of one UID (not an API server's): what each gave cannot be
			// told apart from the other's.
			c.byUID, c.prev = nil, nil
			return NewWorkloads(pods, nodes, namespaceLabels)
		}
		switch {
		case e == nil:
			e = &podConversion{pos: -1}
			c.byUID[p.UID] = e
			fallthrough
		case e.resourceVersion != p.ResourceVersion || e.nodeVersion != nodeVersion:
			was := e.pod != nil
			e.resourceVersion, e.nodeVersion = p.ResourceVersion, nodeVersion
			e.pod, _ = PodFromKube(p, byName)
			if e.pod != nil && e.pos < 0 || was != (e.pod != nil) {
				sameSet = false
			}
			changed = append(changed, e)
		}
		e.pass = c.pass
		if e.pod != nil {
			kept++
		}
	}
	if len(c.byUID) > len(pods) {
		for uid, e := range c.byUID {
			if e.pass != c.pass {
				delete(c.byUID, uid)
				sameSet = sameSet && e.pod == nil
			}
		}
	}
	out := Workloads{NamespaceLabels: namespaceLabels}
	if sameSet && kept == len(c.prev) {
		if kept == 0 {
			return out
		}
		out.Pods = slices.Clone(c.prev)
		for _, e := range changed {
			if e.pod != nil { // else skipped before too: in no place
				out.Pods[e.pos] = e.pod
			}
		}
		c.prev = out.Pods
		return out
	}
	out = newWorkloads(pods, nodes, namespaceLabels, func(p *corev1.Pod, nodes map[string]*corev1.Node) (*Pod, bool) {
		if e := c.byUID[p.UID]; e != nil && keepable(p, nodes) {
			return e.pod, e.pod != nil
		}
		return PodFromKube(p, nodes)
	})
	for _, e := range c.byUID {
		e.pos = -1
	}
	for i, p := range out.Pods {
		if e := c.byUID[types.UID(p.UID)]; e != nil && e.pod == p {
			e.pos = i
		}
	}
	c.prev = out.Pods
	return out
}

// keepable reports whether p's conversion can be kept: p, and its node if it has one,
// can be told apart from their changes (by UID and resourceVersion).
func keepable(p *corev1.Pod, nodes map[string]*corev1.Node) bool {
	if p.UID == "" || p.ResourceVersion == "" {
		return false
	}
	n := nodes[p.Spec.NodeName]
	return n == nil || n.ResourceVersion != ""
}

func newWorkloads(pods []*corev1.Pod, nodes []*corev1.Node, namespaceLabels map[string]map[string]string,
	convert func(*corev1.Pod, map[string]*corev1.Node) (*Pod, bool)) Workloads {
	byName := make(map[string]*corev1.Node, len(nodes))
	for _, n := range nodes {
		byName[n.Name] = n
	}
	out := Workloads{NamespaceLabels: namespaceLabels}
	if len(pods) > 0 {
		out.Pods = make([]*Pod, 0, len(pods))
	}
	for _, p := range pods {
		if wp, ok := convert(p, byName); ok {
			out.Pods = append(out.Pods, wp)
		}
	}
	if len(out.Pods) == 0 {
		out.Pods = nil // as when there are no pods at all
	}
	slices.SortFunc(out.Pods, func(a, b *Pod) int {
		if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}
