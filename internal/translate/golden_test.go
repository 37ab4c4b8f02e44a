package translate

import (
	"sort"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/model"
	"github.com/meshd-io/meshd/internal/testutil"
)

// goldenOut is what a case's .out.yaml holds: the IR and each object's conditions.
type goldenOut struct {
	IR     *ir.IR                        `json:"ir"`
	Status map[string][]metav1.Condition `json:"status"`
	// GatewayAPI is the Gateway API status, for cases that have such objects.
	GatewayAPI *gatewayAPIGolden `json:"gatewayAPI,omitempty"`
}

// gatewayAPIGolden is GatewayAPIStatus with its route keys spelled out for YAML.
type gatewayAPIGolden struct {
	Classes  map[string]gatewayv1.GatewayClassStatus  `json:"classes,omitempty"`
	Gateways map[string]gatewayv1.GatewayStatus       `json:"gateways,omitempty"`
	Routes   map[string][]gatewayv1.RouteParentStatus `json:"routes,omitempty"`
}

// TestGolden translates testdata/<case>.in.yaml and compares with <case>.out.yaml.
func TestGolden(t *testing.T) {
	testutil.GoldenCases(t, func(t *testing.T, in string) []byte {
		snap, _ := testutil.LoadSnapshot(t, in)
		got := render(t, snap)
		// Translation is deterministic and leaves its input alone.
		if again := render(t, snap); string(again) != string(got) {
			t.Fatal("translating the same snapshot twice gives different output")
		}
		return got
	})
}

func render(t *testing.T, snap *model.Snapshot) []byte {
	t.Helper()
	out, report := Translate(snap)
	g := goldenOut{IR: out, Status: map[string][]metav1.Condition{}}
	refs := make([]ir.ConfigRef, 0, len(report.Objects))
	for ref := range report.Objects {
		refs = append(refs, ref)
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].String() < refs[j].String() })
	for _, ref := range refs {
		g.Status[ref.String()] = report.Objects[ref].Conditions()
	}
	if api := report.GatewayAPI; len(api.Classes)+len(api.Gateways)+len(api.Routes) > 0 {
		g.GatewayAPI = &gatewayAPIGolden{Classes: api.Classes, Gateways: api.Gateways, Routes: map[string][]gatewayv1.RouteParentStatus{}}
		for k, v := range api.Routes {
			g.GatewayAPI.Routes[k.String()] = v
		}
	}
	b, err := yaml.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
