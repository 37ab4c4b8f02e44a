package xds

import (
	"bytes"
	"errors"
	"slices"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/meshd-io/meshd/internal/protomarshal"
)

// marshalMemo keeps, by pointer, the cache entries of the protos a scope published and
// the bytes of the virtual hosts in its route configurations. Generators hand out the
// same protos for services the IR carries over (render.Memo), so a regeneration
// marshals only what it rendered anew; a route configuration (one per port for
// sidecars, a thousand virtual hosts in a large mesh) is assembled from its virtual
// hosts' bytes. Only what a pass uses is kept for the next; the maps are kept from
// pass to pass, as most of what they hold is used again.
type marshalMemo struct {
	pass    int
	entries map[types.Resource]*memoizedEntry
	vhosts  map[*routev3.VirtualHost]*memoizedBytes
	// routes are the route configurations published last, by name: one assembled
	// again from the same virtual hosts (and the same other fields) is the same entry,
	// and is neither copied nor hashed again.
	routes map[string]*assembledRoute
	// used count what this pass used of each map.
	usedEntries, usedVhosts int
}

type assembledRoute struct {
	vhosts []*routev3.VirtualHost
	tail   []byte
	entry  *cachedEntry
	pass   int
}

type memoizedEntry struct {
	entry *cachedEntry
	pass  int
}

type memoizedBytes struct {
	bytes []byte
	pass  int
}

func (m *marshalMemo) begin() {
	if m.entries == nil {
		m.entries, m.vhosts = map[types.Resource]*memoizedEntry{}, map[*routev3.VirtualHost]*memoizedBytes{}
		m.routes = map[string]*assembledRoute{}
	}
	m.pass++
	m.usedEntries, m.usedVhosts = 0, 0
}

// end forgets what the pass did not use.
func (m *marshalMemo) end() {
	if len(m.entries) != m.usedEntries {
		for r, e := range m.entries {
			if e.pass != m.pass {
				delete(m.entries, r)
			}
		}
	}
	if len(m.vhosts) != m.usedVhosts {
		for vh, b := range m.vhosts {
			if b.pass != m.pass {
				delete(m.vhosts, vh)
			}
		}
	}
	for name, r := range m.routes {
		if r.pass != m.pass {
			delete(m.routes, name)
		}
	}
}

// entry is the published entry of r, if r was published before.
func (m *marshalMemo) entry(r types.Resource) *cachedEntry {
	e := m.entries[r]
	if e == nil {
		return nil
	}
	if e.pass != m.pass {
		e.pass = m.pass
		m.usedEntries++
	}
	return e.entry
}

// keep remembers r's entry once it is published (or found equal to what is), and
// the bytes of the virtual hosts m marshalled for it: they are checked now. Then it
// releases r's content (and theirs): see release.
func (m *marshalMemo) keep(r types.Resource, e *cachedEntry, done marshalled) {
	for i, vh := range done.fresh {
		m.vhosts[vh] = &memoizedBytes{bytes: done.freshBytes[i], pass: m.pass}
		m.usedVhosts++
		release(vh)
	}
	if old := m.entries[r]; old != nil && old.pass == m.pass {
		old.entry = e
	} else {
		m.entries[r] = &memoizedEntry{entry: e, pass: m.pass}
		m.usedEntries++
	}
	if rc, ok := r.(*routev3.RouteConfiguration); ok && done.assembled {
		m.routes[rc.Name] = &assembledRoute{vhosts: slices.Clone(rc.VirtualHosts), tail: done.tail, entry: e, pass: m.pass}
	}
	release(r)
}

// release empties a published proto but for its name. The generators' memo hands the
// same pointer out again while the service is unchanged, and from then on only the
// pointer (the key of its bytes here) and the name are read; without this, each scope
// would keep a whole generation of protos alive, some 14 MB per scope of a
// 1,000-service mesh. Only top-level resources and virtual hosts are emptied: the
// sub-messages that generators share between resources are left as they are. The
// memos drop a pointer in the same pass, the one in which the generator stops
// handing it out, so an emptied proto is never marshalled again.
func release(r proto.Message) {
	m := r.ProtoReflect()
	name := m.Descriptor().Fields().ByName("name")
	if name == nil {
		return
	}
	v := m.Get(name)
	proto.Reset(r)
	m.Set(name, v)
}

// vhost returns the memoized bytes of a virtual host, marking them used.
func (m *marshalMemo) vhost(vh *routev3.VirtualHost) ([]byte, bool) {
	b := m.vhosts[vh]
	if b == nil {
		return nil, false
	}
	if b.pass != m.pass {
		b.pass = m.pass
		m.usedVhosts++
	}
	return b.bytes, true
}

// marshalled is a resource's bytes, and what they need before they are published.
type marshalled struct {
	bytes []byte
	// fresh are the virtual hosts marshalled for these bytes (not taken from the
	// memo), with their bytes: memoized only once the resource is published.
	fresh      []*routev3.VirtualHost
	freshBytes [][]byte
	check      func() error
	// For an assembled route configuration: tail is its fields after the virtual
	// hosts, and reused its published entry when nothing in it changed.
	assembled bool
	tail      []byte
	reused    *cachedEntry
}

// marshal returns r's bytes and their validation: for a route configuration, only
// its own fields and its newly marshalled virtual hosts (the others were published
// before).
func (m *marshalMemo) marshal(r types.Resource) (marshalled, error) {
	rc, ok := r.(*routev3.RouteConfiguration)
	if !ok || len(rc.VirtualHosts) == 0 {
		b, err := protomarshal.Marshal(r)
		return marshalled{bytes: b, check: func() error { return validateResource(r) }}, err
	}
	out, err := m.assemble(rc)
	out.check = func() error {
		err := validateShallow(rc)
		for _, vh := range out.fresh {
			err = errors.Join(err, vh.ValidateAll())
		}
		return err
	}
	return out, err
}

// assemble marshals a route configuration in protomarshal's layout (fields in number
// order: name, then the repeated virtual_hosts, then the rest), taking each virtual
// host's bytes from the memo when it has them.
func (m *marshalMemo) assemble(rc *routev3.RouteConfiguration) (marshalled, error) {
	var out marshalled
	head, tail, err := protomarshal.RouteConfigurationEnds(rc)
	if err != nil {
		return out, err
	}
	name, vhs := rc.Name, rc.VirtualHosts
	out.assembled, out.tail = true, tail
	parts := make([][]byte, len(vhs))
	size := len(head) + len(tail)
	for i, vh := range vhs {
		b, ok := m.vhost(vh)
		if !ok {
			if b, err = protomarshal.Marshal(vh); err != nil {
				return out, err
			}
			out.fresh, out.freshBytes = append(out.fresh, vh), append(out.freshBytes, b)
		}
		parts[i] = b
		size += len(b) + protowire.SizeTag(2) + protowire.SizeVarint(uint64(len(b)))
	}
	if prev := m.routes[name]; prev != nil && len(out.fresh) == 0 && slices.Equal(prev.vhosts, vhs) && bytes.Equal(prev.tail, tail) {
		prev.pass = m.pass
		out.reused = prev.entry
		return out, nil
	}
	out.bytes = make([]byte, 0, size)
	out.bytes = append(out.bytes, head...)
	fresh := 0
	for i, b := range parts {
		out.bytes = protomarshal.AppendVirtualHost(out.bytes, b)
		start := len(out.bytes) - len(b)
		// When every virtual host is new (a scope's first or a full generation), their
		// bytes are memoized as slices of the route configuration's, which the cache
		// keeps anyway, rather than as a second copy. Not otherwise: a few new virtual
		// hosts would each keep a whole route configuration's bytes alive long after
		// the cache replaced it.
		if len(out.fresh) == len(vhs) && fresh < len(out.fresh) && out.fresh[fresh] == vhs[i] {
			out.freshBytes[fresh] = out.bytes[start:len(out.bytes):len(out.bytes)]
			fresh++
		}
	}
	out.bytes = append(out.bytes, tail...)
	return out, nil
}

func validateResource(r types.Resource) error {
	if v, ok := r.(interface{ ValidateAll() error }); ok {
		return v.ValidateAll()
	}
	return nil
}

// validateShallow validates a route configuration's own fields, not its virtual hosts.
func validateShallow(rc *routev3.RouteConfiguration) error {
	vhs := rc.VirtualHosts
	rc.VirtualHosts = nil
	defer func() { rc.VirtualHosts = vhs }()
	return rc.ValidateAll()
}
