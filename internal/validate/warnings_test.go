package validate

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// warningCase is a spec in YAML and the substrings each expected warning must
// contain, in order; no substrings means no warnings.
type warningCase struct {
	name string
	spec string
	want []string
}

func runWarnings[T any](t *testing.T, cases []warningCase, warn func(*T) []string) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var spec T
			if err := yaml.UnmarshalStrict([]byte(tc.spec), &spec); err != nil {
				t.Fatalf("bad test spec: %v", err)
			}
			got := warn(&spec)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d warnings, want %d:\n%s", len(got), len(tc.want), strings.Join(got, "\n"))
			}
			for i, w := range got {
				if !strings.Contains(w, tc.want[i]) {
					t.Errorf("warning %d = %q, want it to contain %q", i, w, tc.want[i])
				}
			}
			// Same input, same list: the webhook's answer must not flap.
			if again := warn(&spec); strings.Join(again, "\n") != strings.Join(got, "\n") {
				t.Errorf("warnings are not deterministic:\n%v\n%v", got, again)
			}
		})
	}
}

func TestVirtualServiceWarnings(t *testing.T) {
	runWarnings(t, []warningCase{
		{name: "none", spec: vsRule(`  mirror: {host: shadow}
  mirrorPercentage: {value: 10}`)},
		{name: "deprecated fields", spec: `
hosts: [web]
gateways: [ingress.istio-system, istio-system/gw]
http:
- match: [{uri: {prefix: /a}, gateways: [gw.ns]}]
  route: [{destination: {host: web}}]
  mirror: {host: shadow}
  mirrorPercent: 10
  mirror_percent: 10
  fault: {delay: {fixedDelay: 1s, percent: 10}}
  corsPolicy: {allowOrigin: ["*"]}
- route: [{destination: {host: web}}]
  fault: {delay: {percentage: {value: 1}}, abort: {percentage: {value: 1}}}
tcp:
- match: [{sourceSubnet: 10.0.0.0/8}]
  route: [{destination: {host: db}}]`,
			want: []string{
				`spec.gateways[0]: legacy gateway name format "ingress.istio-system"; prefer <namespace>/<name>: "istio-system/ingress"`,
				`spec.http[0].match[0].gateways[0]: legacy gateway name format "gw.ns"`,
				"spec.http[0].fault.delay.percent: deprecated; use percentage",
				"spec.http[0].mirrorPercent: deprecated; use mirrorPercentage",
				"spec.http[0].mirror_percent: deprecated; use mirrorPercentage",
				"spec.http[0].corsPolicy.allowOrigin: deprecated; use allowOrigins",
				"spec.http[1].fault.delay: no fixedDelay is set, so no delay is injected",
				"spec.http[1].fault.abort: no httpStatus or grpcStatus is set, so nothing is aborted",
				"spec.tcp[0].match[0].sourceSubnet: deprecated",
			}},
		{name: "large body and IP SNI", spec: "hosts: [web]\ngateways: [ns/gw]\nhttp: [{directResponse: {status: 200, body: {string: " + strings.Repeat("a", largeDirectResponse+1) + "}}}]\n" +
			"tls: [{match: [{sniHosts: [10.0.0.1, web]}], route: [{destination: {host: web}}]}]",
			want: []string{
				"spec.http[0].directResponse.body: a 102401 byte body is sent to every proxy",
				"spec.tls[0].match[0].sniHosts[0]: an IP address as SNI goes against the SNI spec",
			}},
		{name: "unreachable rules", spec: `
hosts: [web]
http:
- match: [{uri: {prefix: /a}}, {name: first, uri: {prefix: /b}}]
  route: [{destination: {host: web}}]
- match: [{name: again, uri: {prefix: /b}}]
  route: [{destination: {host: web}}]
- route: [{destination: {host: web}}]
- match: [{uri: {prefix: /c}}]
  route: [{destination: {host: web}}]
tcp:
- route: [{destination: {host: db}}]
- match: [{port: 1}]
  route: [{destination: {host: db}}]`,
			want: []string{
				"spec.http[1].match[0]: never used: same as spec.http[0].match[1]",
				"spec.http[3]: never used: spec.http[2] before it has no match and takes all traffic",
				"spec.tcp[1]: never used: spec.tcp[0] before it has no match",
			}},
	}, VirtualServiceWarnings)
}

func TestDestinationRuleWarnings(t *testing.T) {
	runWarnings(t, []warningCase{
		{name: "none", spec: `{host: web, trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}, tls: {mode: SIMPLE, caCertificates: /ca.pem}}}`},
		{name: "deprecated and ignored fields", spec: `
host: web
workloadSelector: {}
trafficPolicy:
  loadBalancer:
    simple: LEAST_CONN
    warmupDurationSecs: 10s
    localityLbSetting: {failover: [{from: a, to: b}]}
  outlierDetection: {consecutiveErrors: 5}
  tls: {mode: ISTIO_MUTUAL, clientCertificate: /c.pem, credentialName: c}
  portLevelSettings:
  - port: {number: 80}
    loadBalancer: {consistentHash: {useSourceIp: true, minimumRingSize: 1024}}
    tls: {privateKey: /k.pem}
subsets:
- name: v1
  trafficPolicy: {loadBalancer: {localityLbSetting: {failoverPriority: [topology.kubernetes.io/region]}}}`,
			want: []string{
				"spec.workloadSelector: workload selector without labels applies to every workload in the namespace",
				"spec.trafficPolicy.loadBalancer.simple: LEAST_CONN is deprecated; use LEAST_REQUEST",
				"spec.trafficPolicy.loadBalancer.warmupDurationSecs: deprecated; use warmup.duration",
				"spec.trafficPolicy.outlierDetection.consecutiveErrors: deprecated",
				"spec.trafficPolicy.tls.clientCertificate: ignored with mode ISTIO_MUTUAL",
				"spec.trafficPolicy.tls.credentialName: ignored with mode ISTIO_MUTUAL",
				"spec.trafficPolicy.portLevelSettings[0].loadBalancer.consistentHash.minimumRingSize: deprecated; use consistentHash.ringHash.minimumRingSize",
				"spec.trafficPolicy.portLevelSettings[0].tls.privateKey: ignored with mode DISABLE",
				"spec.subsets[0].trafficPolicy.loadBalancer.localityLbSetting: failover only happens when outlier detection ejects unhealthy endpoints",
			}},
	}, DestinationRuleWarnings)
}

func TestAuthorizationPolicyWarnings(t *testing.T) {
	runWarnings(t, []warningCase{
		{name: "none", spec: `{action: DENY, rules: [{to: [{operation: {ports: ["8080"], paths: [/admin]}}]}]}`},
		{name: "http-only deny rules", spec: `
action: DENY
selector: {}
targetRef: {kind: Gateway, group: gateway.networking.k8s.io, name: gw}
rules:
- to: [{operation: {paths: [/admin]}}]
- from: [{source: {requestPrincipals: ["*"]}}]
- from: [{source: {namespaces: [a]}}]
- from: [{source: {requestPrincipals: ["*"]}}]
  to: [{operation: {notPorts: ["80"]}}]
- when: [{key: "request.headers[x]", values: [a]}]`,
			want: []string{
				"spec.selector: workload selector without labels applies to every workload in the namespace",
				"spec.targetRef: deprecated; use targetRefs",
				"spec.rules[0]: this DENY rule uses only HTTP attributes, so it denies all traffic to TCP ports",
				"spec.rules[1]: this DENY rule uses only HTTP attributes",
			}},
		{name: "allow rules are not flagged", spec: `{rules: [{to: [{operation: {paths: [/admin]}}]}]}`},
	}, AuthorizationPolicyWarnings)
}

func TestPeerAuthenticationWarnings(t *testing.T) {
	runWarnings(t, []warningCase{
		{name: "none", spec: `{selector: {matchLabels: {app: a}}, mtls: {mode: STRICT}}`},
		{name: "selector without labels", spec: `{selector: {}, mtls: {mode: STRICT}}`,
			want: []string{"spec.selector: workload selector without labels applies to the whole namespace (or mesh)"}},
	}, PeerAuthenticationWarnings)
}
