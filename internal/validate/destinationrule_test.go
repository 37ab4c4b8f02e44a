package validate

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
)

func runDR(t *testing.T, cases []validationCase) {
	t.Helper()
	run(t, cases, func(s *networkingv1.DestinationRuleSpec) field.ErrorList { return DestinationRule(s) })
}

func TestDestinationRuleValidPolicies(t *testing.T) {
	runDR(t, []validationCase{
		{name: "every policy", spec: `
host: reviews.default.svc.cluster.local
exportTo: ["."]
workloadSelector: {matchLabels: {app: productpage}}
trafficPolicy:
  loadBalancer:
    simple: ROUND_ROBIN
    warmup: {duration: 30s, minimumPercent: 10, aggression: 1.5}
    localityLbSetting:
      distribute:
      - {from: us-west/zone1/*, to: {"us-west/zone1/*": 80, "us-west/zone2/*": 20}}
      - {from: us-east/*, to: {"us-east/*": 100}}
  connectionPool:
    tcp: {maxConnections: 100, connectTimeout: 30ms, tcpKeepalive: {time: 7200s, interval: 75s, probes: 9}, maxConnectionDuration: 1h, idleTimeout: 0s}
    http: {http1MaxPendingRequests: 10, http2MaxRequests: 1000, maxRequestsPerConnection: 5, maxRetries: 3, idleTimeout: 1h, h2UpgradePolicy: UPGRADE, maxConcurrentStreams: 100}
  outlierDetection: {consecutive5xxErrors: 5, consecutiveGatewayErrors: 3, interval: 10s, baseEjectionTime: 30s, maxEjectionPercent: 50, minHealthPercent: 30, splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailures: 2}
  tls: {mode: SIMPLE, caCertificates: /etc/ca.pem, sni: reviews.example.com, subjectAltNames: [reviews]}
  retryBudget: {percent: 20, minRetryConcurrency: 3}
  portLevelSettings:
  - port: {number: 9080}
    loadBalancer: {consistentHash: {httpCookie: {name: user, ttl: 0s, path: /, attributes: [{name: SameSite, value: Strict}]}, ringHash: {minimumRingSize: 1024}}}
  - port: {number: 9443}
    tls: {mode: MUTUAL, credentialName: reviews-client}
subsets:
- name: v1
  labels: {version: v1, app.kubernetes.io/name: reviews}
  trafficPolicy:
    loadBalancer: {consistentHash: {maglev: {tableSize: 65537}, useSourceIp: true}}
- name: v2
  trafficPolicy: {tunnel: {protocol: CONNECT, targetHost: 10.0.0.1, targetPort: 8443}}
- name: v3
  trafficPolicy: {proxyProtocol: {version: V2}, tls: {mode: ISTIO_MUTUAL}}`},
		{name: "failover", spec: `
host: web
trafficPolicy:
  outlierDetection: {consecutive5xxErrors: 1}
  loadBalancer:
    simple: LEAST_REQUEST
    localityLbSetting:
      failover: [{from: us-east, to: eu-west}, {from: us-west, to: us-east}]
      failoverPriority: [network.istio.io/subnet]`},
		{name: "mutual with files", spec: `
host: web
trafficPolicy:
  tls: {mode: MUTUAL, clientCertificate: /c.pem, privateKey: /k.pem, caCertificates: /ca.pem, caCrl: /crl.pem}`},
		{name: "insecure simple", spec: `
host: web
trafficPolicy: {tls: {mode: SIMPLE, insecureSkipVerify: true, sni: web.example.com}}`},
		{name: "hash keys", spec: `
host: web
subsets:
- {name: a, trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}}
- {name: b, trafficPolicy: {loadBalancer: {consistentHash: {httpQueryParameterName: user}}}}`},
	})
}

func TestDestinationRuleLoadBalancer(t *testing.T) {
	runDR(t, []validationCase{
		{name: "simple and consistentHash", spec: `
host: web
trafficPolicy: {loadBalancer: {simple: FASTEST, consistentHash: {useSourceIp: true}}}`,
			want: []string{
				"spec.trafficPolicy.loadBalancer.consistentHash: Forbidden: only one of simple or consistentHash",
				`spec.trafficPolicy.loadBalancer.simple: Unsupported value: "FASTEST"`,
			}},
		{name: "hash keys", spec: `
host: web
subsets:
- {name: a, trafficPolicy: {loadBalancer: {consistentHash: {ringHash: {}}}}}
- {name: b, trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: "bad header", useSourceIp: true}}}}
- {name: c, trafficPolicy: {loadBalancer: {consistentHash: {httpQueryParameterName: ""}}}}
- {name: d, trafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {name: "", ttl: -1s, attributes: [{name: ""}]}}}}}`,
			want: []string{
				"spec.subsets[0].trafficPolicy.loadBalancer.consistentHash: Invalid value: \"\": exactly one of httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName must be set (found 0)",
				"spec.subsets[1].trafficPolicy.loadBalancer.consistentHash: Invalid value: \"\": exactly one of httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName must be set (found 2)",
				`spec.subsets[1].trafficPolicy.loadBalancer.consistentHash.httpHeaderName: Invalid value: "bad header"`,
				"spec.subsets[2].trafficPolicy.loadBalancer.consistentHash.httpQueryParameterName: Invalid value: \"\"",
				"spec.subsets[3].trafficPolicy.loadBalancer.consistentHash.httpCookie.name: Required value",
				`spec.subsets[3].trafficPolicy.loadBalancer.consistentHash.httpCookie.ttl: Invalid value: "-1s": duration must not be negative`,
				"spec.subsets[3].trafficPolicy.loadBalancer.consistentHash.httpCookie.attributes[0].name: Required value",
			}},
		{name: "hash algorithms", spec: `
host: web
subsets:
- {name: a, trafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true, ringHash: {}, maglev: {tableSize: 65537}}}}}
- {name: b, trafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true, minimumRingSize: 1024, ringHash: {}}}}}
- {name: c, trafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true, maglev: {}}}}}
- {name: d, trafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true, maglev: {tableSize: 65536}}}}}
- {name: e, trafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true, maglev: {tableSize: 5000011}}}}}`,
			want: []string{
				"spec.subsets[0].trafficPolicy.loadBalancer.consistentHash.maglev: Forbidden: only one of ringHash or maglev",
				"spec.subsets[1].trafficPolicy.loadBalancer.consistentHash.minimumRingSize: Forbidden",
				"spec.subsets[2].trafficPolicy.loadBalancer.consistentHash.maglev.tableSize: Required value",
				"spec.subsets[3].trafficPolicy.loadBalancer.consistentHash.maglev.tableSize: Invalid value: 65536: must be a prime number",
				"spec.subsets[4].trafficPolicy.loadBalancer.consistentHash.maglev.tableSize: Invalid value: 5000011: must be less than 5000011",
			}},
		{name: "distribute and failover", spec: `
host: web
trafficPolicy:
  loadBalancer:
    localityLbSetting:
      distribute: [{from: us-west, to: {us-east: 100}}]
      failover: [{from: us-west, to: us-east}]`,
			want: []string{"spec.trafficPolicy.loadBalancer.localityLbSetting.failover: Forbidden: distribute and failover cannot both be set"}},
		{name: "distribute weights and localities", spec: `
host: web
trafficPolicy:
  loadBalancer:
    localityLbSetting:
      distribute:
      - {from: us-west/zone1, to: {"us-west/zone1": 0, "us-west/zone2": 90}}
      - {from: "us-west/*", to: {"us-*/zone1": 50, "us-east//a": 50}}
      - {from: "", to: {"*": 101}}`,
			want: []string{
				"spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[0].to[us-west/zone1]: Invalid value: 0: locality weight must be in 1-100",
				"spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[0].to: Invalid value: 90: locality weights must add up to 100",
				`spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[1].to[us-*/zone1]: Invalid value: "us-*/zone1": a locality may hold one * wildcard, at its end`,
				`spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[1].to[us-east//a]: Invalid value: "us-east//a": a locality is region/zone/subzone with no empty part`,
				"spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[2].to[*]: Invalid value: 101: locality weight must be in 1-100",
				"spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[2].to: Invalid value: 101: locality weights must add up to 100",
				`spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[1].from: Invalid value: "us-west/*": locality overlaps us-west/zone1`,
				`spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[2].from: Invalid value: ""`,
			}},
		{name: "failover rules", spec: `
host: web
trafficPolicy:
  outlierDetection: {consecutive5xxErrors: 1}
  loadBalancer:
    localityLbSetting:
      failover: [{from: a, to: a}, {from: a/z, to: b}, {from: "a*", to: b}]
      failoverPriority: [topology.kubernetes.io/zone, "", "topology.istio.io/subzone=z1"]`,
			want: []string{
				`spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority[0]: Invalid value: "topology.kubernetes.io/zone": topology labels cannot be listed together with failover`,
				`spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority[1]: Invalid value: "": label must not be empty`,
				`spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority[2]`,
				`spec.trafficPolicy.loadBalancer.localityLbSetting.failover[0]: Invalid value: "a": failover from and to must name different regions`,
				`spec.trafficPolicy.loadBalancer.localityLbSetting.failover[1]: Invalid value: "a/z -> b": failover names regions only`,
				`spec.trafficPolicy.loadBalancer.localityLbSetting.failover[2]: Invalid value: "a* -> b": failover regions cannot contain the * wildcard`,
			}},
		{name: "warmup", spec: `
host: web
subsets:
- {name: a, trafficPolicy: {loadBalancer: {warmup: {duration: 0s, minimumPercent: 120, aggression: 0.5}}}}
- {name: b, trafficPolicy: {loadBalancer: {warmup: {duration: ""}}}}
- {name: c, trafficPolicy: {loadBalancer: {warmupDurationSecs: abc}}}`,
			want: []string{
				`spec.subsets[0].trafficPolicy.loadBalancer.warmup.duration: Invalid value: "0s": duration must be at least 1ms`,
				"spec.subsets[0].trafficPolicy.loadBalancer.warmup.minimumPercent: Invalid value: 120: must be in 0-100",
				"spec.subsets[0].trafficPolicy.loadBalancer.warmup.aggression: Invalid value: 0.5: must be at least 1",
				"spec.subsets[1].trafficPolicy.loadBalancer.warmup.duration: Required value",
				`spec.subsets[2].trafficPolicy.loadBalancer.warmupDurationSecs: Invalid value: "abc"`,
			}},
	})
}

func TestDestinationRulePolicies(t *testing.T) {
	runDR(t, []validationCase{
		{name: "empty policies", spec: `
host: web
trafficPolicy: {connectionPool: {}}
subsets: [{name: a, trafficPolicy: {}}]`,
			want: []string{
				"spec.subsets[0].trafficPolicy: Required value: a traffic policy must set at least one field",
				"spec.trafficPolicy.connectionPool: Required value: a connection pool must set tcp or http",
			}},
		{name: "connection pool", spec: `
host: web
trafficPolicy:
  connectionPool:
    tcp: {maxConnections: -1, connectTimeout: 0s, tcpKeepalive: {time: abc, interval: 500us}, maxConnectionDuration: 1.0001s, idleTimeout: 0.5ms}
    http: {http1MaxPendingRequests: -1, http2MaxRequests: -1, maxRequestsPerConnection: -1, maxRetries: -1, idleTimeout: 0s, h2UpgradePolicy: UPGRADE, useClientProtocol: true, maxConcurrentStreams: -1}`,
			want: []string{
				"spec.trafficPolicy.connectionPool.tcp.maxConnections: Invalid value: -1: must not be negative",
				`spec.trafficPolicy.connectionPool.tcp.connectTimeout: Invalid value: "0s": duration must be at least 1ms`,
				`spec.trafficPolicy.connectionPool.tcp.tcpKeepalive.time: Invalid value: "abc"`,
				`spec.trafficPolicy.connectionPool.tcp.tcpKeepalive.interval: Invalid value: "500us"`,
				`spec.trafficPolicy.connectionPool.tcp.maxConnectionDuration: Invalid value: "1.0001s": only durations to millisecond precision`,
				`spec.trafficPolicy.connectionPool.tcp.idleTimeout: Invalid value: "0.5ms"`,
				"spec.trafficPolicy.connectionPool.http.http1MaxPendingRequests: Invalid value: -1",
				"spec.trafficPolicy.connectionPool.http.http2MaxRequests: Invalid value: -1",
				"spec.trafficPolicy.connectionPool.http.maxRequestsPerConnection: Invalid value: -1",
				"spec.trafficPolicy.connectionPool.http.maxRetries: Invalid value: -1",
				`spec.trafficPolicy.connectionPool.http.idleTimeout: Invalid value: "0s"`,
				"spec.trafficPolicy.connectionPool.http.useClientProtocol: Forbidden: useClientProtocol cannot be true when h2UpgradePolicy is UPGRADE",
				"spec.trafficPolicy.connectionPool.http.maxConcurrentStreams: Invalid value: -1",
			}},
		{name: "h2 upgrade policy", spec: `
host: web
trafficPolicy: {connectionPool: {http: {h2UpgradePolicy: ALWAYS}}}`,
			want: []string{`spec.trafficPolicy.connectionPool.http.h2UpgradePolicy: Unsupported value: "ALWAYS"`}},
		{name: "outlier detection", spec: `
host: web
trafficPolicy:
  outlierDetection: {consecutiveErrors: -1, consecutiveLocalOriginFailures: 3, interval: 0s, baseEjectionTime: 1.5ms, maxEjectionPercent: 101, minHealthPercent: -1}`,
			want: []string{
				"spec.trafficPolicy.outlierDetection.consecutiveErrors: Invalid value: -1",
				"spec.trafficPolicy.outlierDetection.consecutiveLocalOriginFailures: Invalid value: 3: only counted when splitExternalLocalOriginErrors is true",
				`spec.trafficPolicy.outlierDetection.interval: Invalid value: "0s": duration must be at least 1ms`,
				`spec.trafficPolicy.outlierDetection.baseEjectionTime: Invalid value: "1.5ms": only durations to millisecond precision`,
				"spec.trafficPolicy.outlierDetection.maxEjectionPercent: Invalid value: 101: percentage must be in 0-100",
				"spec.trafficPolicy.outlierDetection.minHealthPercent: Invalid value: -1",
			}},
		{name: "tunnel, proxy protocol, retry budget", spec: `
host: web
trafficPolicy:
  tunnel: {protocol: UDP, targetHost: bad_host, targetPort: 0}
  proxyProtocol: {version: V3}
  retryBudget: {percent: 150}`,
			want: []string{
				"spec.trafficPolicy.proxyProtocol: Forbidden: tunnel and proxyProtocol cannot both be set",
				`spec.trafficPolicy.tunnel.protocol: Unsupported value: "UDP"`,
				`spec.trafficPolicy.tunnel.targetHost: Invalid value: "bad_host": must be a host name or an IP address`,
				"spec.trafficPolicy.tunnel.targetPort: Invalid value: 0",
				`spec.trafficPolicy.proxyProtocol.version: Unsupported value: "V3"`,
				"spec.trafficPolicy.retryBudget.percent: Invalid value: 150",
			}},
		{name: "subset labels and exportTo with a selector", spec: `
host: web
workloadSelector: {matchLabels: {app: a}}
exportTo: [".", other]
subsets: [{name: a, labels: {"bad key!": v, version: "bad value!"}}]`,
			want: []string{
				`spec.subsets[0].labels: Invalid value: "bad key!": invalid label key`,
				`spec.subsets[0].labels[version]: Invalid value: "bad value!": invalid label value`,
				`spec.exportTo: Invalid value: [".","other"]: a DestinationRule with a workloadSelector can only be exported to its own namespace`,
			}},
	})
}

func TestDestinationRuleTLS(t *testing.T) {
	runDR(t, []validationCase{
		{name: "mutual needs a certificate and key", spec: `
host: web
trafficPolicy: {tls: {mode: MUTUAL, caCertificates: /ca.pem}}`,
			want: []string{
				"spec.trafficPolicy.tls.clientCertificate: Required value: MUTUAL needs clientCertificate and privateKey, or a credentialName",
				"spec.trafficPolicy.tls.privateKey: Required value",
			}},
		{name: "credentialName excludes files", spec: `
host: web
trafficPolicy: {tls: {mode: MUTUAL, credentialName: c, clientCertificate: /c.pem, privateKey: /k.pem, caCertificates: /ca.pem, caCrl: /crl.pem}}`,
			want: []string{
				"spec.trafficPolicy.tls.clientCertificate: Forbidden: cannot be set with credentialName",
				"spec.trafficPolicy.tls.privateKey: Forbidden",
				"spec.trafficPolicy.tls.caCertificates: Forbidden",
				"spec.trafficPolicy.tls.caCrl: Forbidden",
			}},
		{name: "insecureSkipVerify excludes verification settings", spec: `
host: web
subsets:
- {name: a, trafficPolicy: {tls: {mode: SIMPLE, insecureSkipVerify: true, caCertificates: /ca.pem, subjectAltNames: [web]}}}
- {name: b, trafficPolicy: {tls: {mode: SIMPLE, insecureSkipVerify: true, credentialName: c}}}
- {name: c, trafficPolicy: {tls: {mode: MUTUAL, insecureSkipVerify: true, credentialName: c, subjectAltNames: [web]}}}`,
			want: []string{
				"spec.subsets[0].trafficPolicy.tls.caCertificates: Forbidden: cannot be set when insecureSkipVerify is true",
				"spec.subsets[0].trafficPolicy.tls.subjectAltNames: Forbidden",
				"spec.subsets[1].trafficPolicy.tls.credentialName: Forbidden: cannot be set when insecureSkipVerify is true",
				"spec.subsets[2].trafficPolicy.tls.subjectAltNames: Forbidden",
			}},
		{name: "mode", spec: `
host: web
trafficPolicy: {tls: {mode: STRICT}}`,
			want: []string{`spec.trafficPolicy.tls.mode: Unsupported value: "STRICT"`}},
		{name: "port level tls", spec: `
host: web
trafficPolicy: {portLevelSettings: [{port: {number: 443}, tls: {mode: MUTUAL}}]}`,
			want: []string{
				"spec.trafficPolicy.portLevelSettings[0].tls.clientCertificate: Required value",
				"spec.trafficPolicy.portLevelSettings[0].tls.privateKey: Required value",
			}},
		{name: "istio mutual ignores certificates", spec: `
host: web
trafficPolicy: {tls: {mode: ISTIO_MUTUAL, clientCertificate: /c.pem}}`},
	})
}
