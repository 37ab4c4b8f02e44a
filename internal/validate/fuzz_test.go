package validate

import (
	"encoding/json"
	"testing"

	meshv1alpha1 "github.com/meshd-io/meshd/api/meshd/v1alpha1"
	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
	securityv1 "github.com/meshd-io/meshd/api/security/v1"
)

// FuzzValidate feeds arbitrary JSON specs to every validator: whatever a user stores,
// validation must answer, never panic (a panic would stall the reconciler).
// `go test` runs the seeds; `go test -fuzz=FuzzValidate ./internal/validate` explores.
func FuzzValidate(f *testing.F) {
	for _, seed := range []string{
		`{}`, `null`, `{"hosts":[""],"http":[{}],"tls":[{"match":[{}]}],"tcp":[{"route":[{}]}]}`,
		`{"http":[{"route":[{"destination":{"host":"a","port":{}}}],"delegate":{}}]}`,
		`{"host":"a","subsets":[{}],"trafficPolicy":{"portLevelSettings":[{}]}}`,
		`{"rules":[{"from":[{}],"to":[{}],"when":[{}]}],"action":"CUSTOM","provider":{}}`,
		`{"portLevelMtls":{"":{}},"selector":{},"mtls":{}}`,
		`{"ca":{"mode":"CertManager","certManager":{}},"extensionProviders":[{},{}]}`,
		`{"hosts":["a"],"http":[{"match":[{"uri":{"regex":"("},"headers":{"":{}},"withoutHeaders":{"x":{"regex":"*"}}}],` +
			`"redirect":{"port":0,"derivePort":"X"},"directResponse":{"status":0,"body":{"string":"%","bytes":""}},` +
			`"rewrite":{"uriRegexRewrite":{}},"timeout":"","retries":{"retryOn":",","perTryTimeout":"x"},` +
			`"fault":{"delay":{"percentage":{}},"abort":{}},"mirror":{"host":""},"mirrors":[{"destination":{"host":""}}],` +
			`"corsPolicy":{"allowOrigins":[{}],"maxAge":"-1s"},"headers":{"request":{"set":{"%":"%("}}}}]}`,
		`{"hosts":["a"],"tls":[{"match":[{"sniHosts":["*"],"destinationSubnets":["/"]}]}],"tcp":[{"match":[{}]}],"exportTo":["~","*"]}`,
		`{"host":"a","trafficPolicy":{"loadBalancer":{"consistentHash":{"maglev":{},"ringHash":{},"httpCookie":{}},` +
			`"localityLbSetting":{"distribute":[{"to":{"":0}}],"failover":[{}],"failoverPriority":[""]},"warmup":{}},` +
			`"connectionPool":{"tcp":{"tcpKeepalive":{}},"http":{}},"outlierDetection":{},"tls":{"mode":"MUTUAL"},` +
			`"tunnel":{},"proxyProtocol":{},"retryBudget":{}}}`,
		`{"action":"DENY","rules":[{"from":[{"source":{"serviceAccounts":["/"]}}],"to":[{"operation":{"paths":["{**}/{*}"]}}],` +
			`"when":[{"key":"experimental.envoy.filters.[]"}]}],"targetRef":{},"targetRefs":[{}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var vs networkingv1.VirtualServiceSpec
		if json.Unmarshal(raw, &vs) == nil {
			VirtualService(&vs)
			VirtualServiceWarnings(&vs)
		}
		var dr networkingv1.DestinationRuleSpec
		if json.Unmarshal(raw, &dr) == nil {
			DestinationRule(&dr)
			DestinationRuleWarnings(&dr)
		}
		var ap securityv1.AuthorizationPolicySpec
		if json.Unmarshal(raw, &ap) == nil {
			AuthorizationPolicy(&ap)
			AuthorizationPolicyWarnings(&ap)
		}
		var pa securityv1.PeerAuthenticationSpec
		if json.Unmarshal(raw, &pa) == nil {
			PeerAuthentication(&pa)
			PeerAuthenticationWarnings(&pa)
		}
		var mesh meshv1alpha1.MeshSpec
		if json.Unmarshal(raw, &mesh) == nil {
			Mesh("default", &mesh)
		}
	})
}
