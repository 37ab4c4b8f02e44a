package protomarshal

import (
	"cmp"
	"fmt"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
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
	unseen, seen := unorderedMaps(m.ProtoReflect(), name)
	switch {
	case unseen != "":
		return fmt.Errorf("%s holds several entries, in an order generated marshalling does not fix: order them in protomarshal", unseen)
	case seen != "" && !holdsUnorderedMap(m) && !sortedHere(m):
		return fmt.Errorf("%s holds several entries, and protomarshal does not look for them in a %s: add it to holdsUnorderedMap", seen, name)
	}
	var err error
	walk(m.ProtoReflect(), func(a *anypb.Any) {
		if err != nil {
			return
		}
		inner, uerr := a.UnmarshalNew()
		if uerr != nil {
			err = fmt.Errorf("unpacking %s to verify it: %w", a.GetTypeUrl(), uerr)
			return
		}
		err = Verify(inner)
	})
	return err
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

// unorderedMaps gives the paths of the first map of two or more entries in m, short
// of the values of its Anys, that Marshal does not order (unseen), and of the first
// that it orders (seen).
func unorderedMaps(m protoreflect.Message, path string) (unseen, seen string) {
	m.Range(func(f protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		at := path + "." + string(f.Name())
		var u, s string
		switch {
		case f.IsMap():
			if v.Map().Len() > 1 {
				if orderedMaps[f.FullName()] {
					s = at
				} else {
					u = at
				}
			}
			if f.MapValue().Message() != nil {
				v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
					u2, s2 := unorderedMaps(mv.Message(), at+"["+k.String()+"]")
					u, s = cmp.Or(u, u2), cmp.Or(s, s2)
					return u == ""
				})
			}
		case f.IsList() && f.Message() != nil:
			for i := range v.List().Len() {
				u2, s2 := unorderedMaps(v.List().Get(i).Message(), fmt.Sprintf("%s[%d]", at, i))
				u, s = cmp.Or(u, u2), cmp.Or(s, s2)
				if u != "" {
					break
				}
			}
		case f.Message() != nil:
			u, s = unorderedMaps(v.Message(), at)
		}
		unseen, seen = cmp.Or(unseen, u), cmp.Or(seen, s)
		return unseen == ""
	})
	return unseen, seen
}

// walk calls fn on every Any in m, at any depth short of their values.
func walk(m protoreflect.Message, fn func(*anypb.Any)) {
	if a, ok := m.Interface().(*anypb.Any); ok {
		fn(a)
		return
	}
	m.Range(func(f protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case f.IsMap():
			if f.MapValue().Message() != nil {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					walk(mv.Message(), fn)
					return true
				})
			}
		case f.IsList() && f.Message() != nil:
			for i := range v.List().Len() {
				walk(v.List().Get(i).Message(), fn)
			}
		case f.Message() != nil:
			walk(v.Message(), fn)
		}
		return true
	})
}
