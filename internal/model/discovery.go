package model

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Labels Kubernetes and Istio use for endpoints and localities.
const (
	LabelTLSMode      = "security.istio.io/tlsMode"
	LabelRegion       = "topology.kubernetes.io/region"
	LabelZone         = "topology.kubernetes.io/zone"
	LabelIstioSubzone = "topology.istio.io/subzone"
)

// DiscoveryInputs are the Kubernetes objects endpoints are built from, looked up by
// name. Pods and nodes give labels, service accounts and localities.
type DiscoveryInputs struct {
	Services map[string]*Service // by namespace/name
	// Pods by namespace and name: a key of its own rather than "namespace/name", which
	// was a string made per pod of the cluster on every endpoint pass.
	Pods  map[types.NamespacedName]*corev1.Pod
	Nodes map[string]*corev1.Node
	// NamespaceLabels decide, with a pod's own, whether ztunnel captures it.
	NamespaceLabels map[string]map[string]string
}

// ServiceKey is the namespace/name lookup key of DiscoveryInputs.
func ServiceKey(namespace, name string) string { return namespace + "/" + name }

// EndpointsFromSlice converts one EndpointSlice into endpoints per service port. Ports
// are matched by name, as kube-proxy does; endpoints that are neither ready nor serving
// are kept as not Ready so clients stop picking them.
func EndpointsFromSlice(slice *discoveryv1.EndpointSlice, in DiscoveryInputs) EndpointIndex {
	out := EndpointIndex{}
	out.addSlice(slice, in, nil)
	return out
}

// addSlice adds one EndpointSlice's endpoints to idx (EndpointsFromSlice), noting in
// reads, unless nil, the pods and nodes they were read from (the EndpointIndexer's).
func (idx EndpointIndex) addSlice(slice *discoveryv1.EndpointSlice, in DiscoveryInputs, reads map[dependency]bool) {
	svc := sliceService(slice, in)
	if svc == nil || (slice.AddressType != discoveryv1.AddressTypeIPv4 && slice.AddressType != discoveryv1.AddressTypeIPv6) {
		return
	}
	for _, sp := range slice.Ports {
		if sp.Port == nil {
			continue
		}
		name := ""
		if sp.Name != nil {
			name = *sp.Name
		}
		var svcPort *ServicePort
		for i := range svc.Ports {
			if svc.Ports[i].Name == name {
				svcPort = &svc.Ports[i]
			}
		}
		if svcPort == nil {
			continue
		}
		key := EndpointKey{Hostname: svc.Hostname, Port: svcPort.Port}
		for _, ep := range slice.Endpoints {
			if len(ep.Addresses) == 0 {
				continue
			}
			e := Endpoint{Address: ep.Addresses[0], Port: uint32(*sp.Port), Ready: ready(ep.Conditions)}
			if ep.Zone != nil {
				e.Locality.Zone = *ep.Zone
			}
			if ep.NodeName != nil {
				if reads != nil {
					reads[dependency{key: types.NamespacedName{Name: *ep.NodeName}}] = true
				}
				if node := in.Nodes[*ep.NodeName]; node != nil {
					e.Locality.Region = node.Labels[LabelRegion]
					if e.Locality.Zone == "" {
						e.Locality.Zone = node.Labels[LabelZone]
					}
					e.Locality.Subzone = node.Labels[LabelIstioSubzone]
				}
			}
			if ref := ep.TargetRef; ref != nil && ref.Kind == "Pod" {
				e.Pod = ServiceKey(slice.Namespace, ref.Name)
				key := types.NamespacedName{Namespace: slice.Namespace, Name: ref.Name}
				if reads != nil {
					reads[dependency{pod: true, key: key}] = true
				}
				if pod := in.Pods[key]; pod != nil {
					e.Labels = pod.Labels
					e.ServiceAccount = pod.Spec.ServiceAccountName
					e.TLSMode = pod.Labels[LabelTLSMode]
					e.Ambient = Captured(pod.Labels, pod.Spec.HostNetwork, in.NamespaceLabels[slice.Namespace])
				}
			}
			idx[key] = append(idx[key], e)
		}
	}
}

// ready treats an unset condition as true, as the EndpointSlice API says.
func ready(c discoveryv1.EndpointConditions) bool {
	if c.Ready != nil {
		return *c.Ready
	}
	if c.Serving != nil {
		return *c.Serving && (c.Terminating == nil || !*c.Terminating)
	}
	return true
}

// Merge adds other's endpoints to idx.
func (idx EndpointIndex) Merge(other EndpointIndex) {
	for k, eps := range other {
		idx[k] = append(idx[k], eps...)
	}
}

// NewDiscoveryInputs indexes services, pods and nodes by name.
func NewDiscoveryInputs(services []*Service, pods []*corev1.Pod, nodes []*corev1.Node) DiscoveryInputs {
	in := DiscoveryInputs{
		Services: make(map[string]*Service, len(services)),
		Pods:     make(map[types.NamespacedName]*corev1.Pod, len(pods)),
		Nodes:    make(map[string]*corev1.Node, len(nodes)),
	}
	for _, s := range services {
		in.Services[ServiceKey(s.Namespace, s.Name)] = s
	}
	for _, p := range pods {
		in.Pods[types.NamespacedName{Namespace: p.Namespace, Name: p.Name}] = p
	}
	for _, n := range nodes {
		in.Nodes[n.Name] = n
	}
	return in
}

// IndexEndpoints builds the sorted endpoint index of every slice.
func IndexEndpoints(slices []*discoveryv1.EndpointSlice, in DiscoveryInputs) EndpointIndex {
	// Each slice's endpoints go straight into the index, in slice order as merging
	// per-slice indexes did: a map per slice was most of rebuilding the index, which
	// every debounced endpoint pass does under churn.
	idx := make(EndpointIndex, len(slices))
	for _, s := range slices {
		idx.addSlice(s, in, nil)
	}
	idx.Sort()
	return idx
}
