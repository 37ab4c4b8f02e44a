package render

import (
	"reflect"

	"github.com/meshd-io/meshd/internal/ir"
)

// Memo keeps what a generator rendered for each service port between two generations
// of one scope. Incremental translation carries a service it did not translate again
// over as the same *ir.Service, and everything a service's resources depend on
// (its ports, route tables, policies, and the services its routes name) is then
// unchanged too, so the same protos can be handed out again; the xDS cache then
// reuses their marshalled bytes as well. A service translated anew is a new pointer
// and is rendered anew.
//
// A nil *Memo renders every time. A Memo is not safe for concurrent use.
type Memo struct {
	// root is the IR's root namespace, the one IR-wide input of a service's rendering
	// (DestinationRule selection): when it changes, nothing is reused.
	root string
	// context is what else the generator said its renderings depend on (Depends).
	context string
	// pass counts generations; entries not used by the last one are dropped.
	pass, used int
	entries    map[memoKey]*memoEntry
}

// MemoPart names what of a service port a generator memoizes.
type MemoPart uint8

// The parts generators memoize.
const (
	PartGRPC MemoPart = iota
	PartClusters
	PartVirtualHost
)

type memoKey struct {
	svc  *ir.Service
	port uint32
	part MemoPart
}

type memoEntry struct {
	value any
	pass  int
}

// Begin starts a generation of in.
func (m *Memo) Begin(in *ir.IR) {
	if m == nil {
		return
	}
	if in.RootNamespace != m.root || m.entries == nil {
		m.entries, m.root = map[memoKey]*memoEntry{}, in.RootNamespace
	}
	m.pass++
	m.used = 0
}

// Depends names an input of this generation's renderings besides the services and the
// root namespace (a sidecar scope's Sidecar): when it differs from the last
// generation's, nothing rendered before is reused. Generators call it right after
// Begin, before rendering anything.
func (m *Memo) Depends(context string) {
	if m == nil || m.context == context {
		return
	}
	m.context = context
	m.entries = map[memoKey]*memoEntry{}
}

// End forgets what the generation since Begin did not use.
func (m *Memo) End() {
	if m == nil || len(m.entries) == m.used {
		return
	}
	for k, e := range m.entries {
		if e.pass != m.pass {
			delete(m.entries, k)
		}
	}
}

// Memoized returns what render gave for the same service, port and part in the last
// generation, or renders it now.
func Memoized[T any](m *Memo, svc *ir.Service, port uint32, part MemoPart, render func() T) T {
	if m == nil || m.entries == nil {
		return render()
	}
	key := memoKey{svc, port, part}
	e := m.entries[key]
	if e == nil {
		e = &memoEntry{value: render()}
		m.entries[key] = e
	}
	if e.pass != m.pass {
		e.pass = m.pass
		m.used++
	}
	return e.value.(T)
}

// Equal reports whether two EDS clusters render alike for the same endpoints.
func (c *EDSCluster) Equal(o *EDSCluster) bool {
	if c == o {
		return true // the same rendering, memoized
	}
	if c.Name != o.Name || c.Hostname != o.Hostname || c.Port != o.Port || c.Failover != o.Failover || c.Distribute != o.Distribute ||
		len(c.Labels) != len(o.Labels) || (c.Locality == nil) != (o.Locality == nil) {
		return false
	}
	if sameMap(c.Labels, o.Labels) {
		return c.Locality == o.Locality || reflect.DeepEqual(c.Locality, o.Locality)
	}
	for k, v := range c.Labels {
		if w, ok := o.Labels[k]; !ok || w != v {
			return false
		}
	}
	// Locality settings are rare; when set they are compared in depth.
	return c.Locality == o.Locality || reflect.DeepEqual(c.Locality, o.Locality)
}

// sameMap reports whether two maps are one map (clusters rendered once and reused
// share their label maps).
func sameMap(a, b map[string]string) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}
