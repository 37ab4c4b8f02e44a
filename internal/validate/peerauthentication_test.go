package validate

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	securityv1 "github.com/meshd-io/meshd/api/security/v1"
)

func TestPeerAuthenticationPorts(t *testing.T) {
	run(t, []validationCase{
		{name: "port range edges", spec: `
selector: {matchLabels: {app: db}}
mtls: {mode: STRICT}
portLevelMtls: {"1": {mode: DISABLE}, "65535": {mode: PERMISSIVE}, "8080": {}}`},
		{name: "ports out of range", spec: `
selector: {matchLabels: {app: db}}
portLevelMtls: {"65536": {mode: STRICT}, "-1": {mode: STRICT}, "80": {mode: strict}}`,
			want: []string{
				`spec.portLevelMtls[-1]: Invalid value: "-1": port must be a number in 1-65535`,
				`spec.portLevelMtls[65536]: Invalid value: "65536"`,
				`spec.portLevelMtls[80].mode: Unsupported value: "strict"`,
			}},
		{name: "selector without labels", spec: `
selector: {}
portLevelMtls: {"80": {mode: STRICT}}`,
			want: []string{"spec.portLevelMtls: Forbidden: mesh/namespace peer authentication cannot have port level mTLS"}},
		{name: "empty port level map", spec: `
selector: {matchLabels: {app: db}}
portLevelMtls: {}`,
			want: []string{"spec.portLevelMtls: Required value: port level mTLS, if defined, must have at least one element"}},
	}, func(s *securityv1.PeerAuthenticationSpec) field.ErrorList { return PeerAuthentication(s) })
}
