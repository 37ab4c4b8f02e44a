package xds

import (
	"bytes"
	"fmt"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
	typev1beta1 "github.com/meshd-io/meshd/api/type/v1beta1"
	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/model"
	"github.com/meshd-io/meshd/internal/protomarshal"
	"github.com/meshd-io/meshd/internal/testutil/randommesh"
	"github.com/meshd-io/meshd/internal/translate"
	"github.com/meshd-io/meshd/internal/xds/render"
)

// endpointsOf gives every port of every service of snap one endpoint per subset
// version, so that EDS has content to get right.
func endpointsOf(snap *model.Snapshot) model.EndpointIndex {
	idx := model.EndpointIndex{}
	for _, svc := range snap.Services {
		for _, p := range svc.Ports {
			key := model.EndpointKey{Hostname: svc.Hostname, Port: p.Port}
			for i, v := range []string{"v1", "v2"} {
				idx[key] = append(idx[key], model.Endpoint{Address: fmt.Sprintf("10.1.%d.%d", len(idx)%250, i+1), Port: 8080,
					Labels: map[string]string{"version": v}, Ready: true})
			}
		}
	}
	return idx
}

// TestIncrementalPublishMatchesFull: a long-lived server fed incremental translations
// (reusing rendered protos and their bytes, assembling route configurations from
// virtual hosts' bytes) publishes, after every random edit and for proxies with and
// without labels, exactly the bytes a plain deterministic marshal of a fresh
// generation gives, and the endpoints a fresh server publishes.
func TestIncrementalPublishMatchesFull(t *testing.T) {
	var proxies []nodeInfo
	for _, class := range []string{ClassSidecar, ClassGRPC} {
		for _, ns := range randommesh.Namespaces {
			proxies = append(proxies, nodeInfo{Class: class, Namespace: ns},
				nodeInfo{Class: class, Namespace: ns, Labels: map[string]string{"app": "s1"}},
				nodeInfo{Class: class, Namespace: ns, Labels: map[string]string{"app": "s2"}})
		}
	}
	skipped := int64(0)
	for seed := range uint64(4) {
		m := randommesh.New(seed)
		x := &translate.Incremental{}
		srv := NewServer(testr.New(t))
		for step := range 50 {
			snap := m.Snapshot()
			out, _ := x.Translate(snap)
			eps := endpointsOf(snap)
			srv.Update(out)
			srv.UpdateEndpoints(eps)
			fresh := NewServer(logr.Discard())
			fresh.Update(out)
			fresh.UpdateEndpoints(eps)
			for _, p := range proxies {
				sc, err := srv.scopeFor(p)
				if err != nil {
					t.Fatal(err)
				}
				what := fmt.Sprintf("seed %d step %d, proxy %v", seed, step, p)
				servesConfigOf(t, sc, out, render.Scope{Namespace: p.Namespace, Labels: p.Labels}, what)
				freshSc, err := fresh.scopeFor(p)
				if err != nil {
					t.Fatal(err)
				}
				eds, freshEDS := sc.caches[resourcev3.EndpointType], freshSc.caches[resourcev3.EndpointType]
				if eds.len() != freshEDS.len() {
					t.Fatalf("%s: %d endpoint assignments, a fresh server has %d", what, eds.len(), freshEDS.len())
				}
				for _, name := range freshEDS.names() {
					if got := eds.get(name); got == nil || got.version != freshEDS.get(name).version {
						t.Fatalf("%s: endpoints of %s differ from a fresh server's", what, name)
					}
				}
			}
			m.Edit()
		}
		skipped += srv.unchangedScopes.Load()
	}
	// Scopes a change cannot reach are left as they are: the comparisons above cover
	// that shortcut only if it ran.
	if skipped == 0 {
		t.Error("no config update left a scope unchanged")
	}
}

// TestGenerationIsDeterministic: generating the same IR twice gives the same bytes
// (versions are hashes of bytes: anything else is a push with nothing changed, and
// replicas that disagree). Before render.MustAny marshalled deterministically, RBAC's
// policy map inside an Any came out in random order; generated (vtprotobuf)
// marshalling writes any map in random order.
func TestGenerationIsDeterministic(t *testing.T) {
	m := randommesh.New(0)
	for step := range 60 {
		out, _ := translate.Translate(m.Snapshot())
		for _, class := range []string{ClassSidecar, ClassGRPC} {
			scope := render.Scope{Namespace: randommesh.Namespaces[step%len(randommesh.Namespaces)]}
			a, b := generators[class].generate(out, scope, nil), generators[class].generate(out, scope, nil)
			for _, pair := range [][2][]types.Resource{
				{resources(a.Listeners), resources(b.Listeners)},
				{resources(a.Routes), resources(b.Routes)},
				{resources(a.Clusters), resources(b.Clusters)},
			} {
				for i, r := range pair[0] {
					if err := protomarshal.Verify(r); err != nil {
						t.Fatalf("step %d %s: %v", step, class, err)
					}
					x, err := protomarshal.Marshal(r)
					if err != nil {
						t.Fatal(err)
					}
					y, err := protomarshal.Marshal(pair[1][i])
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(x, y) {
						t.Fatalf("step %d %s: %T %d marshals differently each time", step, class, r, i)
					}
				}
			}
			if err := render.VerifyShared(); err != nil {
				t.Fatalf("step %d %s: %v", step, class, err)
			}
		}
		m.Edit()
	}
}

// servesConfigOf fails the test unless the scope's caches hold exactly the listeners,
// routes and clusters a fresh generation for client marshals to.
func servesConfigOf(t *testing.T, sc *scope, in *ir.IR, client render.Scope, what string) {
	t.Helper()
	res := generators[sc.key.Class].generate(in, client, nil)
	want := map[string][]types.Resource{
		resourcev3.ListenerType: resources(res.Listeners), resourcev3.RouteType: resources(res.Routes), resourcev3.ClusterType: resources(res.Clusters),
	}
	for typeURL, rs := range want {
		cache := sc.caches[typeURL]
		if cache.len() != len(rs) {
			t.Fatalf("%s: scope %s publishes %d %s, want %d", what, sc.key, cache.len(), typeURL, len(rs))
		}
		for _, r := range rs {
			name := cachev3.GetResourceName(r)
			b, err := protomarshal.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			if got := cache.get(name); got == nil || got.version != newCachedEntry(typeURL, name, b).version {
				t.Fatalf("%s: scope %s: %s %s is not what a fresh generation marshals", what, sc.key, typeURL, name)
			}
		}
	}
}

// TestScopeRendersForTheProxiesItServes: a scope renders with the labels of the proxy
// that created it. When a new selector moves that proxy to a scope of its own, the
// proxies left behind must not keep getting config rendered for its labels.
func TestScopeRendersForTheProxiesItServes(t *testing.T) {
	in := model.Inputs{Services: []*model.Service{model.ServiceFromKube(&corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "reviews", Namespace: "shop"},
		Spec:       corev1.ServiceSpec{ClusterIP: "10.0.0.1", Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
	}, model.DefaultClusterDomain)}}
	srv := NewServer(logr.Discard())
	out, _ := translate.Translate(model.NewSnapshot(in))
	srv.Update(out)
	first := nodeInfo{Class: ClassSidecar, Namespace: "shop", Labels: map[string]string{"app": "frontend"}}
	other := nodeInfo{Class: ClassSidecar, Namespace: "shop", Labels: map[string]string{"app": "batch"}}
	if _, err := srv.scopeFor(first); err != nil {
		t.Fatal(err)
	}
	// Only the frontend hashes by user: a policy for its workloads alone.
	in.DestinationRules = []*networkingv1.DestinationRule{{
		ObjectMeta: metav1.ObjectMeta{Name: "reviews", Namespace: "shop"},
		Spec: networkingv1.DestinationRuleSpec{Host: "reviews",
			WorkloadSelector: &typev1beta1.WorkloadSelector{MatchLabels: map[string]string{"app": "frontend"}},
			TrafficPolicy: &networkingv1.TrafficPolicy{LoadBalancer: &networkingv1.LoadBalancerSettings{
				ConsistentHash: &networkingv1.ConsistentHashLB{HTTPHeaderName: ptr.To("x-user")}}}},
	}}
	out, _ = translate.Translate(model.NewSnapshot(in))
	srv.Update(out)
	sc, err := srv.scopeFor(other)
	if err != nil {
		t.Fatal(err)
	}
	servesConfigOf(t, sc, out, render.Scope{Namespace: "shop", Labels: other.Labels}, "the batch proxy")
	fe, err := srv.scopeFor(first)
	if err != nil {
		t.Fatal(err)
	}
	if fe == sc {
		t.Fatal("the frontend proxy shares the batch proxy's scope under a policy only for it")
	}
	servesConfigOf(t, fe, out, render.Scope{Namespace: "shop", Labels: first.Labels}, "the frontend proxy")
}

// TestSyncedAtFollowsConfigNotEndpoints: a proxy holding every listener, route and
// cluster of the newest config update counts as synced at it even while an endpoint
// push is not yet acknowledged (endpoints are not an object's config, so endpoint
// churn must not turn objects Pending); a config update it has not acknowledged
// leaves it synced at the last one it held.
func TestSyncedAtFollowsConfigNotEndpoints(t *testing.T) {
	snap := randommesh.New(1).Snapshot()
	out, _ := translate.Translate(snap)
	srv := NewServer(logr.Discard())
	srv.Update(out)
	srv.UpdateEndpoints(endpointsOf(snap))
	sc, err := srv.scopeFor(nodeInfo{Class: ClassSidecar, Namespace: randommesh.Namespaces[0]})
	if err != nil {
		t.Fatal(err)
	}
	node := &corev3.Node{Id: "sidecar~10.0.0.9~p." + randommesh.Namespaces[0] + "~" + randommesh.Namespaces[0] + ".svc.cluster.local"}
	ack := func(typeURL string) {
		srv.tracker.request(1, node, typeURL, sc.caches[typeURL].version(nil, true), nil, "", logr.Discard())
	}
	for _, typeURL := range typeURLs {
		ack(typeURL)
	}
	synced := func() ProxyProgress {
		t.Helper()
		ps := srv.Progress()
		if len(ps) != 1 {
			t.Fatalf("%d proxies in progress, want 1", len(ps))
		}
		// The progress of the one proxy, asked alone, is the same.
		if one := srv.ProgressOf(node.Id); len(one) != 1 || one[0] != ps[0] {
			t.Fatalf("ProgressOf(%s) = %+v, Progress says %+v", node.Id, one, ps[0])
		}
		if other := srv.ProgressOf("sidecar~10.0.0.10~q.x~x.svc.cluster.local"); len(other) != 0 {
			t.Fatalf("ProgressOf an unknown proxy = %+v", other)
		}
		return ps[0]
	}
	if p := synced(); !p.UpToDate || p.SyncedAt != srv.ConfigSeq() {
		t.Fatalf("after acknowledging everything: %+v, want up to date and synced at %d", p, srv.ConfigSeq())
	}

	// A config update that changes nothing for the proxy, and new endpoints it has not
	// acknowledged yet.
	srv.Update(out)
	eps := endpointsOf(snap)
	for k := range eps {
		eps[k] = eps[k][:1]
	}
	srv.UpdateEndpoints(eps)
	if p := synced(); p.UpToDate || p.SyncedAt != srv.ConfigSeq() {
		t.Fatalf("behind on endpoints only: %+v, want not up to date but synced at %d", p, srv.ConfigSeq())
	}

	// Config updates until the proxy's listeners, routes or clusters change, none of
	// them acknowledged: it stays synced at the last update it held.
	before := srv.ConfigSeq()
	held := func() bool {
		for _, typeURL := range []string{resourcev3.ListenerType, resourcev3.RouteType, resourcev3.ClusterType} {
			if srv.tracker.Proxies()[0].Acked[typeURL] != sc.caches[typeURL].version(nil, true) {
				return false
			}
		}
		return true
	}
	m := randommesh.New(1)
	for held() {
		m.Edit()
		next, _ := translate.Translate(m.Snapshot())
		srv.Update(next)
	}
	if p := synced(); p.SyncedAt != before || srv.ConfigSeq() <= before {
		t.Fatalf("behind on config: synced at %d, want %d (now %d)", p.SyncedAt, before, srv.ConfigSeq())
	}
}

// TestRegenerationPanicReachesTheCaller: scopes regenerate side by side, and a
// generator's panic is raised in Update's caller (which the pipeline recovers from),
// with the server's lock released, rather than ending the process from a worker.
func TestRegenerationPanicReachesTheCaller(t *testing.T) {
	snap := randommesh.New(2).Snapshot()
	out, _ := translate.Translate(snap)
	srv := NewServer(logr.Discard())
	srv.Update(out)
	for _, ns := range randommesh.Namespaces {
		for _, class := range []string{ClassSidecar, ClassGRPC} {
			if _, err := srv.scopeFor(nodeInfo{Class: class, Namespace: ns}); err != nil {
				t.Fatal(err)
			}
		}
	}
	sidecar := generators[ClassSidecar]
	broken := sidecar
	broken.generate = func(*ir.IR, render.Scope, *render.Memo) *render.Resources { panic("generator bug") }
	generators[ClassSidecar] = broken
	func() {
		defer func() {
			if r := recover(); r != "generator bug" {
				t.Errorf("Update raised %v, want the generator's panic", r)
			}
		}()
		// A fresh translation: the same IR again would leave every scope as it is.
		again, _ := translate.Translate(snap)
		srv.Update(again)
	}()
	generators[ClassSidecar] = sidecar
	srv.Update(out) // the lock was released
	if got := srv.ConfigSeq(); got != 3 {
		t.Fatalf("config updates: %d, want 3", got)
	}
}
