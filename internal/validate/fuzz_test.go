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
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var vs networkingv1.VirtualServiceSpec
		if json.Unmarshal(raw, &vs) == nil {
			VirtualService(&vs)
		}
		var dr networkingv1.DestinationRuleSpec
		if json.Unmarshal(raw, &dr) == nil {
			DestinationRule(&dr)
		}
		var ap securityv1.AuthorizationPolicySpec
		if json.Unmarshal(raw, &ap) == nil {
			AuthorizationPolicy(&ap)
		}
		var pa securityv1.PeerAuthenticationSpec
		if json.Unmarshal(raw, &pa) == nil {
			PeerAuthentication(&pa)
		}
		var mesh meshv1alpha1.MeshSpec
		if json.Unmarshal(raw, &mesh) == nil {
			Mesh("default", &mesh)
		}
	})
}
