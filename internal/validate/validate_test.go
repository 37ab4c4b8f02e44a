package validate

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	meshv1alpha1 "github.com/meshd-io/meshd/api/meshd/v1alpha1"
	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
	securityv1 "github.com/meshd-io/meshd/api/security/v1"
)

// validationCase is a spec in YAML and the substrings each expected error must
// contain, in order; no substrings means the spec is valid.
type validationCase struct {
	name string
	spec string
	want []string
}

func run[T any](t *testing.T, cases []validationCase, validate func(*T) field.ErrorList) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var spec T
			if err := yaml.UnmarshalStrict([]byte(tc.spec), &spec); err != nil {
				t.Fatalf("bad test spec: %v", err)
			}
			errs := validate(&spec)
			if len(errs) != len(tc.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(tc.want), errs.ToAggregate())
			}
			for i, e := range errs {
				if !strings.Contains(e.Error(), tc.want[i]) {
					t.Errorf("error %d = %q, want it to contain %q", i, e.Error(), tc.want[i])
				}
			}
		})
	}
}

func TestVirtualService(t *testing.T) {
	run(t, []validationCase{
		{name: "bookinfo reviews", spec: `
hosts: [reviews]
http:
- match: [{headers: {end-user: {exact: jason}}}]
  route: [{destination: {host: reviews, subset: v2}}]
- route:
  - {destination: {host: reviews, subset: v1}, weight: 75}
  - {destination: {host: reviews, subset: v3}, weight: 25}`},
		{name: "gateway may use * and IPs", spec: `
hosts: ["*.example.com", 10.0.0.1]
gateways: [istio-system/ingress]
http: [{route: [{destination: {host: web.default.svc.cluster.local}}]}]`},
		{name: "wildcard on mesh", spec: `
hosts: ["*"]
http: [{route: [{destination: {host: web}}]}]`,
			want: []string{"spec.hosts[0]: Invalid value: \"*\": wildcard host * is not allowed"}},
		{name: "mesh listed explicitly still forbids *", spec: `
hosts: ["*"]
gateways: [mesh, istio-system/gw]
http: [{route: [{destination: {host: web}}]}]`,
			want: []string{"spec.hosts[0]"}},
		{name: "bad host labels", spec: `
hosts: [bad_host, "a.*.com", "foo.123"]
http: [{route: [{destination: {host: web}}]}]`,
			want: []string{`spec.hosts[0]: Invalid value: "bad_host"`, `spec.hosts[1]`, `top level domain "123" cannot be all-numeric`}},
		{name: "overlapping hosts", spec: `
hosts: ["*.foo.com", bar.foo.com]
http: [{route: [{destination: {host: web}}]}]`,
			want: []string{"spec.hosts[1]: Duplicate value: \"bar.foo.com overlaps *.foo.com\""}},
		{name: "no routes", spec: `hosts: [web]`,
			want: []string{"spec.http: Required value: http, tcp or tls must be provided"}},
		{name: "weights", spec: `
hosts: [web]
http:
- route:
  - {destination: {host: web, subset: v1}, weight: 0}
  - {destination: {host: web, subset: v2}, weight: 0}
- route:
  - {destination: {host: web, subset: v1}, weight: -1}
tcp:
- route:
  - {destination: {host: db}, weight: 0}
  - {destination: {host: db, port: {number: 70000}}, weight: 0}`,
			want: []string{
				"spec.http[0].route: Invalid value: 0: total destination weight = 0",
				"spec.http[1].route[0].weight: Invalid value: -1",
				"spec.tcp[0].route[1].destination.port.number",
				"spec.tcp[0].route: Invalid value: 0: total destination weight = 0",
			}},
		{name: "route and redirect", spec: `
hosts: [web]
http:
- route: [{destination: {host: web}}]
  redirect: {uri: /new}
- match: [{uri: {prefix: /x}}]`,
			want: []string{"spec.http[0]: Invalid value: \"\": an HTTP rule may set only one of", "spec.http[1].route: Required value"}},
		{name: "bad destination", spec: `
hosts: [web]
http: [{route: [{destination: {host: "*", subset: "Not_A_Label"}}]}]`,
			want: []string{"spec.http[0].route[0].destination.host", "spec.http[0].route[0].destination.subset"}},
		{name: "delegate rules", spec: `
gateways: [istio-system/gw]
tcp: [{route: [{destination: {host: db}}]}]
http: [{delegate: {name: other}}]`,
			want: []string{"spec.gateways", "spec.tcp", "spec.http[0].delegate: Forbidden"}},
		{name: "tls needs sni", spec: `
hosts: [web]
tls:
- match: [{port: 443}]
  route: [{destination: {host: web}}]`,
			want: []string{"spec.tls[0].match[0].sniHosts: Required value"}},
		{name: "gateway names", spec: `
hosts: [web]
gateways: [ns/, "Bad_NS/gw", my-gateway]
http: [{route: [{destination: {host: web}}]}]`,
			want: []string{"spec.gateways[0]", "spec.gateways[1]: Invalid value: \"Bad_NS/gw\": invalid value for namespace"}},
	}, func(s *networkingv1.VirtualServiceSpec) field.ErrorList { return VirtualService(s) })
}

func TestDestinationRule(t *testing.T) {
	run(t, []validationCase{
		{name: "bookinfo reviews", spec: `
host: reviews
subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]`},
		{name: "missing host", spec: `subsets: [{name: v1}]`,
			want: []string{"spec.host: Required value"}},
		{name: "subset names", spec: `
host: "*.example.com"
subsets: [{name: v1}, {name: v1}, {name: ""}, {name: "v_2"}]`,
			want: []string{"spec.subsets[1].name: Duplicate value: \"v1\"", "spec.subsets[2].name: Required value", "spec.subsets[3].name: Invalid value"}},
		{name: "port level settings", spec: `
host: web
trafficPolicy:
  portLevelSettings:
  - {port: {number: 80}, tls: {mode: SIMPLE}}
  - {port: {number: 80}, tls: {mode: SIMPLE}}
  - {tls: {mode: SIMPLE}}
  - {port: {number: 70000}, tls: {mode: SIMPLE}}
  - {port: {number: 81}}`,
			want: []string{
				"spec.trafficPolicy.portLevelSettings[1].port.number: Duplicate value: 80",
				"spec.trafficPolicy.portLevelSettings[2].port: Required value",
				"spec.trafficPolicy.portLevelSettings[3].port.number: Invalid value: 70000",
				"spec.trafficPolicy.portLevelSettings[4]: Required value: a port traffic policy must set at least one of",
			}},
	}, func(s *networkingv1.DestinationRuleSpec) field.ErrorList { return DestinationRule(s) })
}

func TestPeerAuthentication(t *testing.T) {
	run(t, []validationCase{
		{name: "mesh strict", spec: `mtls: {mode: STRICT}`},
		{name: "unset inherits", spec: `{}`},
		{name: "port level with selector", spec: `
selector: {matchLabels: {app: web}}
portLevelMtls: {"8080": {mode: DISABLE}}`},
		{name: "selector labels", spec: `selector: {matchLabels: {app: "web*", "bad key!": x}}`,
			want: []string{"spec.selector.matchLabels[app]: Invalid value: \"web*\": wildcard not allowed in label value match", "spec.selector.matchLabels: Invalid value: \"bad key!\""}},
		{name: "bad mode", spec: `mtls: {mode: MUTUAL}`,
			want: []string{`spec.mtls.mode: Unsupported value: "MUTUAL": supported values: "UNSET", "DISABLE", "PERMISSIVE", "STRICT"`}},
		{name: "port level without selector", spec: `portLevelMtls: {"0": {mode: STRICT}, http: {mode: BAD}}`,
			want: []string{"spec.portLevelMtls: Forbidden", "spec.portLevelMtls[0]: Invalid value", "spec.portLevelMtls[http]: Invalid value", "spec.portLevelMtls[http].mode: Unsupported value"}},
	}, func(s *securityv1.PeerAuthenticationSpec) field.ErrorList { return PeerAuthentication(s) })
}

func TestAuthorizationPolicy(t *testing.T) {
	run(t, []validationCase{
		{name: "deny all", spec: `{}`},
		{name: "allow all", spec: `rules: [{}]`},
		{name: "docs example", spec: `
selector: {matchLabels: {app: httpbin}}
action: ALLOW
rules:
- from: [{source: {principals: [cluster.local/ns/default/sa/sleep]}}, {source: {namespaces: [dev]}}]
  to: [{operation: {methods: [GET], paths: ["/info*"], ports: ["8080"]}}]
  when:
  - {key: "request.auth.claims[iss]", values: ["https://accounts.google.com"]}
  - {key: "request.headers[x-token]", notValues: [admin]}
  - {key: source.ip, values: [10.0.0.0/8, 192.168.1.1]}`},
		{name: "custom needs provider", spec: `{action: CUSTOM, rules: [{}]}`,
			want: []string{"spec.provider.name: Required value"}},
		{name: "provider without custom", spec: `{action: DENY, provider: {name: x}, rules: [{}]}`,
			want: []string{"spec.provider: Forbidden"}},
		{name: "deny without rules", spec: `{action: DENY}`,
			want: []string{"spec.rules: Required value: DENY without rules is never triggered"}},
		{name: "bad action", spec: `{action: PERMIT}`,
			want: []string{`spec.action: Unsupported value: "PERMIT"`}},
		{name: "scope", spec: `
selector: {matchLabels: {app: a}}
targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: gw}]`,
			want: []string{"only one of selector, targetRef or targetRefs"}},
		{name: "rule contents", spec: `
rules:
- from: [{}, {source: {}}, {source: {serviceAccounts: [a/b], principals: [x], ipBlocks: [1.2.3.4/40]}}]
  to: [{operation: {ports: ["http"]}}]
  when: [{key: ""}, {key: request.bogus, values: [x]}, {key: destination.port, values: ["99999"]}, {key: "request.headers[x]"}]`,
			want: []string{
				"spec.rules[0].from[0].source: Required value",
				"spec.rules[0].from[1].source: Required value: source must set at least one field",
				"spec.rules[0].from[2].source.ipBlocks[0]",
				"spec.rules[0].from[2].source.serviceAccounts",
				"spec.rules[0].to[0].operation.ports[0]",
				"spec.rules[0].when[0].key: Required value",
				"spec.rules[0].when[1].key: Invalid value: \"request.bogus\"",
				"spec.rules[0].when[2].values[0]",
				"spec.rules[0].when[3].values: Required value",
			}},
	}, func(s *securityv1.AuthorizationPolicySpec) field.ErrorList { return AuthorizationPolicy(s) })
}

func TestMesh(t *testing.T) {
	run(t, []validationCase{
		{name: "defaults", spec: `{}`},
		{name: "cert-manager", spec: `{ca: {mode: CertManager, certManager: {issuerRef: {name: meshd-ca, kind: ClusterIssuer}}}}`},
		{name: "bad settings", spec: `{trustDomain: "bad_domain", rootNamespace: "Not-A-NS!", ca: {mode: CertManager}}`,
			want: []string{"spec.trustDomain", "spec.rootNamespace", "spec.ca.certManager.issuerRef.name: Required value"}},
	}, func(s *meshv1alpha1.MeshSpec) field.ErrorList { return Mesh(meshv1alpha1.MeshName, s) })
	if errs := Mesh("other", &meshv1alpha1.MeshSpec{}); len(errs) != 1 || !strings.Contains(errs[0].Error(), "metadata.name") {
		t.Errorf("a Mesh not named default: %v", errs)
	}
}

func TestHostsOverlap(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"a.com", "a.com", true}, {"a.com", "b.com", false}, {"*.a.com", "x.a.com", true},
		{"*.a.com", "*.com", true}, {"*", "anything", true}, {"*.a.com", "a.com", false},
		{"x.a.com", "*.b.com", false},
	} {
		if got := HostsOverlap(tc.a, tc.b); got != tc.want {
			t.Errorf("HostsOverlap(%q, %q) = %v", tc.a, tc.b, got)
		}
		if got := HostsOverlap(tc.b, tc.a); got != tc.want {
			t.Errorf("HostsOverlap(%q, %q) = %v", tc.b, tc.a, got)
		}
	}
}
