package translate

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/model"
)

// randomMesh is a small mesh that random edits change one object at a time.
type randomMesh struct {
	rng     *rand.Rand
	version int
	created int64
	svcs    map[string]*model.Service // by namespace/name
	vss     map[string]*networkingv1.VirtualService
	drs     map[string]*networkingv1.DestinationRule
}

var (
	randomNamespaces = []string{"a", "b", "c"}
	randomNames      = []string{"s0", "s1", "s2", "s3", "s4", "s5"}
)

func (m *randomMesh) pick(list []string) string { return list[m.rng.IntN(len(list))] }

// host is how an object names a service: short, FQDN, another namespace's, or a
// wildcard now and then.
func (m *randomMesh) host(ns string) string {
	switch m.rng.IntN(10) {
	case 0:
		return "*." + m.pick(randomNamespaces) + ".svc.cluster.local"
	case 1, 2:
		return m.pick(randomNames) + "." + m.pick(randomNamespaces) + ".svc.cluster.local"
	case 3:
		return "missing"
	default:
		return m.pick(randomNames)
	}
}

func (m *randomMesh) meta(ns, name string) metav1.ObjectMeta {
	m.version++
	m.created++
	meta := metav1.ObjectMeta{Namespace: ns, Name: name, Generation: int64(m.version), CreationTimestamp: metav1.Unix(m.created, 0)}
	// Half the objects carry a resourceVersion as stored ones do; the rest are told
	// apart by pointer, as in tests and benchmarks.
	if m.rng.IntN(2) == 0 {
		meta.ResourceVersion, meta.UID = strconv.Itoa(m.version), types.UID("uid-"+ns+"-"+name)
	}
	return meta
}

func (m *randomMesh) service(ns, name string) *model.Service {
	ports := []corev1.ServicePort{{Name: "http", Port: 80}}
	switch m.rng.IntN(4) {
	case 0:
		ports = append(ports, corev1.ServicePort{Name: "tcp-db", Port: 5432})
	case 1:
		ports = []corev1.ServicePort{{Name: "grpc", Port: 9080}}
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: corev1.ServiceSpec{Ports: ports, ClusterIP: fmt.Sprintf("10.0.0.%d", m.rng.IntN(250)+1)}}
	if m.rng.IntN(6) == 0 {
		svc.Annotations = map[string]string{"networking.istio.io/exportTo": "."}
	}
	return model.ServiceFromKube(svc, model.DefaultClusterDomain)
}

func (m *randomMesh) destination(ns string) networkingv1.Destination {
	d := networkingv1.Destination{Host: m.host(ns)}
	if m.rng.IntN(2) == 0 {
		d.Subset = m.pick([]string{"v1", "v2", "v3"})
	}
	return d
}

func (m *randomMesh) virtualService(ns, name string) *networkingv1.VirtualService {
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
	if m.rng.IntN(6) == 0 {
		vs.Spec.ExportTo = []string{"."}
	}
	if m.rng.IntN(15) == 0 {
		vs.Spec.HTTP[1].Route[0].Weight = -1 // invalid: reported, left out
	}
	return vs
}

func (m *randomMesh) destinationRule(ns, name string) *networkingv1.DestinationRule {
	dr := &networkingv1.DestinationRule{ObjectMeta: m.meta(ns, name)}
	dr.Spec.Host = m.host(ns)
	for _, s := range []string{"v1", "v2"}[:1+m.rng.IntN(2)] {
		dr.Spec.Subsets = append(dr.Spec.Subsets, networkingv1.Subset{Name: s, Labels: map[string]string{"version": s}})
	}
	if m.rng.IntN(3) == 0 {
		dr.Spec.TrafficPolicy = &networkingv1.TrafficPolicy{LoadBalancer: &networkingv1.LoadBalancerSettings{
			ConsistentHash: &networkingv1.ConsistentHashLB{HTTPHeaderName: ptr.To("x-user")}}}
	}
	return dr
}

// edit adds, changes or deletes one object.
func (m *randomMesh) edit() {
	ns, name := m.pick(randomNamespaces), m.pick(randomNames)
	key := ns + "/" + name
	del := m.rng.IntN(4) == 0
	switch m.rng.IntN(3) {
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
			vs := m.virtualService(ns, name)
			if old != nil {
				vs.CreationTimestamp = old.CreationTimestamp
			}
			m.vss[key] = vs
		}
	default:
		if del {
			delete(m.drs, key)
		} else {
			dr := m.destinationRule(ns, name)
			if old := m.drs[key]; old != nil {
				dr.CreationTimestamp = old.CreationTimestamp
			}
			m.drs[key] = dr
		}
	}
}

func (m *randomMesh) snapshot() *model.Snapshot {
	in := model.Inputs{}
	for _, s := range m.svcs {
		in.Services = append(in.Services, s)
	}
	for _, vs := range m.vss {
		in.VirtualServices = append(in.VirtualServices, vs)
	}
	for _, dr := range m.drs {
		in.DestinationRules = append(in.DestinationRules, dr)
	}
	return model.NewSnapshot(in)
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestIncrementalMatchesFull: after every random edit, incremental translation gives
// exactly what full translation gives (IR and every object's report), while it
// actually translates only part of the mesh most of the time.
func TestIncrementalMatchesFull(t *testing.T) {
	for seed := range uint64(20) {
		m := &randomMesh{rng: rand.New(rand.NewPCG(seed, 7)), svcs: map[string]*model.Service{},
			vss: map[string]*networkingv1.VirtualService{}, drs: map[string]*networkingv1.DestinationRule{}}
		for range 25 {
			m.edit()
		}
		x := &Incremental{}
		restricted := 0
		for step := range 150 {
			snap := m.snapshot()
			before := x.out
			got, gotReport := x.Translate(snap)
			want, wantReport := Translate(snap)
			if g, w := asJSON(t, got), asJSON(t, want); g != w {
				t.Fatalf("seed %d step %d: incremental IR differs from full translation:\n got %s\nwant %s", seed, step, g, w)
			}
			if !reflect.DeepEqual(gotReport, wantReport) {
				t.Fatalf("seed %d step %d: incremental report differs from full translation:\n got %s\nwant %s", seed, step, asJSON(t, gotReport), asJSON(t, wantReport))
			}
			if before != nil && shares(before, got) {
				restricted++
			}
			m.edit()
		}
		if restricted < 30 {
			t.Errorf("seed %d: only %d of 150 translations carried services over", seed, restricted)
		}
	}
}

// shares reports whether two IRs share some service.
func shares(a, b *ir.IR) bool {
	prev := map[*ir.Service]bool{}
	for _, s := range a.Services {
		prev[s] = true
	}
	for _, s := range b.Services {
		if prev[s] {
			return true
		}
	}
	return false
}
