package xds

import (
	"testing"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/go-logr/logr"

	"github.com/meshd-io/meshd/internal/testutil"
	"github.com/meshd-io/meshd/internal/translate"
)

// Sidecar scopes of two namespaces, generated apart, hold one entry for each cluster
// and endpoint assignment they render alike.
func TestScopesShareEntries(t *testing.T) {
	snap, eps := testutil.LoadSnapshot(t, testData)
	out, _ := translate.Translate(snap)
	s := NewServer(logr.Discard())
	s.Update(out)
	s.UpdateEndpoints(eps)
	s.WarmScope(ClassSidecar, "default")
	s.WarmScope(ClassSidecar, "elsewhere")
	caches := map[string][]*resourceCache{}
	s.mu.Lock()
	for key, sc := range s.scopes {
		if key.Class == ClassSidecar {
			for _, typ := range []string{resourcev3.ClusterType, resourcev3.EndpointType} {
				caches[typ] = append(caches[typ], sc.caches[typ])
			}
		}
	}
	s.mu.Unlock()
	for typ, cs := range caches {
		if len(cs) != 2 {
			t.Fatalf("%d sidecar scopes hold %s, want 2", len(cs), typ)
		}
		shared := 0
		for name, a := range cs[0].resources {
			b := cs[1].resources[name]
			switch {
			case b == nil || a.version != b.version:
			case a != b:
				t.Errorf("%s %s renders alike in both scopes, and each holds its own entry", typ, name)
			default:
				shared++
			}
		}
		if shared == 0 {
			t.Errorf("no %s entry is shared by the two scopes", typ)
		}
	}
}

// Entries are shared only when their bytes are equal, and forgotten once collected.
func TestSharedEntries(t *testing.T) {
	tab := newSharedEntries()
	a := tab.share(newCachedEntry(resourcev3.ClusterType, "c", []byte("one")))
	if b := tab.share(newCachedEntry(resourcev3.ClusterType, "c", []byte("one"))); b != a {
		t.Fatal("equal entries were not shared")
	}
	if b := tab.share(newCachedEntry(resourcev3.EndpointType, "c", []byte("one"))); b == a {
		t.Fatal("entries of two types were shared")
	}
	forged := newCachedEntry(resourcev3.ClusterType, "c", []byte("two"))
	forged.version = a.version // as a hash collision would
	if b := tab.share(forged); b != forged {
		t.Fatal("entries of the same version but other bytes were shared")
	}
	a, forged = nil, nil
	if n := afterCollection(tab.size); n > 0 {
		t.Fatalf("%d collected entries are still registered", n)
	}
}
