package bench

import (
	"testing"

	"github.com/meshd-io/meshd/internal/protomarshal"
	"github.com/meshd-io/meshd/internal/translate"
	"github.com/meshd-io/meshd/internal/xds/gatewaygen"
	"github.com/meshd-io/meshd/internal/xds/render"
	"github.com/meshd-io/meshd/internal/xds/sidecargen"
)

func BenchmarkZZAP(b *testing.B) {
	snap, eps := load(b, authorizationPolicies(100))
	in, _ := translate.Translate(snap)
	scope := render.Scope{Namespace: benchNS}
	b.ReportAllocs()
	for b.Loop() {
		for _, m := range sidecargen.Generate(in, scope).Messages(eps, render.Envoy, scope) {
			_, _ = protomarshal.Marshal(m)
		}
	}
}

func BenchmarkZZSvc(b *testing.B) {
	snap, eps := load(b, services(100))
	in, _ := translate.Translate(snap)
	scope := render.Scope{Namespace: benchNS}
	b.ReportAllocs()
	for b.Loop() {
		for _, m := range sidecargen.Generate(in, scope).Messages(eps, render.Envoy, scope) {
			_, _ = protomarshal.Marshal(m)
		}
	}
}

func BenchmarkZZVS(b *testing.B) {
	snap, eps := load(b, virtualServices(100))
	in, _ := translate.Translate(snap)
	scope := render.Scope{Namespace: benchNS}
	b.ReportAllocs()
	for b.Loop() {
		for _, m := range sidecargen.Generate(in, scope).Messages(eps, render.Envoy, scope) {
			_, _ = protomarshal.Marshal(m)
		}
	}
}

func BenchmarkZZGW(b *testing.B) {
	snap, eps := load(b, gatewayHosts(1000))
	in, _ := translate.Translate(snap)
	scope := render.Scope{Namespace: benchNS, Gateway: "web"}
	b.ReportAllocs()
	for b.Loop() {
		for _, m := range gatewaygen.Generate(in, scope).Messages(eps, render.Envoy, scope) {
			_, _ = protomarshal.Marshal(m)
		}
	}
}
