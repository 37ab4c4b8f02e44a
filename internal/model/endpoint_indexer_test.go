package model

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// indexerWorld is a cluster the indexer test changes at random: slices, the services,
// pods and nodes they read, and namespaces' labels, each with a resourceVersion moved
// on every change, as the API server does.
type indexerWorld struct {
	r        *rand.Rand
	rv       int
	services map[string]*Service
	pods     map[string]*corev1.Pod
	nodes    map[string]*corev1.Node
	nsLabels map[string]map[string]string
	slices   []*discoveryv1.EndpointSlice
	next     int // the next slice's number: its UID and its addresses' second octet
}

func (w *indexerWorld) version() string { w.rv++; return strconv.Itoa(w.rv) }

func (w *indexerWorld) service(ns, name string) {
	svc := &Service{Namespace: ns, Name: name, Hostname: name + "." + ns + ".svc.cluster.local",
		Ports: []ServicePort{{Name: "http", Port: 80}}}
	if w.r.IntN(2) == 0 {
		svc.Ports = append(svc.Ports, ServicePort{Name: "grpc", Port: 9090})
	}
	w.services[ServiceKey(ns, name)] = svc // a new conversion, as a changed Service gets
}

func (w *indexerWorld) pod(ns, name string) {
	w.pods[ServiceKey(ns, name)] = &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: w.version(),
			Labels: map[string]string{"version": "v" + strconv.Itoa(w.r.IntN(3)), LabelTLSMode: []string{"istio", "disabled"}[w.r.IntN(2)]}},
		Spec: corev1.PodSpec{ServiceAccountName: "sa-" + strconv.Itoa(w.r.IntN(2))},
	}
}

func (w *indexerWorld) node(name string) {
	w.nodes[name] = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: w.version(),
		Labels: map[string]string{LabelRegion: "r" + strconv.Itoa(w.r.IntN(2)), LabelZone: "z" + strconv.Itoa(w.r.IntN(2))}}}
}

// slice makes an EndpointSlice of a random service, new (uid empty) or a change of uid.
// changeNode removes, adds or changes one of three nodes, some without a
// resourceVersion (not from an API server).
func (w *indexerWorld) changeNode() {
	if name := "node-" + strconv.Itoa(w.r.IntN(3)); w.r.IntN(4) == 0 {
		delete(w.nodes, name)
	} else {
		w.node(name)
		if w.r.IntN(5) == 0 {
			w.nodes[name].ResourceVersion = ""
		}
	}
}

func (w *indexerWorld) slice(uid types.UID) *discoveryv1.EndpointSlice {
	ns, name := "ns-"+strconv.Itoa(w.r.IntN(2)), "svc-"+strconv.Itoa(w.r.IntN(3))
	if uid == "" {
		w.next++
		uid = types.UID(strconv.Itoa(w.next))
	}
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "slice-" + string(uid), UID: uid, ResourceVersion: w.version(),
			Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}},
	}
	if w.r.IntN(2) == 0 {
		s.Ports = append(s.Ports, discoveryv1.EndpointPort{Name: ptr.To("grpc"), Port: ptr.To[int32](9090)})
	}
	for i := range w.r.IntN(4) {
		ep := discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.%s.0.%d", uid, i)},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(w.r.IntN(4) != 0)}}
		if w.r.IntN(2) == 0 {
			ep.NodeName = ptr.To("node-" + strconv.Itoa(w.r.IntN(3)))
		}
		if w.r.IntN(3) != 0 {
			ep.TargetRef = &corev1.ObjectReference{Kind: "Pod", Name: "pod-" + strconv.Itoa(w.r.IntN(4))}
		}
		s.Endpoints = append(s.Endpoints, ep)
	}
	return s
}

// change makes one random change to the world.
func (w *indexerWorld) change() {
	ns := "ns-" + strconv.Itoa(w.r.IntN(2))
	switch w.r.IntN(9) {
	case 0, 1:
		w.slices = append(w.slices, w.slice(""))
	case 2, 3:
		if len(w.slices) > 0 {
			i := w.r.IntN(len(w.slices))
			w.slices[i] = w.slice(w.slices[i].UID)
		}
	case 4:
		if len(w.slices) > 0 {
			i := w.r.IntN(len(w.slices))
			w.slices = append(w.slices[:i], w.slices[i+1:]...)
		}
	case 5:
		w.service(ns, "svc-"+strconv.Itoa(w.r.IntN(3)))
	case 6:
		if name := "pod-" + strconv.Itoa(w.r.IntN(4)); w.r.IntN(4) == 0 {
			delete(w.pods, ServiceKey(ns, name))
		} else {
			w.pod(ns, name)
			if w.r.IntN(5) == 0 {
				w.pods[ServiceKey(ns, name)].ResourceVersion = "" // not from an API server
			}
		}
	case 7:
		w.changeNode()
	case 8:
		w.nsLabels[ns] = map[string]string{"istio.io/dataplane-mode": []string{"ambient", "none"}[w.r.IntN(2)]}
	}
}

func (w *indexerWorld) inputs() DiscoveryInputs {
	in := NewDiscoveryInputs(slices.Collect(maps.Values(w.services)), slices.Collect(maps.Values(w.pods)), slices.Collect(maps.Values(w.nodes)))
	in.NamespaceLabels = w.nsLabels
	return in
}

// TestEndpointIndexerIsIndexEndpoints: pass after pass of random changes to slices,
// services, pods, nodes and namespaces, the indexer's index is the one built afresh,
// and the service ports it reports changed are the ones that did.
func TestEndpointIndexerIsIndexEndpoints(t *testing.T) {
	for seed := range uint64(20) {
		w := &indexerWorld{r: rand.New(rand.NewPCG(seed, 1)), services: map[string]*Service{}, pods: map[string]*corev1.Pod{},
			nodes: map[string]*corev1.Node{}, nsLabels: map[string]map[string]string{}}
		for ns := range 2 {
			for s := range 3 {
				w.service("ns-"+strconv.Itoa(ns), "svc-"+strconv.Itoa(s))
			}
		}
		var x EndpointIndexer
		var prev EndpointIndex
		for pass := range 300 {
			for range 1 + w.r.IntN(3) {
				w.change()
			}
			in := w.inputs()
			got, want := x.Index(w.slices, in), IndexEndpoints(w.slices, in)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d, pass %d: %s", seed, pass, indexDiff(got, want))
			}
			if changed, wantChanged := got.ChangedSince(prev), want.ChangedSince(prev); !reflect.DeepEqual(changed, wantChanged) {
				t.Fatalf("seed %d, pass %d: changed %v, want %v", seed, pass, changed, wantChanged)
			}
			prev = got
		}
	}
}

// TestEndpointIndexerReusesUnchanged: a pass after one slice changed keeps the lists of
// every other service port (the same slices of endpoints), and objects without a
// resourceVersion make it build afresh.
func TestEndpointIndexerReusesUnchanged(t *testing.T) {
	w := &indexerWorld{r: rand.New(rand.NewPCG(7, 7)), services: map[string]*Service{}, pods: map[string]*corev1.Pod{},
		nodes: map[string]*corev1.Node{}, nsLabels: map[string]map[string]string{}}
	for ns := range 2 {
		for s := range 3 {
			w.service("ns-"+strconv.Itoa(ns), "svc-"+strconv.Itoa(s))
		}
	}
	for range 30 {
		w.slices = append(w.slices, w.slice(""))
	}
	var x EndpointIndexer
	first := x.Index(w.slices, w.inputs())
	old, changed := w.slices[0], w.slice(w.slices[0].UID)
	w.slices[0] = changed
	second := x.Index(w.slices, w.inputs())
	// The ports the slice gave endpoints before and after are rebuilt; no other.
	touched := EndpointsFromSlice(changed, w.inputs())
	touched.Merge(EndpointsFromSlice(old, w.inputs()))
	kept := 0
	for k, eps := range first {
		if _, ok := touched[k]; ok {
			continue
		}
		kept++
		if &second[k][0] != &eps[0] {
			t.Errorf("%v: rebuilt, though none of its slices changed", k)
		}
	}
	if kept == 0 || len(second.ChangedSince(first)) == 0 {
		t.Errorf("%d ports kept, %d changed: the test changes one slice among many", kept, len(second.ChangedSince(first)))
	}

	w.slices[1] = w.slices[1].DeepCopy()
	w.slices[1].ResourceVersion = ""
	third := x.Index(w.slices, w.inputs())
	if !reflect.DeepEqual(third, IndexEndpoints(w.slices, w.inputs())) {
		t.Error("with a slice without resourceVersion, the index is not IndexEndpoints'")
	}

	// Two slices of one UID for one service, then the second alone: the first's
	// endpoints go.
	w.slices[1].ResourceVersion = w.version()
	twin := w.slices[2].DeepCopy()
	twin.Name, twin.ResourceVersion = twin.Name+"-twin", w.version()
	twin.Endpoints = []discoveryv1.Endpoint{{Addresses: []string{"10.255.0.1"}}}
	x.Index(append(slices.Clone(w.slices), twin), w.inputs())
	w.slices[2] = twin
	if got, want := x.Index(w.slices, w.inputs()), IndexEndpoints(w.slices, w.inputs()); !reflect.DeepEqual(got, want) {
		t.Errorf("after two slices of one UID, the index is not IndexEndpoints':\n%v\nwant\n%v", got, want)
	}
}

// TestPodConversionsAreNewWorkloads: pass after pass of random changes to pods and
// nodes, the kept conversions give the workloads NewWorkloads builds afresh, and an
// unchanged pod keeps its conversion.
func TestPodConversionsAreNewWorkloads(t *testing.T) {
	for seed := range uint64(20) {
		podConversionPasses(t, seed)
	}
}

func podConversionPasses(t *testing.T, seed uint64) {
	w := &indexerWorld{r: rand.New(rand.NewPCG(seed, 3)), services: map[string]*Service{}, pods: map[string]*corev1.Pod{},
		nodes: map[string]*corev1.Node{}, nsLabels: map[string]map[string]string{}}
	var c PodConversions
	var prev Workloads
	for pass := range 300 {
		switch w.r.IntN(3) {
		case 0:
			ns, name := "ns-"+strconv.Itoa(w.r.IntN(2)), "pod-"+strconv.Itoa(w.r.IntN(4))
			if w.r.IntN(4) == 0 {
				delete(w.pods, ServiceKey(ns, name))
			} else {
				w.pod(ns, name)
				p := w.pods[ServiceKey(ns, name)]
				p.UID = types.UID(ns + "/" + name)
				p.Spec.NodeName = "node-" + strconv.Itoa(w.r.IntN(3))
				p.Status.PodIP = "10.0.0." + strconv.Itoa(w.r.IntN(4)+1)
				if w.r.IntN(5) == 0 {
					p.Status.Phase = corev1.PodSucceeded
				}
			}
		case 1:
			w.changeNode()
		}
		pods, nodes := slices.Collect(maps.Values(w.pods)), slices.Collect(maps.Values(w.nodes))
		twins := len(pods) > 1 && w.r.IntN(10) == 0
		if twins {
			// Two pods of one UID, which no API server lists.
			twin := pods[0].DeepCopy()
			twin.Name += "-twin"
			twin.UID = pods[1].UID
			pods = append(pods, twin)
		}
		got, want := c.Workloads(pods, nodes, nil), NewWorkloads(pods, nodes, nil)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d, pass %d: kept conversions give\n%v\nwant\n%v", seed, pass, podValues(got.Pods), podValues(want.Pods))
		}
		// A pass with nothing changed converts nothing again (but pods on a node that
		// cannot be told apart from its changes, and passes with two pods of one UID).
		again := c.Workloads(pods, nodes, nil)
		for i := range again.Pods {
			if n := w.nodes[again.Pods[i].Node]; twins || n != nil && n.ResourceVersion == "" {
				continue
			}
			if again.Pods[i] != got.Pods[i] {
				t.Fatalf("pass %d: pod %s converted again, though nothing changed", pass, got.Pods[i].Name)
			}
		}
		if !got.Equal(prev) && len(got.Pods) == len(prev.Pods) && slices.EqualFunc(got.Pods, prev.Pods, func(a, b *Pod) bool { return a == b }) {
			t.Fatalf("pass %d: the same pods compare unequal", pass)
		}
		prev = got
	}
}

func podValues(pods []*Pod) []Pod {
	out := make([]Pod, len(pods))
	for i, p := range pods {
		out[i] = *p
	}
	return out
}

// indexDiff lists the service ports whose endpoints differ between two indexes.
func indexDiff(got, want EndpointIndex) string {
	out := ""
	for k := range want.ChangedSince(got) {
		out += fmt.Sprintf("%v:\n got %+v\nwant %+v\n", k, got[k], want[k])
	}
	return out
}
