package bench

import (
	"fmt"
	"os"
	"testing"

	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/xds/gatewaygen"
	"github.com/meshd-io/meshd/internal/xds/render"
	"github.com/meshd-io/meshd/internal/xds/sidecargen"
)

func TestZZGen(t *testing.T) {
	perKB, _ := floorRate()
	fmt.Printf("floor %.2f\n", perKB/1000)
	only := os.Getenv("ZZ")
	for _, s := range []struct {
		name  string
		yaml  string
		scope render.Scope
		gen   func(*ir.IR, render.Scope) *render.Resources
	}{
		{"vs", virtualServices(100), render.Scope{Namespace: benchNS}, sidecargen.Generate},
		{"svc", services(100), render.Scope{Namespace: benchNS}, sidecargen.Generate},
		{"ap", authorizationPolicies(100), render.Scope{Namespace: benchNS}, sidecargen.Generate},
		{"gw", gatewayHosts(1000), render.Scope{Namespace: benchNS, Gateway: "web"}, gatewaygen.Generate},
		{"path", pathRoutes(1000), render.Scope{Namespace: benchNS}, sidecargen.Generate},
	} {
		if only != "" && only != s.name {
			continue
		}
		for _, r := range fullGeneration(t, s.name, s.yaml, s.scope, s.gen) {
			fmt.Println(r.metric, "|", r.value)
		}
	}
}
