// Package xdsgolden runs golden tests of the per-proxy-class xDS generators.
package xdsgolden

import (
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/model"
	"github.com/meshd-io/meshd/internal/protomarshal"
	"github.com/meshd-io/meshd/internal/testutil"
	"github.com/meshd-io/meshd/internal/translate"
	"github.com/meshd-io/meshd/internal/xds/render"
	"github.com/meshd-io/meshd/internal/xds/ztunnelgen"
)

// Generator is a per-proxy-class xDS generator.
type Generator func(*ir.IR, render.Scope) *render.Resources

// Run runs the golden cases of a generator: testdata/<case>.in.yaml is translated
// and generated for a client in each namespace the input uses, and the resources
// (endpoints rendered in flavor f) are compared with <case>.out.yaml. Every resource
// must pass its ValidateAll().
func Run(t *testing.T, gen Generator, f render.Flavor) {
	testutil.GoldenCases(t, func(t *testing.T, in string) []byte {
		snap, eps := testutil.LoadSnapshot(t, in)
		out, _ := translate.Translate(snap)
		var doc strings.Builder
		for _, ns := range namespaces(snap) {
			doc.WriteString("# ===== client namespace " + ns + "\n")
			plain := writeResources(t, &doc, render.Scope{Namespace: ns}, gen, out, eps, f)
			// Clients whose labels satisfy a selector of the input, or that run in
			// one of the endpoints' localities: written only where their config
			// differs from a plain client's.
			var variants []render.Scope
			for _, sel := range out.ClientSelectors {
				variants = append(variants, render.Scope{Namespace: ns, Labels: sel})
			}
			for _, l := range localities(eps) {
				variants = append(variants, render.Scope{Namespace: ns, Locality: l})
			}
			for _, v := range variants {
				var other strings.Builder
				if writeResources(t, &other, v, gen, out, eps, f) != plain {
					header := "# ===== client namespace " + ns
					if len(v.Labels) > 0 {
						header += " labels " + ir.SelectorKey(v.Labels)
					} else {
						header += " locality " + v.Locality.String()
					}
					doc.WriteString(header + "\n")
					doc.WriteString(other.String())
				}
			}
		}
		return []byte(doc.String())
	})
}

// RunGateways runs the golden cases of the gateway generator: the config of each
// Gateway's proxies in testdata/<case>.in.yaml, compared with <case>.out.yaml.
func RunGateways(t *testing.T, gen Generator) {
	testutil.GoldenCases(t, func(t *testing.T, in string) []byte {
		snap, eps, workloads := testutil.LoadMesh(t, in)
		out, _ := translate.Translate(snap)
		var doc strings.Builder
		for _, gw := range out.Gateways {
			doc.WriteString("# ===== gateway " + gw.Namespace + "/" + gw.Name + "\n")
			f, scope := render.Envoy, render.Scope{Namespace: gw.Namespace, Gateway: gw.Name}
			if gw.Class == ir.ClassWaypoint {
				f = render.Waypoint // endpoints are reached through tunnels
				scope.Workloads = ztunnelgen.WaypointWorkloads(ztunnelgen.Input{IR: out, Workloads: workloads}, gw.Namespace, gw.Name)
			}
			writeResources(t, &doc, scope, gen, out, eps, f)
		}
		return []byte(doc.String())
	})
}

// validator is what protoc-gen-validate generates on every Envoy message.
type validator interface{ ValidateAll() error }

// writeResources writes every resource of one scope as YAML, validating each, and
// returns what it wrote.
func writeResources(t *testing.T, doc *strings.Builder, scope render.Scope, gen Generator, in *ir.IR, eps model.EndpointIndex, f render.Flavor) string {
	t.Helper()
	res := gen(in, scope)
	start := doc.Len()
	msgs := res.Messages(eps, f, scope)
	if err := render.VerifyShared(); err != nil {
		t.Error(err)
	}
	for _, m := range msgs {
		if err := m.(validator).ValidateAll(); err != nil {
			t.Errorf("%T fails validation: %v", m, err)
		}
		// What meshd serves (generated marshalling under the vtprotobuf tag) is the
		// same bytes each time, and decodes to the message the golden file shows.
		if err := protomarshal.Verify(m); err != nil {
			t.Error(err)
		}
		b, err := protomarshal.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		back := m.ProtoReflect().Type().New().Interface()
		if err := proto.Unmarshal(b, back); err != nil || !proto.Equal(back, m) {
			t.Errorf("%T does not survive marshalling: %v", m, err)
		}
		j, err := protojson.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		y, err := yaml.JSONToYAML(j)
		if err != nil {
			t.Fatal(err)
		}
		doc.WriteString("--- # " + string(m.ProtoReflect().Descriptor().Name()) + "\n")
		doc.Write(y)
	}
	return doc.String()[start:]
}

// namespaces lists, sorted, the namespaces of the input's objects.
func namespaces(snap *model.Snapshot) []string {
	set := map[string]bool{}
	for _, s := range snap.Services {
		set[s.Namespace] = true
	}
	for _, v := range snap.VirtualServices {
		set[v.Namespace] = true
	}
	for _, d := range snap.DestinationRules {
		set[d.Namespace] = true
	}
	for _, a := range snap.AuthorizationPolicies {
		set[a.Namespace] = true
	}
	for _, p := range snap.PeerAuthentications {
		set[p.Namespace] = true
	}
	for _, s := range snap.Sidecars {
		set[s.Namespace] = true
	}
	for _, r := range snap.GatewayAPI.HTTPRoutes {
		set[r.Namespace] = true
	}
	for _, r := range snap.GatewayAPI.GRPCRoutes {
		set[r.Namespace] = true
	}
	out := make([]string, 0, len(set))
	for ns := range set {
		out = append(out, ns)
	}
	sort.Strings(out)
	return out
}

// localities lists, sorted, the localities of the input's endpoints.
func localities(eps model.EndpointIndex) []model.Locality {
	set := map[string]model.Locality{}
	for _, list := range eps {
		for _, ep := range list {
			set[ep.Locality.String()] = ep.Locality
		}
	}
	var out []model.Locality
	for _, k := range slices.Sorted(maps.Keys(set)) {
		out = append(out, set[k])
	}
	return out
}
