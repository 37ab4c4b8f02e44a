package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshd-io/meshd/internal/model"
	"github.com/meshd-io/meshd/internal/testutil"
)

// The shapes of istiod's pilot benchmarks, generated at size n: each is the YAML of a
// mesh and the proxy whose full config is measured.

const benchNS = "bench"

func service(name string) string {
	return fmt.Sprintf(`
apiVersion: v1
kind: Service
metadata: {name: %s, namespace: %s}
spec:
  clusterIP: %s
  ports: [{name: http, port: 8080}]
`, name, benchNS, serviceIP(name))
}

// serviceIP is a stable cluster IP for a service name.
func serviceIP(name string) string {
	return fmt.Sprintf("10.96.%d.%d", len(name)%200, hash(name)%250+1)
}

func hash(s string) int {
	h := 0
	for _, c := range s {
		h = h*31 + int(c)
	}
	if h < 0 {
		h = -h
	}
	return h
}

// virtualServices: n services, each with a VirtualService of a prefix match with a
// rewrite, a regex match, and a default route (istiod's "100 VirtualServices").
func virtualServices(n int) string {
	return perService(n, `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  hosts: [%[1]s]
  http:
  - match: [{uri: {prefix: /api/%[3]d/}}]
    rewrite: {uri: /}
    route: [{destination: {host: %[1]s}}]
  - match: [{uri: {regex: "^/v[0-9]+/items/%[3]d/.*"}}]
    route: [{destination: {host: %[1]s}}]
    timeout: 5s
  - route: [{destination: {host: %[1]s}}]
---`)
}

// services: n HTTP services, each with a DestinationRule (istiod's "100 services").
func services(n int) string {
	return perService(n, `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  host: %[1]s
  trafficPolicy: {connectionPool: {http: {http2MaxRequests: 1000}}, outlierDetection: {consecutive5xxErrors: 5}}
---`)
}

// perService is n services svc-<i>, each followed by doc, a format with the service's
// name (%[1]s), namespace (%[2]s) and index (%[3]d).
func perService(n int, doc string) string {
	var b strings.Builder
	for i := range n {
		name := fmt.Sprintf("svc-%d", i)
		b.WriteString(service(name) + "---")
		fmt.Fprintf(&b, doc, name, benchNS, i)
	}
	return b.String()
}

// authorizationPolicies: n namespace-wide policies with sources and operations on the
// proxy's workload (istiod's "100 AuthorizationPolicies").
func authorizationPolicies(n int) string {
	var b strings.Builder
	b.WriteString(service("app") + "---")
	for i := range n {
		fmt.Fprintf(&b, `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: policy-%[1]d, namespace: %[2]s}
spec:
  rules:
  - from: [{source: {principals: [cluster.local/ns/client-%[1]d/sa/app], namespaces: [client-%[1]d]}}]
    to: [{operation: {methods: [GET, POST], paths: ["/api/%[1]d/*", /health]}}]
    when: [{key: "request.headers[x-tenant]", values: [tenant-%[1]d]}]
---`, i, benchNS)
	}
	return b.String()
}

// gatewayHosts: one Gateway with n HTTPRoutes, each on a host of its own (istiod's
// "1,000 gateways routed by host", on one Gateway as Gateway API writes it).
func gatewayHosts(n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: istio}
spec: {controllerName: istio.io/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: %[1]s}
spec:
  gatewayClassName: istio
  listeners: [{name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}]
---
apiVersion: v1
kind: Service
metadata: {name: web-istio, namespace: %[1]s}
spec:
  clusterIP: 10.96.0.1
  ports: [{name: http-80, port: 80}]
---`, benchNS)
	for i := range 10 {
		b.WriteString(service(fmt.Sprintf("backend-%d", i)) + "---")
	}
	for i := range n {
		fmt.Fprintf(&b, `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: host-%[1]d, namespace: %[2]s}
spec:
  parentRefs: [{name: web}]
  hostnames: [host-%[1]d.example.com]
  rules: [{backendRefs: [{name: backend-%[3]d, port: 8080}]}]
---`, i, benchNS, i%10)
	}
	return b.String()
}

// pathRoutes: one host with n path routes (istiod's "1,000 path routes on one host").
func pathRoutes(n int) string {
	var b strings.Builder
	b.WriteString(service("app") + "---")
	fmt.Fprintf(&b, `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: app, namespace: %s}
spec:
  hosts: [app]
  http:`, benchNS)
	for i := range n {
		fmt.Fprintf(&b, `
  - match: [{uri: {prefix: /path-%d/}}]
    route: [{destination: {host: app}}]`, i)
	}
	return b.String()
}

// load decodes a generated mesh as the golden tests do.
func load(tb testing.TB, yaml string) (*model.Snapshot, model.EndpointIndex) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "mesh.yaml")
	if err := os.WriteFile(path, []byte(strings.TrimSuffix(yaml, "---")), 0o600); err != nil {
		tb.Fatal(err)
	}
	return testutil.LoadSnapshot(tb, path)
}
