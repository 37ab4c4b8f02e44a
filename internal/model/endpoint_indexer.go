package model

import (
	"maps"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
)

// EndpointIndexer builds the endpoint index pass after pass, as IndexEndpoints does,
// with work that grows with what changed. Under churn an endpoints pass runs every
// debounce interval, and rebuilding every EndpointSlice's endpoints each time was half
// of the garbage meshd made while 2,000 proxies converged under endpoint churn (and
// most of a pass's CPU). So what a slice gave is kept, and taken again while neither
// the slice nor anything its endpoints read changed: its Service (the conversion, kept
// while the Service is unchanged), the pods and nodes it names (by resourceVersion) and
// its namespace's labels. A service port none of whose slices changed keeps its sorted
// list from the last pass, the same slice of endpoints, which EndpointIndex.ChangedSince
// recognises without comparing.
//
// Objects without a UID or a resourceVersion, or slices sharing a UID (none read from
// an API server), cannot be told apart from their changes: a pass with such a slice
// falls back to IndexEndpoints, and a slice that reads such a pod or node is rebuilt
// every pass. Index is not safe for concurrent use; the endpoints pass runs one at a
// time.
type EndpointIndexer struct {
	slices map[types.UID]*indexedSlice
	prev   EndpointIndex
	pass   uint64
}

// indexedSlice is what one EndpointSlice gave, and what that was read from.
type indexedSlice struct {
	resourceVersion string
	svc             *Service
	nsLabels        map[string]string
	deps            []dependency
	// volatile: a pod or node it read has no resourceVersion, so the slice is
	// converted again every pass.
	volatile  bool
	endpoints EndpointIndex
	pass      uint64 // the last pass that listed the slice
}

// dependency is a pod or node (by name, no namespace) a slice's endpoints read, as it
// was then ("" when absent).
type dependency struct {
	pod             bool
	key             types.NamespacedName
	resourceVersion string
}

// Index returns the sorted endpoint index of slices, as IndexEndpoints(slices, in).
// The lists of the returned index may be those of earlier ones: no one may change them.
func (x *EndpointIndexer) Index(slices []*discoveryv1.EndpointSlice, in DiscoveryInputs) EndpointIndex {
	if !identified(slices) {
		x.slices, x.prev = nil, nil
		return IndexEndpoints(slices, in)
	}
	if x.slices == nil {
		x.slices = make(map[types.UID]*indexedSlice, len(slices))
	}
	x.pass++
	// A service port is rebuilt when a slice that gives it endpoints now, or gave it
	// some last time, is new, changed or gone.
	dirty := map[EndpointKey]bool{}
	entries := make([]*indexedSlice, len(slices))
	for i, s := range slices {
		e := x.slices[s.UID]
		if e != nil && e.pass == x.pass {
			// Two slices of one UID (not an API server's): what each gave cannot be
			// told apart from the other's.
			x.slices, x.prev = nil, nil
			return IndexEndpoints(slices, in)
		}
		if e == nil || !e.current(s, in) {
			if e != nil {
				markAll(dirty, e.endpoints)
			}
			e = indexSlice(s, in)
			markAll(dirty, e.endpoints)
			x.slices[s.UID] = e
		}
		e.pass = x.pass
		entries[i] = e
	}
	for uid, e := range x.slices {
		if e.pass != x.pass {
			markAll(dirty, e.endpoints)
			delete(x.slices, uid)
		}
	}
	idx := make(EndpointIndex, len(x.prev))
	for _, e := range entries {
		for k, eps := range e.endpoints {
			if dirty[k] {
				idx[k] = append(idx[k], eps...)
			} else if _, ok := idx[k]; !ok {
				idx[k] = x.prev[k]
			}
		}
	}
	for k := range dirty {
		sortEndpoints(idx[k])
	}
	x.prev = idx
	return idx
}

// identified reports whether every slice has a UID and a resourceVersion, which tell
// whether it changed since the last pass.
func identified(slices []*discoveryv1.EndpointSlice) bool {
	for _, s := range slices {
		if s.UID == "" || s.ResourceVersion == "" {
			return false
		}
	}
	return true
}

func markAll(dirty map[EndpointKey]bool, idx EndpointIndex) {
	for k := range idx {
		dirty[k] = true
	}
}

// indexSlice converts one slice, noting what it read.
func indexSlice(s *discoveryv1.EndpointSlice, in DiscoveryInputs) *indexedSlice {
	e := &indexedSlice{resourceVersion: s.ResourceVersion, svc: sliceService(s, in),
		nsLabels: in.NamespaceLabels[s.Namespace], endpoints: EndpointIndex{}}
	reads := map[dependency]bool{}
	e.endpoints.addSlice(s, in, reads)
	for d := range reads {
		var ok bool
		if d.resourceVersion, ok = d.now(in); !ok {
			e.volatile = true
		}
		e.deps = append(e.deps, d)
	}
	return e
}

// current reports whether the slice and everything its endpoints read are as they were.
func (e *indexedSlice) current(s *discoveryv1.EndpointSlice, in DiscoveryInputs) bool {
	if e.volatile || e.resourceVersion != s.ResourceVersion || e.svc != sliceService(s, in) ||
		!maps.Equal(e.nsLabels, in.NamespaceLabels[s.Namespace]) {
		return false
	}
	for i := range e.deps {
		if rv, ok := e.deps[i].now(in); !ok || rv != e.deps[i].resourceVersion {
			return false
		}
	}
	return true
}

// now is the resourceVersion of the pod or node d names ("" when absent); ok is false
// for one that has none, which cannot be told apart from its changes.
func (d *dependency) now(in DiscoveryInputs) (rv string, ok bool) {
	if d.pod {
		if p := in.Pods[d.key]; p != nil {
			return p.ResourceVersion, p.ResourceVersion != ""
		}
	} else if n := in.Nodes[d.key.Name]; n != nil {
		return n.ResourceVersion, n.ResourceVersion != ""
	}
	return "", true
}

// sliceService is the Service a slice belongs to, nil when unknown.
func sliceService(s *discoveryv1.EndpointSlice, in DiscoveryInputs) *Service {
	return in.Services[ServiceKey(s.Namespace, s.Labels[discoveryv1.LabelServiceName])]
}
