package protomarshal

import (
	"cmp"
	"fmt"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// holdsUnorderedMap reports whether m holds a map of two or more entries, the one
// thing generated marshalling writes in a varying order. It looks only where meshd's
// generators put several entries in a map (RBAC's policies aside, which rbac.go
// orders): a route's per-filter configs (fault and CORS), in the messages that carry
// them. Looking everywhere, by
// reflection, cost twice the marshal it guards. Verify, run by the generators'
// golden and randomised tests on every resource they produce, fails when a map of
// several entries turns up where this does not look.
func holdsUnorderedMap(m proto.Message) bool {
	switch m := m.(type) {
	case *routev3.RouteConfiguration:
		return routesUnordered(m)
	case *routev3.VirtualHost:
		return virtualHostUnordered(m)
	case *hcmv3.HttpConnectionManager:
		return routesUnordered(m.GetRouteConfig())
	}
	return false
}

// marshalRouteConfiguration writes a route configuration as its name, then each
// virtual host marshalled on its own (with sorted keys only where it holds a map of
// several entries), then its other fields: the layout the xDS cache assembles from
// memoized virtual hosts (RouteConfigurationEnds, AppendVirtualHost), so that a route
// configuration marshals to the same bytes (and version) whether it was assembled or
// marshalled whole. Marshalling the whole of it with sorted keys would write every
// virtual host in proto.Marshal's field order.
func marshalRouteConfiguration(rc *routev3.RouteConfiguration) ([]byte, error) {
	head, tail, err := RouteConfigurationEnds(rc)
	if err != nil {
		return nil, err
	}
	b := head
	for _, vh := range rc.VirtualHosts {
		vb, err := Marshal(vh)
		if err != nil {
			return nil, err
		}
		b = AppendVirtualHost(b, vb)
	}
	return append(b, tail...), nil
}

// RouteConfigurationEnds marshals what of a route configuration comes before its
// virtual hosts (its name) and after them (every other field). rc is changed while
// it runs, and restored.
func RouteConfigurationEnds(rc *routev3.RouteConfiguration) (head, tail []byte, err error) {
	if head, err = Marshal(&routev3.RouteConfiguration{Name: rc.Name}); err != nil {
		return nil, nil, err
	}
	name, vhs := rc.Name, rc.VirtualHosts
	rc.Name, rc.VirtualHosts = "", nil
	tail, err = Marshal(rc)
	rc.Name, rc.VirtualHosts = name, vhs
	return head, tail, err
}

// AppendVirtualHost appends a marshalled virtual host to a route configuration's
// bytes, as its field virtual_hosts.
func AppendVirtualHost(b, vhost []byte) []byte {
	b = protowire.AppendTag(b, routeConfigVirtualHostsField, protowire.BytesType)
	return protowire.AppendBytes(b, vhost)
}

// routeConfigVirtualHostsField is RouteConfiguration's field number of virtual_hosts.
const routeConfigVirtualHostsField = 2

func routesUnordered(rc *routev3.RouteConfiguration) bool {
	for _, vh := range rc.GetVirtualHosts() {
		if virtualHostUnordered(vh) {
			return true
		}
	}
	return false
}

func virtualHostUnordered(vh *routev3.VirtualHost) bool {
	if len(vh.TypedPerFilterConfig) > 1 {
		return true
	}
	for _, r := range vh.Routes {
		if len(r.TypedPerFilterConfig) > 1 {
			return true
		}
		for _, c := range r.GetRoute().GetWeightedClusters().GetClusters() {
			if len(c.TypedPerFilterConfig) > 1 {
				return true
			}
		}
	}
	return false
}

// Verify fails when m, or a message packed in one of its Anys, holds a map of two or
// more entries that Marshal does not put in a fixed order, and so could marshal to
// other bytes each time. Tests run it on every generated resource; it is too slow to
// run on each marshal.
func Verify(m proto.Message) error {
	name := string(m.ProtoReflect().Descriptor().Name())
	var found scan
	found.message(m.ProtoReflect(), name)
	switch {
	case found.unseen != "":
		return fmt.Errorf("%s holds several entries, in an order generated marshalling does not fix: order them in protomarshal", found.unseen)
	case found.seen != "" && !holdsUnorderedMap(m) && !sortedHere(m):
		return fmt.Errorf("%s holds several entries, and protomarshal does not look for them in a %s: add it to holdsUnorderedMap", found.seen, name)
	}
	for _, a := range found.anys {
		inner, err := a.UnmarshalNew()
		if err != nil {
			return fmt.Errorf("unpacking %s to verify it: %w", a.GetTypeUrl(), err)
		}
		if err := Verify(inner); err != nil {
			return err
		}
	}
	return nil
}

// sortedHere reports whether Marshal writes m's maps in key order itself (rbac.go).
func sortedHere(m proto.Message) bool {
	_, sorted, _ := marshalSorted(m)
	return sorted
}

// orderedMaps are the map fields Marshal orders, where holdsUnorderedMap finds them.
var orderedMaps = map[protoreflect.FullName]bool{
	"envoy.config.rbac.v3.RBAC.policies":                                          true,
	"envoy.config.route.v3.Route.typed_per_filter_config":                         true,
	"envoy.config.route.v3.VirtualHost.typed_per_filter_config":                   true,
	"envoy.config.route.v3.WeightedCluster.ClusterWeight.typed_per_filter_config": true,
}

// scan is what Verify finds in a message, at any depth short of its Anys' values: the
// path of a map of two or more entries that Marshal does not order (unseen), of one it
// orders (seen), and the Anys, verified on their own.
type scan struct {
	unseen, seen string
	anys         []*anypb.Any
}

func (s *scan) message(m protoreflect.Message, path string) {
	if a, ok := m.Interface().(*anypb.Any); ok {
		s.anys = append(s.anys, a)
		return
	}
	m.Range(func(f protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		at := path + "." + string(f.Name())
		switch {
		case f.IsMap():
			if v.Map().Len() > 1 && orderedMaps[f.FullName()] {
				s.seen = cmp.Or(s.seen, at)
			} else if v.Map().Len() > 1 {
				s.unseen = cmp.Or(s.unseen, at)
			}
			if f.MapValue().Message() != nil {
				v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
					s.message(mv.Message(), at+"["+k.String()+"]")
					return true
				})
			}
		case f.IsList() && f.Message() != nil:
			for i := range v.List().Len() {
				s.message(v.List().Get(i).Message(), fmt.Sprintf("%s[%d]", at, i))
			}
		case f.Message() != nil:
			s.message(v.Message(), at)
		}
		return true
	})
}
