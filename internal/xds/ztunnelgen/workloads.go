package ztunnelgen

import (
	"cmp"
	"maps"
	"slices"
	"strings"

	"istio.io/istio/pkg/workloadapi"
	"istio.io/istio/pkg/workloadapi/security"

	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/model"
)

// Labels ambient reads on pods, besides model's.
const (
	// labelTunnel=http marks a workload that takes HBONE itself (Istio's
	// networking.istio.io/tunnel).
	labelTunnel = "networking.istio.io/tunnel"
	// labelManaged marks the pods of a Gateway meshd (or istiod) deploys; a waypoint's
	// own pods never go through a waypoint.
	labelManaged       = "gateway.istio.io/managed"
	managedMesh        = "istio.io-mesh-controller"
	labelCanonicalName = "service.istio.io/canonical-name"
	labelCanonicalRev  = "service.istio.io/canonical-revision"
	labelPodTemplate   = "pod-template-hash"
	labelJobName       = "job-name"
)

// Workload is one pod as ztunnel must know it: every pod with an address is reported
// (ztunnel needs non-ambient destinations too), and Captured says whether ztunnel
// redirects its traffic (HBONE).
type Workload struct {
	Pod *model.Pod
	// Captured: the pod or, failing that, its namespace has istio.io/dataplane-mode
	// ambient (none on the pod opts out), and it is not on the host network.
	Captured bool
	// Waypoint is the waypoint the pod's own traffic goes through (istio.io/use-waypoint
	// on the pod, else its namespace), when that waypoint serves workloads.
	Waypoint *ir.Gateway
	// Services maps "<namespace>/<hostname>" to the ports the pod backs, from the
	// EndpointSlices naming the pod.
	Services map[string][]*workloadapi.Port
	// Policies are the selector AuthorizationPolicies ztunnel enforces for the pod,
	// as "<namespace>/<name>".
	Policies []string
}

// UID is the workload's name, istiod's: "<cluster>//Pod/<namespace>/<name>".
func (w *Workload) UID() string {
	return ClusterID + "//Pod/" + w.Pod.Namespace + "/" + w.Pod.Name
}

// workloads is the workload model: the pods of in, in their order, with their
// capture, waypoint, services and policies; and the policies converted from
// PeerAuthentications that they list, by name.
func workloads(in Input) ([]*Workload, map[string]*security.Authorization) {
	byPod := make(map[string]*Workload, len(in.Workloads.Pods))
	out := make([]*Workload, 0, len(in.Workloads.Pods))
	policies := selectorPolicies(in.IR)
	converted := map[string]*security.Authorization{}
	for _, p := range in.Workloads.Pods {
		nsLabels := in.Workloads.NamespaceLabels[p.Namespace]
		w := &Workload{Pod: p, Captured: model.Captured(p.Labels, p.HostNetwork, nsLabels), Waypoint: workloadWaypoint(in.IR, p, nsLabels)}
		for _, ap := range policies {
			if ir.AppliesTo(ap.Namespace, ap.Selector, in.IR.RootNamespace, p.Namespace, p.Labels) {
				w.Policies = append(w.Policies, policyName(ap))
			}
		}
		if w.Captured {
			if name := peerAuthn(in.IR, p.Namespace, p.Labels, converted); name != "" {
				w.Policies = append(w.Policies, name)
			}
		}
		slices.Sort(w.Policies)
		byPod[model.ServiceKey(p.Namespace, p.Name)] = w
		out = append(out, w)
	}
	addServices(in, byPod)
	if len(in.IR.PeerAuthentications) > 0 {
		// istiod sends the static policy whenever PeerAuthentications exist.
		name := in.IR.RootNamespace + "/" + staticStrict
		if converted[name] == nil {
			converted[name] = denyPlaintext(staticStrict, in.IR.RootNamespace, nil, nil)
		}
	}
	return out, converted
}

// workloadWaypoint is the waypoint for a pod's own traffic: istio.io/use-waypoint
// (and -namespace) on the pod, else on its namespace; "none" opts out. Only a waypoint
// whose istio.io/waypoint-for is workload or all counts.
func workloadWaypoint(in *ir.IR, p *model.Pod, nsLabels map[string]string) *ir.Gateway {
	if p.Labels[labelManaged] == managedMesh {
		return nil
	}
	name, ns, ok := model.UseWaypoint(p.Labels[model.LabelUseWaypoint], p.Labels[model.LabelUseWaypointNamespace], p.Namespace, nsLabels)
	if !ok {
		return nil
	}
	for _, g := range in.Gateways {
		if g.Namespace == ns && g.Name == name && g.Class == ir.ClassWaypoint {
			if ir.WaypointForWorkloads(g.WaypointFor) {
				return g
			}
			return nil
		}
	}
	return nil
}

// addServices fills each workload's services from the endpoints naming its pod.
func addServices(in Input, byPod map[string]*Workload) {
	namespaces := make(map[string]string, len(in.IR.Services))
	for _, s := range in.IR.Services {
		namespaces[s.Hostname] = s.Namespace
	}
	for key, eps := range in.Endpoints {
		ns, ok := namespaces[key.Hostname]
		if !ok {
			continue
		}
		svc := namespacedHostname(ns, key.Hostname)
		for _, ep := range eps {
			w := byPod[ep.Pod]
			if w == nil {
				continue
			}
			if w.Services == nil {
				w.Services = map[string][]*workloadapi.Port{}
			}
			port := &workloadapi.Port{ServicePort: key.Port, TargetPort: ep.Port}
			if !slices.ContainsFunc(w.Services[svc], func(p *workloadapi.Port) bool { return p.ServicePort == port.ServicePort }) {
				w.Services[svc] = append(w.Services[svc], port)
			}
		}
	}
	for _, w := range byPod {
		for _, ports := range w.Services {
			slices.SortFunc(ports, func(a, b *workloadapi.Port) int { return cmp.Compare(a.ServicePort, b.ServicePort) })
		}
	}
}

// render is the workload's Workload.
func (w *Workload) render(trustDomain string) *workloadapi.Workload {
	p := w.Pod
	out := &workloadapi.Workload{
		Uid: w.UID(), Name: p.Name, Namespace: p.Namespace, ClusterId: ClusterID,
		ServiceAccount: p.ServiceAccount, Node: p.Node,
		Waypoint:              gatewayAddress(w.Waypoint),
		AuthorizationPolicies: w.Policies,
	}
	if trustDomain != defaultTrustDomain {
		out.TrustDomain = trustDomain
	}
	for _, ip := range p.IPs {
		if b := ipBytes(ip); b != nil {
			out.Addresses = append(out.Addresses, b)
		}
	}
	if !p.Healthy {
		out.Status = workloadapi.WorkloadStatus_UNHEALTHY
	}
	if p.HostNetwork {
		out.NetworkMode = workloadapi.NetworkMode_HOST_NETWORK
	}
	if w.Captured {
		out.TunnelProtocol = workloadapi.TunnelProtocol_HBONE
	}
	if p.Labels[labelTunnel] == "http" {
		out.TunnelProtocol, out.NativeTunnel = workloadapi.TunnelProtocol_HBONE, true
	}
	if l := p.Locality; l != (model.Locality{}) {
		out.Locality = &workloadapi.Locality{Region: l.Region, Zone: l.Zone, Subzone: l.Subzone}
	}
	out.WorkloadName, out.WorkloadType = workloadName(p)
	out.CanonicalName = firstLabel(p.Labels, out.WorkloadName, labelCanonicalName, "app.kubernetes.io/name", "app")
	out.CanonicalRevision = firstLabel(p.Labels, "latest", labelCanonicalRev, "app.kubernetes.io/version", "version")
	if len(w.Services) > 0 {
		out.Services = make(map[string]*workloadapi.PortList, len(w.Services))
		for _, k := range slices.Sorted(maps.Keys(w.Services)) {
			out.Services[k] = &workloadapi.PortList{Ports: w.Services[k]}
		}
	}
	return out
}

// workloadName is the pod's controller, as far as its labels tell (trimmed pods keep
// no owner references): a Deployment's pods are named <deployment>-<pod-template-hash>-
// <suffix>, a Job's carry job-name; otherwise the pod itself.
func workloadName(p *model.Pod) (string, workloadapi.WorkloadType) {
	if h := p.Labels[labelPodTemplate]; h != "" {
		if i := strings.LastIndex(p.Name, "-"+h+"-"); i > 0 {
			return p.Name[:i], workloadapi.WorkloadType_DEPLOYMENT
		}
	}
	if j := p.Labels[labelJobName]; j != "" {
		return j, workloadapi.WorkloadType_JOB
	}
	return p.Name, workloadapi.WorkloadType_POD
}

// firstLabel is the value of the first of keys that labels has, else def.
func firstLabel(labels map[string]string, def string, keys ...string) string {
	for _, k := range keys {
		if v := labels[k]; v != "" {
			return v
		}
	}
	return def
}

// WaypointWorkloads are the addresses of the captured pods whose own traffic the
// waypoint ns/name serves, sorted: the waypoint's direct chains match them.
func WaypointWorkloads(in Input, ns, name string) []string {
	var out []string
	// Only capture and the waypoint matter here, not the whole workload (policies
	// and services cost pods times policies).
	for _, p := range in.Workloads.Pods {
		nsLabels := in.Workloads.NamespaceLabels[p.Namespace]
		if !model.Captured(p.Labels, p.HostNetwork, nsLabels) {
			continue
		}
		if gw := workloadWaypoint(in.IR, p, nsLabels); gw != nil && gw.Namespace == ns && gw.Name == name {
			out = append(out, p.IPs...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
