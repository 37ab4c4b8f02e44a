// Package protomarshal marshals the resources meshd serves, deterministically and as
// fast as the build allows.
//
// Built with the vtprotobuf tag (the Makefile and the image set it, as istiod ships),
// go-control-plane's messages carry generated MarshalVTStrict methods that write fields
// in number order without reflection: three to four times faster than proto.Marshal
// for Envoy's route, cluster and listener configurations. The bytes are valid protobuf
// for the same message, though not always proto.Marshal's (it writes oneofs last).
//
// The generated code writes map entries in Go's map order, and meshd's versions are
// hashes of the bytes, so the same config must always give the same bytes. Maps of
// several entries are rare in what meshd generates: RBAC's policies are written here
// in key order (rbac.go), and a route with several per-filter configs makes its
// virtual host go through proto.Marshal with sorted keys, the rest of its route
// configuration still through generated code (maps.go). Verify, run by
// the generators' tests on everything they produce, fails when a map of several
// entries appears anywhere else. Messages other than Envoy's (ztunnel's workload API),
// and every message in a build without the tag, take proto.Marshal with sorted keys.
package protomarshal

import (
	"strings"
	"sync"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// vtStrict is what protoc-gen-go-vtproto generates under the vtprotobuf build tag.
type vtStrict interface {
	MarshalVTStrict() ([]byte, error)
}

var deterministic = proto.MarshalOptions{Deterministic: true}

// Marshal encodes m deterministically: the same message always gives the same bytes.
func Marshal(m proto.Message) ([]byte, error) {
	vt, ok := m.(vtStrict)
	if !ok || !envoyMessage(m) {
		return deterministic.Marshal(m)
	}
	if b, sorted, err := marshalSorted(m); sorted {
		return b, err
	}
	if rc, ok := m.(*routev3.RouteConfiguration); ok && routesUnordered(rc) {
		return marshalRouteConfiguration(rc)
	}
	if holdsUnorderedMap(m) {
		return deterministic.Marshal(m)
	}
	return vt.MarshalVTStrict()
}

// envoyMessage reports whether m is one of Envoy's, the messages whose maps this
// package knows (and Verify checks in every generator's output). Others with generated
// code, istio's workload API for ztunnel among them, hold maps of several entries
// (a workload's services) and are marshalled with sorted keys.
func envoyMessage(m proto.Message) bool {
	return strings.HasPrefix(string(m.ProtoReflect().Descriptor().FullName()), "envoy.")
}

// Generated reports whether m is marshalled by generated code in this build.
func Generated(m proto.Message) bool {
	_, ok := m.(vtStrict)
	return ok
}

// Any packs m: an Any's value is opaque to the outer marshal, so it has to be
// deterministic on its own.
func Any(m proto.Message) (*anypb.Any, error) {
	b, err := Marshal(m)
	if err != nil {
		return nil, err
	}
	return &anypb.Any{TypeUrl: TypeURL(m), Value: b}, nil
}

// typeURLs holds each message type's URL, made once: a string built per Any was a
// tenth of packing a small one.
var typeURLs sync.Map // protoreflect.FullName -> string

// TypeURL is the URL an Any of m carries.
func TypeURL(m proto.Message) string {
	name := m.ProtoReflect().Descriptor().FullName()
	if u, ok := typeURLs.Load(name); ok {
		return u.(string)
	}
	u := "type.googleapis.com/" + string(name)
	typeURLs.Store(name, u)
	return u
}
