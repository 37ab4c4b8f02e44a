package integration

// networkingSchemaCases are the VirtualService and DestinationRule objects the CRD
// schema must refuse, as Istio's CRD does.
var networkingSchemaCases = []struct {
	name     string
	manifest string
	want     []string
}{
	{
		name: "vs-stringmatch-two-kinds",
		manifest: `
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: two-kinds}
spec:
  hosts: [web]
  http:
  - match: [{uri: {exact: /a, prefix: /b}}]
    route: [{destination: {host: web}}]
`,
		want: []string{"spec.http[0].match[0].uri", "only one of exact, prefix or regex may be set"},
	},
	{
		name: "vs-timeout-too-small",
		manifest: `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: timeout}
spec:
  hosts: [web]
  http:
  - timeout: 0.5ms
    route: [{destination: {host: web}}]
`,
		want: []string{"spec.http[0].timeout", "must be a valid duration greater than 1ms"},
	},
	{
		name: "vs-redirect-port-and-derive",
		manifest: `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: redirect}
spec:
  hosts: [web]
  http:
  - redirect: {port: 8080, derivePort: FROM_REQUEST_PORT}
`,
		want: []string{"spec.http[0].redirect", "only one of"},
	},
	{
		name: "vs-missing-destination-host",
		manifest: `
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: nohost}
spec:
  hosts: [web]
  http:
  - route: [{destination: {subset: v1}}]
`,
		want: []string{"spec.http[0].route[0].destination.host", "Required value"},
	},
	{
		name: "dr-simple-and-consistenthash",
		manifest: `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: lb}
spec:
  host: web
  trafficPolicy:
    loadBalancer:
      simple: ROUND_ROBIN
      consistentHash: {httpHeaderName: x-user}
`,
		want: []string{"spec.trafficPolicy.loadBalancer", "only one of"},
	},
	{
		name: "dr-bad-tls-mode",
		manifest: `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: tls}
spec:
  host: web
  trafficPolicy:
    tls: {mode: STRICT}
`,
		want: []string{"spec.trafficPolicy.tls.mode", "STRICT"},
	},
	{
		name: "dr-two-hash-keys",
		manifest: `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: hash}
spec:
  host: web
  subsets:
  - name: v1
    trafficPolicy:
      loadBalancer:
        consistentHash: {httpHeaderName: x-user, useSourceIp: true}
`,
		want: []string{"spec.subsets[0].trafficPolicy.loadBalancer.consistentHash", "only one of"},
	},
	{
		name: "dr-missing-host",
		manifest: `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: nohost}
spec:
  subsets: [{name: v1}]
`,
		want: []string{"spec.host", "Required value"},
	},
}
