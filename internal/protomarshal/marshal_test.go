package protomarshal

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	rbacfilter "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"istio.io/istio/pkg/workloadapi"
)

func mustAny(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := Any(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func rbac(n int) *rbacv3.RBAC {
	out := &rbacv3.RBAC{Policies: map[string]*rbacv3.Policy{}}
	for i := range n {
		out.Policies[fmt.Sprintf("ns[p%d]", i)] = &rbacv3.Policy{
			Permissions: []*rbacv3.Permission{{Rule: &rbacv3.Permission_Any{Any: true}}},
			Principals:  []*rbacv3.Principal{{Identifier: &rbacv3.Principal_Any{Any: true}}},
		}
	}
	return out
}

func routeConfig(perFilter map[string]*anypb.Any) *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{Name: "80", VirtualHosts: []*routev3.VirtualHost{{
		Name: "a.ns.svc.cluster.local:80", Domains: []string{"a", "a.ns"},
		Routes: []*routev3.Route{{
			Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
			Action: &routev3.Route_Route{Route: &routev3.RouteAction{
				ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "outbound|80||a.ns.svc.cluster.local"},
			}},
			TypedPerFilterConfig: perFilter,
		}},
	}}}
}

// TestMarshalIsDeterministic: equal messages marshal to the same bytes, maps of many
// entries at any depth included, and the bytes decode to the message. (Generated
// marshalling writes a oneof in its field number's place, where proto.Marshal writes
// oneofs last, so the two paths' bytes differ; each is stable.)
func TestMarshalIsDeterministic(t *testing.T) {
	twoFilters := func(t *testing.T) map[string]*anypb.Any {
		return map[string]*anypb.Any{
			"envoy.filters.http.rbac":  mustAny(t, &rbacfilter.RBACPerRoute{}),
			"envoy.filters.http.fault": mustAny(t, &structpb.Struct{}),
			"envoy.filters.http.cors":  mustAny(t, &structpb.Struct{}),
		}
	}
	for name, m := range map[string]func(t *testing.T) proto.Message{
		"no maps": func(*testing.T) proto.Message { return routeConfig(nil) },
		"one per-filter config": func(t *testing.T) proto.Message {
			return routeConfig(map[string]*anypb.Any{"rbac": mustAny(t, rbac(1))})
		},
		"per-filter configs on a route": func(t *testing.T) proto.Message { return routeConfig(twoFilters(t)) },
		"per-filter configs on a weighted cluster": func(t *testing.T) proto.Message {
			rc := routeConfig(nil)
			rc.VirtualHosts[0].Routes[0].GetRoute().ClusterSpecifier = &routev3.RouteAction_WeightedClusters{WeightedClusters: &routev3.WeightedCluster{
				Clusters: []*routev3.WeightedCluster_ClusterWeight{{Name: "a", TypedPerFilterConfig: twoFilters(t)}},
			}}
			return rc
		},
		"per-filter configs in a connection manager's own routes": func(t *testing.T) proto.Message {
			return &hcmv3.HttpConnectionManager{RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: routeConfig(twoFilters(t))}}
		},
		"RBAC policies":        func(*testing.T) proto.Message { return rbac(40) },
		"RBAC filter policies": func(*testing.T) proto.Message { return &rbacfilter.RBAC{Rules: rbac(40), ShadowRules: rbac(3)} },
		"RBAC policies packed in an Any": func(t *testing.T) proto.Message {
			return routeConfig(map[string]*anypb.Any{"rbac": mustAny(t, rbac(40))})
		},
		"one struct field under one key": func(*testing.T) proto.Message { return endpoints(map[string]string{"tlsMode": "istio"}) },
		// ztunnel's workload API has generated code too; a pod two Services select
		// lists both.
		"a ztunnel workload in two services": func(*testing.T) proto.Message {
			return &workloadapi.Address{Type: &workloadapi.Address_Workload{Workload: &workloadapi.Workload{Uid: "pod", Services: map[string]*workloadapi.PortList{
				"ns/a.ns.svc.cluster.local": {Ports: []*workloadapi.Port{{ServicePort: 80, TargetPort: 8080}}},
				"ns/b.ns.svc.cluster.local": {Ports: []*workloadapi.Port{{ServicePort: 81, TargetPort: 8081}}},
				"ns/c.ns.svc.cluster.local": {},
			}}}}
		},
	} {
		t.Run(name, func(t *testing.T) {
			first, err := Marshal(m(t))
			if err != nil {
				t.Fatal(err)
			}
			// Each message is built anew: Go randomises iteration per map.
			for range 20 {
				msg := m(t)
				got, err := Marshal(msg)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, first) {
					t.Fatalf("the same message marshalled to other bytes (generated marshalling: %v)", Generated(msg))
				}
				back := msg.ProtoReflect().Type().New().Interface()
				if err := proto.Unmarshal(got, back); err != nil || !proto.Equal(back, msg) {
					t.Fatalf("the bytes do not decode to the message: %v", err)
				}
			}
		})
	}
}

func endpoints(fields map[string]string) *endpointv3.ClusterLoadAssignment {
	s := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	for k, v := range fields {
		s.Fields[k] = structpb.NewStringValue(v)
	}
	return &endpointv3.ClusterLoadAssignment{ClusterName: "c", Endpoints: []*endpointv3.LocalityLbEndpoints{{
		LbEndpoints: []*endpointv3.LbEndpoint{{Metadata: &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"envoy.transport_socket_match": s}}}},
	}}}
}

// TestVerify: Verify finds a map of several entries that Marshal would not see, at any
// depth and inside Anys, and passes the maps Marshal sees.
func TestVerify(t *testing.T) {
	twoStructFields := &structpb.Struct{Fields: map[string]*structpb.Value{"a": structpb.NewBoolValue(true), "b": structpb.NewBoolValue(false)}}
	for _, c := range []struct {
		name   string
		m      proto.Message
		unseen string
	}{
		{"no maps", routeConfig(nil), ""},
		{"one per-filter config", routeConfig(map[string]*anypb.Any{"a": mustAny(t, &structpb.Struct{})}), ""},
		{"per-filter configs", routeConfig(map[string]*anypb.Any{"a": mustAny(t, &structpb.Struct{}), "b": mustAny(t, &structpb.Struct{})}), ""},
		{"RBAC policies", rbac(3), ""},
		{"a one-field struct in a one-entry map", endpoints(map[string]string{"a": "1"}), ""},
		{"a two-field struct in a one-entry map", endpoints(map[string]string{"a": "1", "b": "2"}),
			"ClusterLoadAssignment.endpoints[0].lb_endpoints[0].metadata.filter_metadata[envoy.transport_socket_match].fields"},
		{"a two-field struct packed in a per-filter config", routeConfig(map[string]*anypb.Any{"a": mustAny(t, twoStructFields)}), "Struct.fields"},
	} {
		err := Verify(c.m)
		switch {
		case c.unseen == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.unseen != "" && (err == nil || !strings.HasPrefix(err.Error(), c.unseen+" ")):
			t.Errorf("%s: Verify = %v, want it to name %s", c.name, err, c.unseen)
		}
	}
}
