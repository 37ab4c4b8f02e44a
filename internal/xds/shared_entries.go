package xds

import (
	"bytes"
	"runtime"
	"sync"
	"weak"
)

// sharedEntries hands scopes one cache entry for a resource they render alike. Scopes
// are generated apart (one per namespace and proxy class, each when its first proxy
// connects), and most of what they hold is the same: every sidecar of a mesh gets the
// same clusters and endpoints. Shared, an entry's bytes and its response encodings
// (wires) are held and built once, not once per scope: 20 namespaces held 20 copies of
// a 1,000-service mesh's clusters. Entries no scope holds are collected; the table
// forgets them.
type sharedEntries struct {
	mu    sync.Mutex
	byKey map[entryKey]weak.Pointer[cachedEntry]
}

type entryKey struct{ typeURL, name, version string }

func newSharedEntries() *sharedEntries {
	return &sharedEntries{byKey: map[entryKey]weak.Pointer[cachedEntry]{}}
}

// share returns the live entry with e's type, name and bytes, or registers e.
func (t *sharedEntries) share(e *cachedEntry) *cachedEntry {
	key := entryKey{e.any.GetTypeUrl(), e.name, e.version}
	t.mu.Lock()
	defer t.mu.Unlock()
	if old := t.byKey[key].Value(); old != nil {
		// The version is a 64-bit hash of the bytes; sharing on a collision would
		// hand a proxy another scope's config.
		if bytes.Equal(old.any.GetValue(), e.any.GetValue()) {
			return old
		}
		return e
	}
	t.byKey[key] = weak.Make(e)
	runtime.AddCleanup(e, t.forget, key)
	return e
}

// forget drops a collected entry's key, unless another entry took it since.
func (t *sharedEntries) forget(key entryKey) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byKey[key].Value() == nil {
		delete(t.byKey, key)
	}
}

// size is the number of keys the table holds.
func (t *sharedEntries) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byKey)
}
