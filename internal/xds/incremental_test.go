package xds

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"

	"github.com/meshd-io/meshd/internal/model"
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
// virtual hosts' bytes) publishes, after every random edit, exactly the bytes a
// plain deterministic marshal of a fresh generation gives, and the endpoints a fresh
// server publishes.
func TestIncrementalPublishMatchesFull(t *testing.T) {
	for seed := range uint64(5) {
		m := randommesh.New(seed)
		x := &translate.Incremental{}
		srv := NewServer(testr.New(t))
		for step := range 60 {
			snap := m.Snapshot()
			out, _ := x.Translate(snap)
			eps := endpointsOf(snap)
			srv.Update(out)
			srv.UpdateEndpoints(eps)
			fresh := NewServer(logr.Discard())
			fresh.Update(out)
			fresh.UpdateEndpoints(eps)
			for _, class := range []string{ClassSidecar, ClassGRPC} {
				for _, ns := range randommesh.Namespaces {
					srv.WarmScope(class, ns)
					fresh.WarmScope(class, ns)
				}
			}
			for key, sc := range srv.scopes {
				res := generators[key.Class].generate(out, sc.client, nil)
				want := map[string]map[string]types.Resource{resourcev3.ListenerType: {}, resourcev3.RouteType: {}, resourcev3.ClusterType: {}}
				for _, r := range res.Listeners {
					want[resourcev3.ListenerType][r.Name] = r
				}
				for _, r := range res.Routes {
					want[resourcev3.RouteType][r.Name] = r
				}
				for _, r := range res.Clusters {
					want[resourcev3.ClusterType][r.Name] = r
				}
				for typeURL, byName := range want {
					cache := sc.caches[typeURL]
					if cache.len() != len(byName) {
						t.Fatalf("seed %d step %d scope %s: %d %s published, want %d", seed, step, key, cache.len(), typeURL, len(byName))
					}
					for name, r := range byName {
						b, err := deterministic.Marshal(r)
						if err != nil {
							t.Fatal(err)
						}
						if got, want := cache.get(name), newCachedEntry(typeURL, name, b); got == nil || got.version != want.version {
							t.Fatalf("seed %d step %d scope %s: %s %s is not what a fresh generation marshals", seed, step, key, typeURL, name)
						}
					}
				}
				eds, freshEDS := sc.caches[resourcev3.EndpointType], fresh.scopes[key].caches[resourcev3.EndpointType]
				if eds.len() != freshEDS.len() {
					t.Fatalf("seed %d step %d scope %s: %d endpoint assignments, a fresh server has %d", seed, step, key, eds.len(), freshEDS.len())
				}
				for _, name := range freshEDS.names() {
					if got := eds.get(name); got == nil || got.version != freshEDS.get(name).version {
						t.Fatalf("seed %d step %d scope %s: endpoints of %s differ from a fresh server's", seed, step, key, name)
					}
				}
			}
			m.Edit()
		}
	}
}

// TestGenerationIsDeterministic: generating the same IR twice gives the same bytes
// (versions are hashes of bytes: anything else is a push with nothing changed, and
// replicas that disagree). Before render.MustAny marshalled deterministically, RBAC's
// policy map inside an Any came out in random order.
func TestGenerationIsDeterministic(t *testing.T) {
	m := randommesh.New(0)
	for step := range 60 {
		out, _ := translate.Translate(m.Snapshot())
		for _, class := range []string{ClassSidecar, ClassGRPC} {
			scope := render.Scope{Namespace: randommesh.Namespaces[step%len(randommesh.Namespaces)]}
			a, b := generators[class].generate(out, scope, nil), generators[class].generate(out, scope, nil)
			for i, r := range resources(a.Listeners) {
				x, _ := deterministic.Marshal(r)
				y, _ := deterministic.Marshal(b.Listeners[i])
				if !bytes.Equal(x, y) {
					t.Fatalf("step %d %s: listener %s marshals differently each time", step, class, a.Listeners[i].Name)
				}
			}
		}
		m.Edit()
	}
}
