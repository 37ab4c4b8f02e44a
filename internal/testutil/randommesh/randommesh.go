// Package randommesh makes small meshes of Services, VirtualServices and
// DestinationRules, and random edits to them, for property tests of incremental
// translation and generation: after any edit, the incremental result must equal a
// full one.
package randommesh

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
	securityv1 "github.com/meshd-io/meshd/api/security/v1"
	typev1beta1 "github.com/meshd-io/meshd/api/type/v1beta1"
	"github.com/meshd-io/meshd/internal/model"
)

// Mesh is a small mesh that random edits change one object at a time.
type Mesh struct {
	rng      *rand.Rand
	version  int
	created  int64
	svcs     map[string]*model.Service // by namespace/name
	vss      map[string]*networkingv1.VirtualService
	drs      map[string]*networkingv1.DestinationRule
	aps      map[string]*securityv1.AuthorizationPolicy
	pas      map[string]*securityv1.PeerAuthentication
	sidecars map[string]*networkingv1.Sidecar
}

var (
	// Namespaces are the namespaces a mesh's objects live in.
	Namespaces = []string{"a", "b", "c"}
	names      = []string{"s0", "s1", "s2", "s3", "s4", "s5"}
)

func (m *Mesh) pick(list []string) string { return list[m.rng.IntN(len(list))] }

// host is how an object names a service: short, FQDN, another namespace's, or a
// wildcard now and then.
func (m *Mesh) host(ns string) string {
	switch m.rng.IntN(10) {
	case 0:
		return "*." + m.pick(Namespaces) + ".svc.cluster.local"
	case 1, 2:
		return m.pick(names) + "." + m.pick(Namespaces) + ".svc.cluster.local"
	case 3:
		return "missing"
	default:
		return m.pick(names)
	}
}

func (m *Mesh) meta(ns, name string) metav1.ObjectMeta {
	m.version++
	if m.rng.IntN(3) != 0 {
		m.created++
	}
	meta := metav1.ObjectMeta{Namespace: ns, Name: name, Generation: int64(m.version), CreationTimestamp: metav1.Unix(m.created, 0)}
	// Half the objects carry a resourceVersion as stored ones do; the rest are told
	// apart by pointer, as in tests and benchmarks.
	if m.rng.IntN(2) == 0 {
		meta.ResourceVersion, meta.UID = strconv.Itoa(m.version), types.UID("uid-"+ns+"-"+name)
	}
	return meta
}

func (m *Mesh) service(ns, name string) *model.Service {
	ports := []corev1.ServicePort{{Name: "http", Port: 80}}
	switch m.rng.IntN(6) {
	case 0:
		ports = append(ports, corev1.ServicePort{Name: "tcp-db", Port: 5432})
	case 1:
		ports = []corev1.ServicePort{{Name: "grpc", Port: 9080}}
	case 2:
		ports = []corev1.ServicePort{{Name: "", Port: 80}, {Name: "tls", Port: 443}}
	}
	ip := fmt.Sprintf("10.0.0.%d", m.rng.IntN(250)+1)
	if m.rng.IntN(6) == 0 {
		ip = "None"
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: corev1.ServiceSpec{Ports: ports, ClusterIP: ip}}
	switch m.rng.IntN(6) {
	case 0:
		svc.Annotations = map[string]string{"networking.istio.io/exportTo": "."}
	case 1:
		svc.Annotations = map[string]string{"networking.istio.io/exportTo": m.pick(Namespaces)}
	}
	return model.ServiceFromKube(svc, model.DefaultClusterDomain)
}

func (m *Mesh) destination(ns string) networkingv1.Destination {
	d := networkingv1.Destination{Host: m.host(ns)}
	if m.rng.IntN(2) == 0 {
		d.Subset = m.pick([]string{"v1", "v2", "v3"})
	}
	if m.rng.IntN(5) == 0 {
		d.Port = &networkingv1.PortSelector{Number: []uint32{80, 9080, 5432}[m.rng.IntN(3)]}
	}
	return d
}

func (m *Mesh) virtualService(ns, name string) *networkingv1.VirtualService {
	vs := &networkingv1.VirtualService{ObjectMeta: m.meta(ns, name)}
	vs.Spec.Hosts = []string{m.host(ns)}
	if m.rng.IntN(3) == 0 {
		vs.Spec.Hosts = append(vs.Spec.Hosts, m.host(ns))
	}
	w := int32(m.rng.IntN(100))
	vs.Spec.HTTP = []networkingv1.HTTPRoute{
		{Match: []networkingv1.HTTPMatchRequest{{Headers: map[string]networkingv1.StringMatch{"end-user": {Exact: ptr.To("jason")}}}},
			Route: []networkingv1.HTTPRouteDestination{{Destination: m.destination(ns)}}},
		{Route: []networkingv1.HTTPRouteDestination{{Destination: m.destination(ns), Weight: w}, {Destination: m.destination(ns), Weight: 100 - w}}},
	}
	if m.rng.IntN(4) == 0 {
		vs.Spec.HTTP[1].Mirror = ptr.To(m.destination(ns))
	}
	if m.rng.IntN(4) == 0 {
		vs.Spec.TCP = []networkingv1.TCPRoute{{Route: []networkingv1.RouteDestination{{Destination: m.destination(ns)}}}}
	}
	switch m.rng.IntN(6) {
	case 0:
		vs.Spec.ExportTo = []string{"."}
	case 1:
		vs.Spec.ExportTo = []string{m.pick(Namespaces)}
	}
	switch m.rng.IntN(5) {
	case 0:
		vs.Spec.HTTP[0].Match[0].SourceLabels = map[string]string{"app": m.pick(names)}
	case 1:
		vs.Spec.HTTP[0].Match[0].SourceNamespace = m.pick(Namespaces)
	}
	// Fault injection and CORS are per-filter configs of a route: a route with both
	// is where generated marshalling would meet a map of several entries.
	if m.rng.IntN(4) == 0 {
		vs.Spec.HTTP[1].Fault = &networkingv1.HTTPFaultInjection{Abort: &networkingv1.HTTPFaultInjectionAbort{
			HTTPStatus: ptr.To(int32(503)), Percentage: &networkingv1.Percent{Value: 10}}}
	}
	if m.rng.IntN(4) == 0 {
		vs.Spec.HTTP[1].CorsPolicy = &networkingv1.CorsPolicy{AllowOrigins: []networkingv1.StringMatch{{Exact: ptr.To("https://" + m.pick(names) + ".example.com")}}}
	}
	if m.rng.IntN(5) == 0 {
		vs.Spec.TLS = []networkingv1.TLSRoute{{Match: []networkingv1.TLSMatchAttributes{{SniHosts: []string{"x.example.com"}}}, Route: []networkingv1.RouteDestination{{Destination: m.destination(ns)}}}}
	}
	if m.rng.IntN(15) == 0 {
		vs.Spec.HTTP[1].Route[0].Weight = -1 // invalid: reported, left out
	}
	return vs
}

func (m *Mesh) destinationRule(ns, name string) *networkingv1.DestinationRule {
	dr := &networkingv1.DestinationRule{ObjectMeta: m.meta(ns, name)}
	dr.Spec.Host = m.host(ns)
	for _, s := range []string{"v1", "v2"}[:1+m.rng.IntN(2)] {
		// Subsets select by version, now and then by another: the same subset cluster
		// then needs other endpoints.
		dr.Spec.Subsets = append(dr.Spec.Subsets, networkingv1.Subset{Name: s, Labels: map[string]string{"version": m.pick([]string{s, s, "v2"})}})
	}
	if m.rng.IntN(3) == 0 {
		dr.Spec.TrafficPolicy = &networkingv1.TrafficPolicy{LoadBalancer: &networkingv1.LoadBalancerSettings{
			ConsistentHash: &networkingv1.ConsistentHashLB{HTTPHeaderName: ptr.To("x-user-" + m.pick(names))}}}
	}
	if m.rng.IntN(4) == 0 {
		dr.Spec.Subsets[0].TrafficPolicy = &networkingv1.TrafficPolicy{LoadBalancer: &networkingv1.LoadBalancerSettings{
			ConsistentHash: &networkingv1.ConsistentHashLB{HTTPCookie: &networkingv1.HTTPCookie{Name: "c-" + m.pick(names)}}}}
	}
	switch m.rng.IntN(5) {
	case 0:
		dr.Spec.ExportTo = []string{"."}
	case 1:
		dr.Spec.ExportTo = []string{m.pick(Namespaces)}
	}
	if m.rng.IntN(5) == 0 {
		dr.Spec.WorkloadSelector = &typev1beta1.WorkloadSelector{MatchLabels: map[string]string{"app": m.pick(names)}}
	}
	return dr
}

func (m *Mesh) authorizationPolicy(ns, name string) *securityv1.AuthorizationPolicy {
	ap := &securityv1.AuthorizationPolicy{ObjectMeta: m.meta(ns, name)}
	ap.Spec.Action = securityv1.AuthorizationPolicyAction(m.pick([]string{"", "ALLOW", "DENY"}))
	if m.rng.IntN(2) == 0 {
		ap.Spec.Selector = &typev1beta1.WorkloadSelector{MatchLabels: map[string]string{"app": m.pick(names)}}
	}
	rule := securityv1.Rule{From: []securityv1.RuleFrom{{Source: &securityv1.Source{ServiceAccounts: []string{m.pick(names)}}}},
		To: []securityv1.RuleTo{{Operation: &securityv1.Operation{Methods: []string{m.pick([]string{"GET", "POST"})}}}}}
	if m.rng.IntN(10) == 0 {
		rule.To[0].Operation.Methods = nil // an operation with nothing in it: invalid
	}
	ap.Spec.Rules = []securityv1.Rule{rule}
	return ap
}

func (m *Mesh) peerAuthentication(ns, name string) *securityv1.PeerAuthentication {
	pa := &securityv1.PeerAuthentication{ObjectMeta: m.meta(ns, name)}
	pa.Spec.MTLS = &securityv1.PeerAuthenticationMutualTLS{Mode: securityv1.MutualTLSMode(m.pick([]string{"STRICT", "PERMISSIVE", "DISABLE"}))}
	if m.rng.IntN(2) == 0 {
		pa.Spec.Selector = &typev1beta1.WorkloadSelector{MatchLabels: map[string]string{"app": m.pick(names)}}
	}
	return pa
}

// sidecar is a Sidecar for the namespace or, now and then, for one app or for the
// mesh (in the root namespace), importing its own namespace, another, one host or
// everything; some name a port of their own (as HTTP or TCP), an egress proxy,
// ingress listeners or connection pools.
func (m *Mesh) sidecar(ns, name string) *networkingv1.Sidecar {
	if m.rng.IntN(6) == 0 {
		ns, name = "istio-system", ns+"-"+name // one object per key of the mesh's map
	}
	sc := &networkingv1.Sidecar{ObjectMeta: m.meta(ns, name)}
	if m.rng.IntN(3) == 0 {
		sc.Spec.WorkloadSelector = &networkingv1.WorkloadSelector{Labels: map[string]string{"app": m.pick(names)}}
	}
	hosts := []string{"./*"}
	switch m.rng.IntN(4) {
	case 0:
		hosts = append(hosts, m.pick(Namespaces)+"/*")
	case 1:
		hosts = append(hosts, "*/"+m.pick(names)+"."+m.pick(Namespaces)+".svc.cluster.local")
	case 2:
		hosts = []string{"*/*"}
	}
	sc.Spec.Egress = []networkingv1.IstioEgressListener{{Hosts: hosts}}
	if m.rng.IntN(3) == 0 {
		port := &networkingv1.SidecarPort{Number: 80, Protocol: m.pick([]string{"HTTP", "TCP"}), Name: "p80"}
		if m.rng.IntN(2) == 0 {
			port.Number = 5432
		}
		sc.Spec.Egress = append([]networkingv1.IstioEgressListener{{Port: port, Hosts: []string{m.pick(Namespaces) + "/*"}}}, sc.Spec.Egress...)
	}
	if m.rng.IntN(4) == 0 {
		// A Unix domain socket listener, which imports a namespace of its own.
		uds := networkingv1.IstioEgressListener{Port: &networkingv1.SidecarPort{Number: 0, Protocol: m.pick([]string{"HTTP", "TCP"}), Name: "uds"},
			Bind: "unix:///var/run/" + name + ".sock", Hosts: []string{m.pick(Namespaces) + "/*"}}
		sc.Spec.Egress = append([]networkingv1.IstioEgressListener{uds}, sc.Spec.Egress...)
	}
	switch m.rng.IntN(4) {
	case 0:
		sc.Spec.OutboundTrafficPolicy = &networkingv1.OutboundTrafficPolicy{Mode: networkingv1.OutboundRegistryOnly}
	case 1:
		sc.Spec.OutboundTrafficPolicy = &networkingv1.OutboundTrafficPolicy{Mode: networkingv1.OutboundAllowAny,
			EgressProxy: &networkingv1.Destination{Host: m.pick(names) + "." + m.pick(Namespaces) + ".svc.cluster.local", Port: &networkingv1.PortSelector{Number: 80}}}
	}
	if m.rng.IntN(3) == 0 {
		sc.Spec.Ingress = []networkingv1.IstioIngressListener{{Port: &networkingv1.SidecarPort{Number: 9080, Protocol: m.pick([]string{"HTTP", "TCP"}), Name: "in"},
			DefaultEndpoint: m.pick([]string{"", "127.0.0.1:8080", "0.0.0.0:8081"})}}
	}
	if m.rng.IntN(4) == 0 {
		sc.Spec.InboundConnectionPool = &networkingv1.ConnectionPoolSettings{TCP: &networkingv1.TCPSettings{MaxConnections: int32(1 + m.rng.IntN(100))}}
	}
	return sc
}

// edit adds, changes or deletes one object.
func (m *Mesh) Edit() {
	ns, name := m.pick(Namespaces), m.pick(names)
	key := ns + "/" + name
	del := m.rng.IntN(4) == 0
	if m.rng.IntN(8) == 0 {
		delete(m.vss, key)
		delete(m.drs, key)
	}
	switch m.rng.IntN(6) {
	case 5:
		if del {
			delete(m.sidecars, key)
		} else {
			m.sidecars[key] = keepAge(m.sidecar(ns, name), m.sidecars[key])
		}
	case 3:
		if del {
			delete(m.aps, key)
		} else {
			m.aps[key] = keepAge(m.authorizationPolicy(ns, name), m.aps[key])
		}
	case 4:
		if del {
			delete(m.pas, key)
		} else {
			m.pas[key] = keepAge(m.peerAuthentication(ns, name), m.pas[key])
		}
	case 0:
		if del {
			delete(m.svcs, key)
		} else {
			m.svcs[key] = m.service(ns, name)
		}
	case 1:
		if del {
			delete(m.vss, key)
		} else if old := m.vss[key]; old != nil && m.rng.IntN(2) == 0 {
			// A weight change, as a user's canary step.
			vs := old.DeepCopy()
			meta := m.meta(ns, name)
			vs.ResourceVersion, vs.UID, vs.Generation = meta.ResourceVersion, meta.UID, meta.Generation
			w := int32(m.rng.IntN(100))
			vs.Spec.HTTP[1].Route[0].Weight, vs.Spec.HTTP[1].Route[1].Weight = w, 100-w
			m.vss[key] = vs
		} else {
			m.vss[key] = keepAge(m.virtualService(ns, name), old)
		}
	default:
		if del {
			delete(m.drs, key)
		} else {
			m.drs[key] = keepAge(m.destinationRule(ns, name), m.drs[key])
		}
	}
}

// Snapshot is the mesh as the pipeline lists it: objects with a resourceVersion come
// as shallow copies, as the informer cache hands them out, so unchanged objects are
// told apart by resourceVersion and not by pointer.
func (m *Mesh) Snapshot() *model.Snapshot {
	in := model.Inputs{
		VirtualServices:       listed(m.vss),
		DestinationRules:      listed(m.drs),
		AuthorizationPolicies: listed(m.aps),
		PeerAuthentications:   listed(m.pas),
		Sidecars:              listed(m.sidecars),
	}
	for _, s := range m.svcs {
		in.Services = append(in.Services, s)
	}
	return model.NewSnapshot(in)
}

func listed[T any, P interface {
	*T
	metav1.Object
}](objs map[string]P) []P {
	out := make([]P, 0, len(objs))
	for _, o := range objs {
		if o.GetResourceVersion() != "" {
			c := *o
			o = P(&c)
		}
		out = append(out, o)
	}
	return out
}

// New returns a mesh of about 25 random edits, from seed.
func New(seed uint64) *Mesh {
	m := &Mesh{rng: rand.New(rand.NewPCG(seed, 7)), svcs: map[string]*model.Service{},
		vss: map[string]*networkingv1.VirtualService{}, drs: map[string]*networkingv1.DestinationRule{},
		aps: map[string]*securityv1.AuthorizationPolicy{}, pas: map[string]*securityv1.PeerAuthentication{},
		sidecars: map[string]*networkingv1.Sidecar{}}
	for range 25 {
		m.Edit()
	}
	return m
}

// keepAge gives a new version of an object its old version's creation time, as the API
// server does on update.
func keepAge[T metav1.Object](o, old T) T {
	if any(old) != nil && !reflect.ValueOf(old).IsNil() {
		o.SetCreationTimestamp(old.GetCreationTimestamp())
	}
	return o
}
