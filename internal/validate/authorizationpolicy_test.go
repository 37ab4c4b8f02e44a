package validate

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	securityv1 "github.com/meshd-io/meshd/api/security/v1"
)

func runAP(t *testing.T, cases []validationCase) {
	t.Helper()
	run(t, cases, func(s *securityv1.AuthorizationPolicySpec) field.ErrorList { return AuthorizationPolicy(s) })
}

func TestAuthorizationPolicyScope(t *testing.T) {
	runAP(t, []validationCase{
		{name: "targetRefs", spec: `
targetRefs:
- {kind: Gateway, group: gateway.networking.k8s.io, name: ingress}
- {kind: GatewayClass, group: gateway.networking.k8s.io, name: istio-waypoint}
- {kind: Service, name: web}
- {kind: Service, group: core, name: web}
- {kind: ServiceEntry, group: networking.istio.io, name: ext}
rules: [{}]`},
		{name: "bad targetRefs", spec: `
targetRefs:
- {kind: Deployment, group: apps, name: web}
- {kind: Gateway, name: gw}
- {kind: Service, name: "", namespace: other}
rules: [{}]`,
			want: []string{
				`spec.targetRefs[0].kind: Invalid value: "apps/Deployment": targetRef must be to one of`,
				`spec.targetRefs[1].kind: Invalid value: "/Gateway"`,
				"spec.targetRefs[2].name: Required value",
				"spec.targetRefs[2].namespace: Forbidden: cross namespace referencing is not supported",
			}},
		{name: "targetRef", spec: `
targetRef: {kind: ServiceEntry, group: networking.istio.io, name: ""}
selector: {matchLabels: {app: a}}`,
			want: []string{"spec.targetRef.name: Required value", "spec: Invalid value: \"\": only one of selector, targetRef or targetRefs"}},
	})
}

func TestAuthorizationPolicyCustom(t *testing.T) {
	runAP(t, []validationCase{
		{name: "custom with ip and header conditions", spec: `
action: CUSTOM
provider: {name: ext-authz}
rules:
- from: [{source: {ipBlocks: [10.0.0.0/8]}}]
  to: [{operation: {paths: ["/admin*"]}}]
  when: [{key: "request.headers[x-user]", values: [admin]}]`},
		{name: "custom cannot match identities", spec: `
action: CUSTOM
provider: {name: ext-authz}
rules:
- from: [{source: {principals: [a], requestPrincipals: [b], notNamespaces: [c]}}, {source: {serviceAccounts: [sa]}}]
  when:
  - {key: source.namespace, values: [a]}
  - {key: "request.auth.claims[iss]", values: [a]}
  - {key: source.serviceAccount, values: [a]}`,
			want: []string{
				"spec.rules[0].from[0].source.principals: Forbidden: principals is not supported with the CUSTOM action",
				"spec.rules[0].from[0].source.requestPrincipals: Forbidden",
				"spec.rules[0].from[0].source.notNamespaces: Forbidden",
				"spec.rules[0].from[1].source.serviceAccounts: Forbidden",
				"spec.rules[0].when[0].key: Forbidden: source.namespace is not supported with the CUSTOM action",
				"spec.rules[0].when[1].key: Forbidden",
				"spec.rules[0].when[2].key: Forbidden",
			}},
	})
}

func TestAuthorizationPolicyRules(t *testing.T) {
	var many []string
	for i := 0; i <= maxServiceAccounts; i++ {
		many = append(many, "sa")
	}
	runAP(t, []validationCase{
		{name: "empty from and to lists", spec: `rules: [{from: [], to: []}]`,
			want: []string{
				"spec.rules[0].from: Required value: from must not be an empty list",
				"spec.rules[0].to: Required value: to must not be an empty list",
			}},
		{name: "empty values", spec: `
rules:
- from: [{source: {principals: [""], notPrincipals: [a, ""], requestPrincipals: [""], namespaces: [""], notRemoteIpBlocks: [""]}}]
  to: [{operation: {hosts: [""], notMethods: [""], ports: [""]}}]`,
			want: []string{
				`spec.rules[0].from[0].source.namespaces[0]: Invalid value: "": empty value not allowed`,
				`spec.rules[0].from[0].source.notPrincipals[1]`,
				`spec.rules[0].from[0].source.notRemoteIpBlocks[0]`,
				`spec.rules[0].from[0].source.principals[0]`,
				`spec.rules[0].from[0].source.requestPrincipals[0]`,
				`spec.rules[0].to[0].operation.hosts[0]: Invalid value: "": empty value not allowed`,
				`spec.rules[0].to[0].operation.notMethods[0]`,
				`spec.rules[0].to[0].operation.ports[0]`,
			}},
		{name: "service accounts", spec: `
rules:
- from: [{source: {serviceAccounts: [ns/sa, sa, "ns/sa/x", "*", "/sa", "ns/", ""], notServiceAccounts: [` + strings.Repeat("a", maxServiceAccountLength+1) + `]}}]`,
			want: []string{
				`spec.rules[0].from[0].source.notServiceAccounts[0]: Too long: may not be more than 320`,
				`spec.rules[0].from[0].source.serviceAccounts[2]: Invalid value: "ns/sa/x": expected serviceAccount or namespace/serviceAccount`,
				`spec.rules[0].from[0].source.serviceAccounts[3]: Invalid value: "*": wildcards are not allowed`,
				`spec.rules[0].from[0].source.serviceAccounts[4]: Invalid value: "/sa"`,
				`spec.rules[0].from[0].source.serviceAccounts[5]: Invalid value: "ns/"`,
				`spec.rules[0].from[0].source.serviceAccounts[6]: Invalid value: "": empty value not allowed`,
			}},
		{name: "too many service accounts", spec: `rules: [{from: [{source: {serviceAccounts: [` + strings.Join(many, ", ") + `]}}]}]`,
			want: []string{"spec.rules[0].from[0].source.serviceAccounts: Too many: 17: must have at most 16 items"}},
		{name: "not service accounts with principals", spec: `rules: [{from: [{source: {notServiceAccounts: [a], notPrincipals: [b]}}]}]`,
			want: []string{"spec.rules[0].from[0].source.serviceAccounts: Invalid value: null: cannot set serviceAccounts with namespaces or principals"}},
		{name: "paths and methods", spec: `
rules:
- to:
  - operation:
      paths: [/ok, "*", "*.css", "/api/*", /pkg.Service/Method, "/a/{*}/b", "/a/{**}", info, "", "/a/{**}/{*}", "/a/{x}", "/a/{*}/b c", "/a/b{"]
      notPaths: [api*]
      methods: [GET, "G*", "GET,POST", "GET POST"]`,
			want: []string{
				`spec.rules[0].to[0].operation.methods[2]: Invalid value: "GET,POST": not an HTTP method (one method per entry)`,
				`spec.rules[0].to[0].operation.methods[3]: Invalid value: "GET POST"`,
				`spec.rules[0].to[0].operation.notPaths[0]: Invalid value: "api*": a path must start with "/"`,
				`spec.rules[0].to[0].operation.paths[10]: Invalid value: "/a/{x}": invalid path template: only whole segments {*} and {**}`,
				`spec.rules[0].to[0].operation.paths[11]: Invalid value: "/a/{*}/b c": invalid path template: segment "b c" is not a valid literal`,
				`spec.rules[0].to[0].operation.paths[12]: Invalid value: "/a/b{"`,
				`spec.rules[0].to[0].operation.paths[7]: Invalid value: "info": a path must start with "/"`,
				`spec.rules[0].to[0].operation.paths[8]: Invalid value: "": empty value not allowed`,
				`spec.rules[0].to[0].operation.paths[9]: Invalid value: "/a/{**}/{*}": invalid path template: {**} must be the last operator`,
			}},
		{name: "ports", spec: `rules: [{to: [{operation: {ports: ["0", "65535", "+80", "-1", "65536", http], notPorts: ["8080"]}}]}]`,
			want: []string{
				`spec.rules[0].to[0].operation.ports[2]: Invalid value: "+80": must be a port number in 0-65535`,
				`spec.rules[0].to[0].operation.ports[3]`,
				`spec.rules[0].to[0].operation.ports[4]`,
				`spec.rules[0].to[0].operation.ports[5]`,
			}},
		{name: "conditions", spec: `
rules:
- when:
  - {key: "experimental.envoy.filters.network.mysql_proxy[db.table]", values: ["[update]"]}
  - {key: "request.experimental.inline.headers[x-a]", values: [a]}
  - {key: source.serviceAccount, values: [ns/sa], notValues: ["a/b/c"]}
  - {key: destination.namespace, values: [a]}
  - {key: "destination.labels[app]", values: [a]}
  - {key: destination.user, values: [a]}
  - {key: experimental.envoy.filters.x, values: [a]}
  - {key: "request.headers[]", values: [a]}
  - {key: "request.headers[x]", values: [""], notValues: [a, ""]}
  - {key: remote.ip, notValues: [10.0.0.0/40]}
  - {key: connection.sni, values: [a.example.com]}`,
			want: []string{
				`spec.rules[0].when[2].notValues[0]: Invalid value: "a/b/c"`,
				`spec.rules[0].when[3].key: Invalid value: "destination.namespace": attribute replaced by the policy's own namespace`,
				`spec.rules[0].when[4].key: Invalid value: "destination.labels[app]": attribute replaced by the workload selector`,
				`spec.rules[0].when[5].key: Invalid value: "destination.user": attribute only supported in Istio's v1alpha1 RBAC`,
				`spec.rules[0].when[6].key: Invalid value: "experimental.envoy.filters.x": unknown attribute`,
				`spec.rules[0].when[7].key: Invalid value: "request.headers[]": unknown attribute`,
				`spec.rules[0].when[8].values[0]: Invalid value: "": empty value not allowed`,
				`spec.rules[0].when[8].notValues[1]`,
				`spec.rules[0].when[9].notValues[0]: Invalid value: "10.0.0.0/40": must be an IP address or CIDR range`,
			}},
	})
}
