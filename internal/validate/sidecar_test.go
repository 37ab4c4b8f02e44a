package validate

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
)

func sidecar(s *networkingv1.SidecarSpec) field.ErrorList { return Sidecar(s) }

// TestSidecarValid: the Sidecars of Istio's documentation, and the other forms Istio
// accepts.
func TestSidecarValid(t *testing.T) {
	run(t, []validationCase{
		{name: "namespace default", spec: `
egress: [{hosts: ["./*", "istio-system/*"]}]`},
		{name: "ratings with ingress and egress", spec: `
workloadSelector: {labels: {app: ratings}}
ingress:
- port: {number: 9080, protocol: HTTP, name: somename}
  defaultEndpoint: 127.0.0.1:8080
egress:
- port: {number: 9080, protocol: HTTP, name: egresshttp}
  hosts: ["prod-us1/*"]
- hosts: ["istio-system/*"]`},
		{name: "registry only", spec: `
outboundTrafficPolicy: {mode: REGISTRY_ONLY}
egress: [{hosts: ["./*", "istio-system/*"]}]`},
		{name: "egress proxy with allow any", spec: `
outboundTrafficPolicy:
  mode: ALLOW_ANY
  egressProxy: {host: foo.bar.svc.cluster.local, port: {number: 443}}
egress: [{hosts: ["./*", "istio-system/foo.bar.svc.cluster.local"]}]`},
		{name: "unix domain socket egress listener", spec: `
workloadSelector: {labels: {app: productpage}}
ingress:
- port: {number: 9080, protocol: HTTP, name: somename}
  defaultEndpoint: unix:///var/run/someuds.sock
egress:
- port: {number: 0, protocol: HTTP, name: egresshttp}
  bind: unix:///var/run/x.sock
  captureMode: NONE
  hosts: ["*/bookinfo.com"]
- port: {protocol: TCP}
  bind: unix://@abstract
  captureMode: DEFAULT
  hosts: ["*/*"]`},
		{name: "ingress TLS termination from files", spec: `
workloadSelector: {labels: {app: productpage}}
ingress:
- port: {number: 9080, protocol: HTTPS, name: somename}
  defaultEndpoint: 127.0.0.1:8080
  tls:
    mode: SIMPLE
    privateKey: /etc/istio/ingress-certs/tls.key
    serverCertificate: /etc/istio/ingress-certs/tls.crt
- port: {number: 9443, protocol: TLS}
  tls:
    mode: MUTUAL
    privateKey: /k
    serverCertificate: /c
    caCertificates: /ca
- port: {number: 9444, protocol: https}
  tls: {mode: PASSTHROUGH}`},
		{name: "only an outbound traffic policy", spec: `outboundTrafficPolicy: {mode: ALLOW_ANY}`},
		{name: "only an inbound connection pool", spec: `inboundConnectionPool: {tcp: {maxConnections: 10}}`},
		{name: "ingress only, default endpoint forms", spec: `
ingress:
- {port: {number: 1, protocol: TCP}, defaultEndpoint: "0.0.0.0:65535"}
- {port: {number: 2, protocol: grpc}, defaultEndpoint: "[::1]:80", bind: 10.0.0.1, captureMode: NONE}
- {port: {number: 3, protocol: GRPC-WEB}, defaultEndpoint: "[::]:80", bind: "::1"}
- {port: {number: 65535, protocol: MONGO}, defaultEndpoint: ":8080"}
- {port: {number: 5, protocol: mysql}, defaultEndpoint: "unix://@abstract"}`},
		{name: "host forms", spec: `
egress:
- port: {number: 80, protocol: HTTP2}
  bind: 127.0.0.1
  captureMode: IPTABLES
  hosts: ["~/*", "*/reviews.default.svc.cluster.local", "prod/*.example.com", "Prod/a.b.c"]
- port: {number: 6379, protocol: REDIS}
  bind: "::"
  hosts: ["./*"]
- port: {number: 8080, protocol: HTTP_PROXY}
  hosts: ["*/*"]
- port: {number: 53, protocol: UDP}
  hosts: ["*/*"]
- hosts: ["*/*"]`},
		{name: "same port on ingress and egress", spec: `
ingress: [{port: {number: 9080, protocol: HTTP}}]
egress: [{port: {number: 9080, protocol: HTTP}, hosts: ["./*"]}]`},
	}, sidecar)
}

func TestSidecarEgressHosts(t *testing.T) {
	run(t, []validationCase{
		{name: "empty spec", spec: `{}`,
			want: []string{"spec: Required value: a Sidecar must set at least one of egress, ingress, outboundTrafficPolicy or inboundConnectionPool"}},
		{name: "empty egress list is no configuration", spec: `{egress: [], ingress: []}`,
			want: []string{"spec: Required value"}},
		{name: "no hosts", spec: `egress: [{port: {number: 80, protocol: HTTP}, hosts: []}]`,
			want: []string{"spec.egress[0].hosts: Required value: an egress listener must list at least one host"}},
		{name: "no slash", spec: `egress: [{hosts: ["./*", reviews.default.svc.cluster.local]}]`,
			want: []string{`spec.egress[0].hosts[1]: Invalid value: "reviews.default.svc.cluster.local": a host must be namespace/dnsName`}},
		{name: "empty namespace or name", spec: `egress: [{hosts: ["/*", "prod/", "/"]}]`,
			want: []string{
				`spec.egress[0].hosts[0]: Invalid value: "/*": neither the namespace nor the dnsName of a host may be empty`,
				`spec.egress[0].hosts[1]: Invalid value: "prod/": neither the namespace nor the dnsName`,
				`spec.egress[0].hosts[2]: Invalid value: "/": neither the namespace nor the dnsName`,
			}},
		{name: "bad namespace", spec: `egress: [{hosts: ["Foo_bar/*", "**/*", "../*", "-ns/a.com"]}]`,
			want: []string{
				`spec.egress[0].hosts[0]: Invalid value: "Foo_bar/*": namespace "Foo_bar" must be *, ., ~ or a namespace name`,
				`spec.egress[0].hosts[1]: Invalid value: "**/*": namespace "**"`,
				`spec.egress[0].hosts[2]: Invalid value: "../*": namespace ".."`,
				`spec.egress[0].hosts[3]: Invalid value: "-ns/a.com": namespace "-ns"`,
			}},
		{name: "bad dnsName", spec: `
egress:
- port: {number: 80, protocol: HTTP}
  hosts: ["./a.*.com", "./foo*.com", "*/bad_host.com", "./10.0.0.1", "./a..com", "*/foo.123"]`,
			want: []string{
				`spec.egress[0].hosts[0]: Invalid value: "./a.*.com": partial wildcard "a.*.com" not allowed`,
				`spec.egress[0].hosts[1]: Invalid value: "./foo*.com"`,
				`spec.egress[0].hosts[2]: Invalid value: "*/bad_host.com"`,
				`spec.egress[0].hosts[3]: Invalid value: "./10.0.0.1": domain name "10.0.0.1" invalid (top level domain "1" cannot be all-numeric)`,
				`spec.egress[0].hosts[4]: Invalid value: "./a..com"`,
				`spec.egress[0].hosts[5]: Invalid value: "*/foo.123"`,
			}},
		{name: "dnsName too long", spec: `egress: [{hosts: ["./a.` + longLabels(130) + `"]}]`,
			want: []string{`spec.egress[0].hosts[0]: Invalid value: "./a.`}},
	}, sidecar)
}

// longLabels is n one-letter labels: 2n-1 characters.
func longLabels(n int) string {
	s := "b"
	for range n - 1 {
		s += ".b"
	}
	return s
}

func TestSidecarEgressListeners(t *testing.T) {
	run(t, []validationCase{
		{name: "catch-all not last", spec: `
egress:
- hosts: ["./*"]
- port: {number: 80, protocol: HTTP}
  hosts: ["./*"]`,
			want: []string{"spec.egress[0].port: Invalid value: null: the egress listener without a port catches every other port and must be the last listener"}},
		{name: "two catch-alls", spec: `
egress:
- hosts: ["./*"]
- hosts: ["istio-system/*"]`,
			want: []string{"spec.egress[0].port: Invalid value: null: the egress listener without a port catches every other port and must be the last listener"}},
		{name: "three catch-alls, hosts still checked", spec: `
egress:
- hosts: ["./*"]
- hosts: [bad]
- hosts: ["istio-system/*"]`,
			want: []string{
				"spec.egress[0].port: Invalid value",
				`spec.egress[1].hosts[0]: Invalid value: "bad"`,
				"spec.egress[1].port: Invalid value",
			}},
		{name: "duplicate port, bind and protocol ignored", spec: `
egress:
- {port: {number: 9080, protocol: HTTP}, hosts: ["./*"]}
- {port: {number: 8080, protocol: HTTP}, hosts: ["./*"]}
- {port: {number: 9080, protocol: TCP}, bind: 10.0.0.1, hosts: ["./*"]}`,
			want: []string{"spec.egress[2].port.number: Duplicate value: 9080"}},
		{name: "duplicate unix bind", spec: `
egress:
- {port: {number: 0, protocol: HTTP}, bind: "unix:///var/run/x.sock", hosts: ["./*"]}
- {port: {number: 0, protocol: TCP}, bind: "unix:///var/run/y.sock", hosts: ["./*"]}
- {port: {number: 0, protocol: TCP}, bind: "unix:///var/run/x.sock", hosts: ["./*"]}`,
			want: []string{`spec.egress[2].bind: Duplicate value: "unix:///var/run/x.sock"`}},
		{name: "port 0 without unix bind", spec: `
egress:
- {port: {number: 0, protocol: HTTP}, hosts: ["./*"]}
- {port: {protocol: HTTP}, bind: 127.0.0.1, hosts: ["./*"]}`,
			want: []string{
				"spec.egress[0].port.number: Invalid value: 0: port 0 is for Unix domain sockets: bind must then be unix://<path>",
				"spec.egress[1].port.number: Invalid value: 0: port 0 is for Unix domain sockets",
			}},
		{name: "bad unix paths", spec: `
egress:
- {port: {protocol: HTTP}, bind: "unix://", hosts: ["./*"]}
- {port: {protocol: HTTP}, bind: "unix://var/run/x.sock", hosts: ["./*"]}`,
			want: []string{
				`spec.egress[0].bind: Invalid value: "unix://": a Unix domain socket needs a path`,
				`spec.egress[1].bind: Invalid value: "unix://var/run/x.sock": a Unix domain socket path must be absolute`,
			}},
		{name: "capture mode of a unix socket", spec: `
egress:
- {port: {number: 0, protocol: HTTP}, bind: "unix:///var/run/x.sock", captureMode: IPTABLES, hosts: ["./*"]}`,
			want: []string{`spec.egress[0].captureMode: Invalid value: "IPTABLES": a Unix domain socket listener takes captureMode DEFAULT or NONE`}},
		{name: "protocol missing or unknown", spec: `
egress:
- {port: {number: 80}, hosts: ["./*"]}
- {port: {number: 81, protocol: SMTP}, hosts: ["./*"]}
- {port: {number: 82, protocol: "HTTP "}, hosts: ["./*"]}`,
			want: []string{
				`spec.egress[0].port.protocol: Unsupported value: "": supported values: "HTTP", "HTTPS"`,
				`spec.egress[1].port.protocol: Unsupported value: "SMTP"`,
				`spec.egress[2].port.protocol: Unsupported value: "HTTP "`,
			}},
		{name: "port out of range", spec: `
egress:
- {port: {number: 65536, protocol: HTTP}, hosts: ["./*"]}
- {port: {number: 4294967295, protocol: TCP}, hosts: ["./*"]}`,
			want: []string{
				"spec.egress[0].port.number: Invalid value: 65536: port number must be in 1-65535",
				"spec.egress[1].port.number: Invalid value: 4294967295",
			}},
		{name: "bind not an IP", spec: `
egress:
- {port: {number: 80, protocol: HTTP}, bind: localhost, hosts: ["./*"]}
- {port: {number: 81, protocol: HTTP}, bind: "unix:///var/run/x.sock", hosts: ["./*"]}
- {port: {number: 82, protocol: HTTP}, bind: 10.0.0.0/8, hosts: ["./*"]}`,
			want: []string{
				`spec.egress[0].bind: Invalid value: "localhost": bind must be an IP address`,
				`spec.egress[1].bind: Invalid value: "unix:///var/run/x.sock": bind must be an IP address`,
				`spec.egress[2].bind: Invalid value: "10.0.0.0/8"`,
			}},
		{name: "port name", spec: `
egress:
- {port: {number: 80, protocol: HTTP, name: Bad_Name}, hosts: ["./*"]}
- {port: {number: 0, protocol: HTTP, name: "a.b"}, bind: "unix:///x", hosts: ["./*"]}`,
			want: []string{
				`spec.egress[0].port.name: Invalid value: "Bad_Name": a port name must be a DNS label`,
				`spec.egress[1].port.name: Invalid value: "a.b"`,
			}},
	}, sidecar)
}

func TestSidecarIngress(t *testing.T) {
	run(t, []validationCase{
		{name: "no port", spec: `
ingress:
- defaultEndpoint: 127.0.0.1:8080
- {port: {number: 80, protocol: HTTP}}`,
			want: []string{"spec.ingress[0].port: Required value: an ingress listener needs a port"}},
		{name: "duplicate port", spec: `
ingress:
- {port: {number: 9080, protocol: HTTP}, defaultEndpoint: 127.0.0.1:8080}
- {port: {number: 9081, protocol: HTTP}}
- {port: {number: 9080, protocol: TCP}, bind: 10.0.0.1}`,
			want: []string{"spec.ingress[2].port.number: Duplicate value: 9080"}},
		{name: "port, protocol and bind", spec: `
ingress:
- {port: {number: 0, protocol: HTTP}}
- {port: {number: 70000, protocol: HTTP}}
- {port: {number: 80}}
- {port: {number: 81, protocol: QUIC, name: "-x"}}
- {port: {number: 82, protocol: HTTP}, bind: "unix:///var/run/x.sock"}
- {port: {number: 83, protocol: HTTP}, bind: "fe80::1%"}`,
			want: []string{
				"spec.ingress[0].port.number: Invalid value: 0: port number must be in 1-65535",
				"spec.ingress[1].port.number: Invalid value: 70000: port number must be in 1-65535",
				`spec.ingress[2].port.protocol: Unsupported value: ""`,
				`spec.ingress[3].port.name: Invalid value: "-x": a port name must be a DNS label`,
				`spec.ingress[3].port.protocol: Unsupported value: "QUIC"`,
				`spec.ingress[4].bind: Invalid value: "unix:///var/run/x.sock": bind must be an IP address`,
				`spec.ingress[5].bind: Invalid value: "fe80::1%"`,
			}},
		{name: "default endpoint", spec: `
ingress:
- {port: {number: 1, protocol: HTTP}, defaultEndpoint: "10.0.0.1:8080"}
- {port: {number: 2, protocol: HTTP}, defaultEndpoint: "127.0.0.1"}
- {port: {number: 3, protocol: HTTP}, defaultEndpoint: "127.0.0.1:0"}
- {port: {number: 4, protocol: HTTP}, defaultEndpoint: "127.0.0.1:70000"}
- {port: {number: 5, protocol: HTTP}, defaultEndpoint: "unix://var/run/x.sock"}
- {port: {number: 6, protocol: HTTP}, defaultEndpoint: "localhost:http"}
- {port: {number: 7, protocol: HTTP}, defaultEndpoint: "unix://"}
- {port: {number: 8, protocol: HTTP}, defaultEndpoint: "::1:8080"}`,
			want: []string{
				`spec.ingress[0].defaultEndpoint: Invalid value: "10.0.0.1:8080": the host must be 127.0.0.1, 0.0.0.0, ::1 or ::`,
				`spec.ingress[1].defaultEndpoint: Invalid value: "127.0.0.1": must be 127.0.0.1:<port>, 0.0.0.0:<port>, [::1]:<port>, [::]:<port>, :<port> or unix://<path>`,
				`spec.ingress[2].defaultEndpoint: Invalid value: "127.0.0.1:0": the port must be a number in 1-65535`,
				`spec.ingress[3].defaultEndpoint: Invalid value: "127.0.0.1:70000": the port must be a number in 1-65535`,
				`spec.ingress[4].defaultEndpoint: Invalid value: "unix://var/run/x.sock": a Unix domain socket path must be absolute`,
				`spec.ingress[5].defaultEndpoint: Invalid value: "localhost:http": the host must be`,
				`spec.ingress[5].defaultEndpoint: Invalid value: "localhost:http": the port must be a number in 1-65535`,
				`spec.ingress[6].defaultEndpoint: Invalid value: "unix://": a Unix domain socket needs a path`,
				`spec.ingress[7].defaultEndpoint: Invalid value: "::1:8080": must be 127.0.0.1:<port>`,
			}},
		{name: "connection pools", spec: `
inboundConnectionPool: {}
ingress:
- port: {number: 80, protocol: HTTP}
  connectionPool: {tcp: {maxConnections: -1}}`,
			want: []string{
				"spec.inboundConnectionPool: Required value: a connection pool must set tcp or http",
				"spec.ingress[0].connectionPool.tcp.maxConnections: Invalid value: -1",
			}},
	}, sidecar)
}

func TestSidecarIngressTLS(t *testing.T) {
	run(t, []validationCase{
		{name: "fields a sidecar cannot use", spec: `
ingress:
- port: {number: 443, protocol: HTTPS}
  tls:
    mode: SIMPLE
    serverCertificate: /c
    privateKey: /k
    subjectAltNames: [spiffe://cluster.local/ns/a/sa/b]
    httpsRedirect: true
    credentialName: my-secret`,
			want: []string{
				"spec.ingress[0].tls.credentialName: Forbidden: a Sidecar's ingress TLS reads files, not Secrets",
				"spec.ingress[0].tls.httpsRedirect: Forbidden: a Sidecar's ingress TLS cannot redirect",
				"spec.ingress[0].tls.subjectAltNames: Forbidden: a Sidecar's ingress TLS cannot check subjectAltNames",
			}},
		{name: "gateway modes", spec: `
ingress:
- {port: {number: 443, protocol: HTTPS}, tls: {mode: ISTIO_MUTUAL}}
- {port: {number: 444, protocol: TLS}, tls: {mode: AUTO_PASSTHROUGH}}`,
			want: []string{
				`spec.ingress[0].tls.mode: Invalid value: "ISTIO_MUTUAL": a Sidecar's ingress TLS takes PASSTHROUGH, SIMPLE, MUTUAL or OPTIONAL_MUTUAL`,
				`spec.ingress[1].tls.mode: Invalid value: "AUTO_PASSTHROUGH"`,
			}},
		{name: "TLS on a plain port", spec: `
ingress:
- port: {number: 80, protocol: HTTP}
  tls: {mode: SIMPLE, serverCertificate: /c, privateKey: /k}
- port: {number: 81, protocol: TCP}
  tls: {mode: PASSTHROUGH}`,
			want: []string{
				`spec.ingress[0].port.protocol: Invalid value: "HTTP": only HTTPS and TLS ports take TLS settings`,
				`spec.ingress[1].port.protocol: Invalid value: "TCP": only HTTPS and TLS ports take TLS settings`,
			}},
		{name: "certificates missing", spec: `
ingress:
- {port: {number: 443, protocol: HTTPS}, tls: {mode: SIMPLE}}
- {port: {number: 444, protocol: HTTPS}, tls: {mode: SIMPLE, serverCertificate: /c}}
- {port: {number: 445, protocol: HTTPS}, tls: {mode: MUTUAL, serverCertificate: /c, privateKey: /k}}
- {port: {number: 446, protocol: TLS}, tls: {mode: OPTIONAL_MUTUAL}}`,
			want: []string{
				"spec.ingress[0].tls.serverCertificate: Required value: mode SIMPLE needs serverCertificate and privateKey",
				"spec.ingress[1].tls.serverCertificate: Required value: mode SIMPLE needs serverCertificate and privateKey",
				"spec.ingress[2].tls.caCertificates: Required value: mode MUTUAL needs caCertificates to check clients",
				"spec.ingress[3].tls.caCertificates: Required value: mode OPTIONAL_MUTUAL needs caCertificates",
				"spec.ingress[3].tls.serverCertificate: Required value: mode OPTIONAL_MUTUAL needs serverCertificate and privateKey",
			}},
	}, sidecar)
}

func TestSidecarOutboundTrafficPolicy(t *testing.T) {
	run(t, []validationCase{
		{name: "egress proxy with registry only", spec: `
outboundTrafficPolicy:
  mode: REGISTRY_ONLY
  egressProxy: {host: egress.istio-system.svc.cluster.local, port: {number: 443}}`,
			want: []string{`spec.outboundTrafficPolicy.mode: Invalid value: "REGISTRY_ONLY": an egressProxy takes traffic to unknown destinations, so it needs mode ALLOW_ANY`}},
		{name: "egress proxy without a mode", spec: `
outboundTrafficPolicy:
  egressProxy: {host: egress.istio-system.svc.cluster.local, port: {number: 443}}`,
			want: []string{`spec.outboundTrafficPolicy.mode: Invalid value: "": an egressProxy takes traffic to unknown destinations, so it needs mode ALLOW_ANY`}},
		{name: "egress proxy without port", spec: `
outboundTrafficPolicy:
  mode: ALLOW_ANY
  egressProxy: {host: egress.istio-system.svc.cluster.local}`,
			want: []string{"spec.outboundTrafficPolicy.egressProxy.port: Required value: the egress proxy's port is required"}},
		{name: "egress proxy port 0", spec: `
outboundTrafficPolicy:
  mode: ALLOW_ANY
  egressProxy: {host: egress.istio-system.svc.cluster.local, port: {}}`,
			want: []string{"spec.outboundTrafficPolicy.egressProxy.port: Required value"}},
		{name: "egress proxy with a subset", spec: `
outboundTrafficPolicy:
  mode: ALLOW_ANY
  egressProxy: {host: egress.istio-system.svc.cluster.local, subset: v1, port: {number: 443}}`},
		{name: "egress proxy with a bad subset name", spec: `
outboundTrafficPolicy:
  mode: ALLOW_ANY
  egressProxy: {host: egress.istio-system.svc.cluster.local, subset: V_1, port: {number: 443}}`,
			want: []string{`spec.outboundTrafficPolicy.egressProxy.subset: Invalid value: "V_1": a subset name must be a DNS label`}},
		{name: "egress proxy host not an FQDN", spec: `
outboundTrafficPolicy:
  mode: ALLOW_ANY
  egressProxy: {host: "*.istio-system.svc.cluster.local", port: {number: 443}}`,
			want: []string{`spec.outboundTrafficPolicy.egressProxy.host: Invalid value: "*.istio-system.svc.cluster.local"`}},
		{name: "everything wrong at once", spec: `
outboundTrafficPolicy:
  mode: REGISTRY_ONLY
  egressProxy: {host: "", subset: v_1}`,
			want: []string{
				`spec.outboundTrafficPolicy.egressProxy.host: Invalid value: "": empty domain name not allowed`,
				"spec.outboundTrafficPolicy.egressProxy.port: Required value",
				"spec.outboundTrafficPolicy.egressProxy.subset: Invalid value",
				"spec.outboundTrafficPolicy.mode: Invalid value",
			}},
	}, sidecar)
}

func TestSidecarWorkloadSelector(t *testing.T) {
	run(t, []validationCase{
		{name: "selector without labels is valid", spec: `
workloadSelector: {}
egress: [{hosts: ["./*"]}]`},
		{name: "bad labels", spec: `
workloadSelector: {labels: {"": a, "app*": x, version: "v*", "bad key": b, tier: "-bad-"}}
egress: [{hosts: ["./*"]}]`,
			want: []string{
				`spec.workloadSelector.labels: Invalid value: ""`,
				`spec.workloadSelector.labels: Invalid value: "app*": wildcard not allowed in label key match`,
				`spec.workloadSelector.labels: Invalid value: "bad key"`,
				`spec.workloadSelector.labels[tier]: Invalid value: "-bad-"`,
				`spec.workloadSelector.labels[version]: Invalid value: "v*": wildcard not allowed in label value match`,
			}},
	}, sidecar)
}

// TestSidecarErrorsAreSorted: errors from every part come out ordered by path, so the
// webhook's answer is stable.
func TestSidecarErrorsAreSorted(t *testing.T) {
	run(t, []validationCase{
		{name: "all parts", spec: `
workloadSelector: {labels: {"app*": a}}
outboundTrafficPolicy: {mode: REGISTRY_ONLY, egressProxy: {host: e.x.svc, port: {number: 80}}}
egress:
- hosts: [bad]
- {port: {number: 80, protocol: HTTP}, hosts: ["./*"]}
ingress:
- {port: {number: 0, protocol: HTTP}}`,
			want: []string{
				`spec.egress[0].hosts[0]: Invalid value: "bad"`,
				"spec.egress[0].port: Invalid value",
				"spec.ingress[0].port.number: Invalid value: 0",
				"spec.outboundTrafficPolicy.mode: Invalid value",
				`spec.workloadSelector.labels: Invalid value: "app*"`,
			}},
	}, sidecar)
}

func TestSidecarWarnings(t *testing.T) {
	runWarnings(t, []warningCase{
		{name: "none", spec: `
workloadSelector: {labels: {app: ratings}}
ingress: [{port: {number: 9080, protocol: HTTP}, defaultEndpoint: 127.0.0.1:8080}]
egress:
- port: {number: 9080, protocol: HTTP}
  hosts: ["prod-us1/*", "prod-us2/a.example.com", "*/b.example.com"]
- hosts: ["./*", "istio-system/*"]`},
		{name: "*/* with other hosts", spec: `
egress:
- hosts: ["./*", "*/*", "istio-system/a.example.com", "*/b.example.com"]`,
			want: []string{
				"spec.egress[0].hosts[0]: */* already selects every host; this entry adds nothing",
				"spec.egress[0].hosts[2]: */* already selects every host; this entry adds nothing",
				"spec.egress[0].hosts[3]: */* already selects every host; this entry adds nothing",
			}},
		{name: "ns/* with ns/x, in either order", spec: `
egress:
- hosts: ["prod/a.example.com", "prod/*", "prod/*.example.com", "test/b.example.com", "./*", "./c.example.com"]`,
			want: []string{
				"spec.egress[0].hosts[0]: prod/* already selects every host of the namespace; this entry adds nothing",
				"spec.egress[0].hosts[2]: prod/* already selects every host of the namespace",
				"spec.egress[0].hosts[5]: ./* already selects every host of the namespace",
			}},
		{name: "listeners are checked apart", spec: `
egress:
- {port: {number: 80, protocol: HTTP}, hosts: ["prod/*"]}
- {hosts: ["prod/a.example.com", "*/b.example.com"]}`},
		{name: "malformed hosts are left to validation", spec: `egress: [{hosts: [reviews, "*/*"]}]`,
			want: []string{"spec.egress[0].hosts[0]: */* already selects every host"}},
	}, SidecarWarnings)
}

// TestSidecarIstioRules: the rules of Istio's ValidateSidecar that a first version of
// Sidecar and SidecarWarnings missed.
func TestSidecarIstioRules(t *testing.T) {
	run(t, []validationCase{
		// Istio refuses a targetPort: a Sidecar's listeners have no target.
		{name: "targetPort", spec: `
ingress: [{port: {number: 9080, protocol: HTTP, targetPort: 8080}}]
egress:
- {port: {number: 80, protocol: HTTP}, hosts: ["./*"]}
- {port: {number: 81, protocol: HTTP, targetPort: 8081}, hosts: ["./*"]}`,
			want: []string{
				"spec.egress[1].port.targetPort: Invalid value: 8081: targetPort has no effect in a Sidecar",
				"spec.ingress[0].port.targetPort: Invalid value: 8080: targetPort has no effect in a Sidecar",
			}},
		// validateSidecarEgressPortBindAndCaptureMode validates the protocol of a
		// port-0 (Unix domain socket) listener too.
		{name: "unix socket listener protocol", spec: `
egress:
- {port: {number: 0, protocol: SMTP}, bind: "unix:///var/run/x.sock", hosts: ["./*"]}
- {port: {number: 0}, bind: "unix:///var/run/y.sock", hosts: ["./*"]}`,
			want: []string{"spec.egress[0].port.protocol", "spec.egress[1].port.protocol"}},
		// ValidatePartialWildCard: a dnsName with * is * or starts with *.
		{name: "partial wildcard", spec: `egress: [{hosts: ["./*foo.com", "*/*-foo.com"]}]`,
			want: []string{"spec.egress[0].hosts[0]", "spec.egress[0].hosts[1]"}},
		// validateSidecarOrGatewayHostnamePart: "short names (non FQDN) are not allowed".
		{name: "short names", spec: `egress: [{hosts: ["./reviews", "istio-system/istiod"]}]`,
			want: []string{"spec.egress[0].hosts[0]", "spec.egress[0].hosts[1]"}},
		// ValidateUnixAddress: "... is not an absolute path to a file".
		{name: "unix path of a directory", spec: `
ingress: [{port: {number: 80, protocol: HTTP}, defaultEndpoint: "unix:///var/run/"}]
egress: [{port: {number: 0, protocol: HTTP}, bind: "unix:///var/run/", hosts: ["./*"]}]`,
			want: []string{"spec.egress[0].bind", "spec.ingress[0].defaultEndpoint"}},
		// validateDestination checks the egress proxy's port number.
		{name: "egress proxy port out of range", spec: `
outboundTrafficPolicy: {mode: ALLOW_ANY, egressProxy: {host: egress.istio-system.svc.cluster.local, port: {number: 70000}}}`,
			want: []string{"spec.outboundTrafficPolicy.egressProxy.port.number"}},
	}, sidecar)
	runWarnings(t, []warningCase{
		{name: "selector without labels", spec: `{workloadSelector: {}, egress: [{hosts: ["./*"]}]}`,
			want: []string{"spec.workloadSelector"}},
		{name: "same host twice", spec: `egress: [{hosts: ["prod/a.example.com", "prod/a.example.com"]}]`,
			want: []string{"spec.egress[0].hosts[1]"}},
		{name: "*/* twice", spec: `egress: [{hosts: ["*/*", "*/*"]}]`,
			want: []string{"spec.egress[0].hosts[1]"}},
		{name: "HTTP pool on a TCP port", spec: `
ingress: [{port: {number: 80, protocol: TCP}, connectionPool: {http: {maxRetries: 3}}}]`,
			want: []string{"spec.ingress[0].connectionPool.http"}},
	}, SidecarWarnings)
}
