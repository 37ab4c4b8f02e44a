package validate

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
)

func runVS(t *testing.T, cases []validationCase) {
	t.Helper()
	run(t, cases, func(s *networkingv1.VirtualServiceSpec) field.ErrorList { return VirtualService(s) })
}

// vsRule is a VirtualService for host web whose one HTTP rule routes to web and adds
// the given (indented) fields.
func vsRule(fields string) string {
	return "hosts: [web]\nhttp:\n- route: [{destination: {host: web}}]\n" + fields
}

func TestVirtualServiceValidRules(t *testing.T) {
	runVS(t, []validationCase{
		{name: "every policy", spec: vsRule(`
  match:
  - uri: {regex: "^/api/v[0-9]+/.*"}
    method: {exact: GET}
    authority: {prefix: shop.}
    scheme: {exact: https}
    headers: {x-version: {prefix: v}, ":path": {exact: /}, x-any: {}}
    withoutHeaders: {x-debug: {regex: "*"}}
    queryParams: {q: {exact: "1"}}
    port: 8080
    sourceLabels: {app: frontend, app.kubernetes.io/version: v1}
    sourceNamespace: shop
    gateways: [mesh, istio-system/ingress]
  - uri: {prefix: ""}
  rewrite: {uri: /v2/}
  timeout: 10s
  retries: {attempts: 3, perTryTimeout: 2s, retryOn: "5xx,gateway-error,503,unavailable", backoff: 25ms, retryRemoteLocalities: true}
  fault:
    delay: {fixedDelay: 5s, percentage: {value: 10}}
    abort: {httpStatus: 503, percentage: {value: 0.5}}
  mirror: {host: shadow, port: {number: 80}}
  mirrorPercentage: {value: 50}
  corsPolicy:
    allowOrigins: [{exact: "https://a.example.com"}, {regex: "https://.*\\.example\\.org"}, {prefix: "https://"}]
    allowMethods: [GET, POST, "*"]
    allowHeaders: ["*", x-token]
    exposeHeaders: [x-served-by]
    maxAge: 24h
    unmatchedPreflights: IGNORE
  headers:
    request: {set: {":authority": api.internal, x-host: "%HOSTNAME%"}, add: {x-pct: "100%%", x-req: "%REQ(x-id)%", x-md: "%UPSTREAM_METADATA([\"istio\", \"x\"])%"}, remove: [x-debug]}
    response: {set: {x-served-by: meshd}, remove: [server]}`)},
		{name: "weighted destinations with headers", spec: `
hosts: [web]
http:
- route:
  - {destination: {host: web, subset: v1}, weight: 90, headers: {request: {set: {x-canary: "no"}}}}
  - {destination: {host: web, subset: v2}, weight: 10, headers: {response: {add: {x-canary: "yes"}}}}`},
		{name: "redirect", spec: `
hosts: [web]
http:
- redirect: {uri: /new, redirectCode: 308, scheme: https, port: 8443}
- redirect: {authority: new.example.com, derivePort: FROM_REQUEST_PORT}`},
		{name: "direct response", spec: `
hosts: [web]
http: [{directResponse: {status: 418, body: {string: "I'm a teapot"}}}]`},
		{name: "direct response bytes", spec: `
hosts: [web]
http: [{directResponse: {status: 200, body: {bytes: aGVsbG8=}}}]`},
		{name: "regex rewrite", spec: vsRule(`  rewrite: {uriRegexRewrite: {match: "^/users/([^/]+)$", rewrite: "/profile/\\1"}}`)},
		{name: "mirrors", spec: vsRule(`  mirrors: [{destination: {host: a}, percentage: {value: 100}}, {destination: {host: b}}]`)},
		{name: "grpc abort", spec: vsRule(`  fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 0}}}`)},
		{name: "durations at their minimum", spec: vsRule(`  timeout: 1ms
  retries: {attempts: 1, perTryTimeout: 1ms}
  corsPolicy: {maxAge: 1s}
  fault: {delay: {fixedDelay: 0.001s}}`)},
		{name: "root delegates on a gateway", spec: `
hosts: [shop.example.com]
gateways: [istio-system/ingress]
http:
- match: [{uri: {prefix: /cart}, headers: {"@request.auth.claims.groups": {exact: admin}}}]
  delegate: {name: cart, namespace: cart}`},
		{name: "delegate target", spec: `
http:
- match: [{uri: {prefix: /cart/items}}]
  route: [{destination: {host: cart}}]`},
		{name: "retries disabled", spec: vsRule(`  retries: {attempts: 0}`)},
		{name: "exportTo", spec: vsRule(`  name: x
exportTo: [".", shop, istio-system]`)},
	})
}

func TestVirtualServiceMatches(t *testing.T) {
	long := strings.Repeat("a", maxRegexLength+1)
	runVS(t, []validationCase{
		{name: "regexes must compile", spec: vsRule(`
  match:
  - uri: {regex: "("}
    authority: {regex: "*"}
    headers: {x-a: {regex: "[a-"}}
    withoutHeaders: {x-b: {regex: "(?P<"}}
    queryParams: {q: {regex: ""}}`),
			want: []string{
				`spec.http[0].match[0].uri.regex: Invalid value: "(": not an RE2 regex`,
				`spec.http[0].match[0].authority.regex: Invalid value: "*": not an RE2 regex`,
				`spec.http[0].match[0].headers[x-a].regex: Invalid value: "[a-"`,
				`spec.http[0].match[0].withoutHeaders[x-b].regex`,
				`spec.http[0].match[0].queryParams[q].regex: Invalid value: "": regex must not be empty`,
			}},
		{name: "regex too long", spec: vsRule("  match: [{uri: {regex: " + long + "}}]"),
			want: []string{"spec.http[0].match[0].uri.regex: Too long: may not be more than 1024"}},
		{name: "perl-only regex syntax", spec: vsRule(`  match: [{uri: {regex: "(?=lookahead)"}}]`),
			want: []string{"spec.http[0].match[0].uri.regex"}},
		{name: "empty prefixes and double matches", spec: vsRule(`
  match:
  - method: {prefix: ""}
    scheme: {exact: http, prefix: h}
    headers: {x-a: {prefix: ""}}`),
			want: []string{
				`spec.http[0].match[0].scheme: Invalid value: "": only one of exact, prefix or regex`,
				`spec.http[0].match[0].method.prefix: Invalid value: "": prefix must not be empty`,
				`spec.http[0].match[0].headers[x-a].prefix`,
			}},
		{name: "header names", spec: vsRule(`  match: [{headers: {"bad header": {}, "x(y)": {}}, withoutHeaders: {"": {}}}]`),
			want: []string{
				`spec.http[0].match[0].headers[bad header]: Invalid value: "bad header": not a valid HTTP header name`,
				`spec.http[0].match[0].headers[x(y)]`,
				`spec.http[0].match[0].withoutHeaders[]: Invalid value: "": header name must not be empty`,
			}},
		{name: "JWT claims need a gateway-only VirtualService", spec: vsRule(`  match: [{headers: {"@request.auth.claims[groups]": {exact: a}}, withoutHeaders: {"@request.auth.claims.sub": {}}}]`),
			want: []string{
				"spec.http[0].match[0].headers[@request.auth.claims[groups]]: Invalid value: \"@request.auth.claims[groups]\": JWT claim based routing is only supported",
				"spec.http[0].match[0].withoutHeaders[@request.auth.claims.sub]",
			}},
		{name: "JWT claims with mesh listed", spec: `
hosts: [web]
gateways: [istio-system/gw, mesh]
http: [{match: [{headers: {"@request.auth.claims.sub": {exact: a}}}], route: [{destination: {host: web}}]}]`,
			want: []string{"spec.http[0].match[0].headers[@request.auth.claims.sub]: Invalid value"}},
		{name: "port, labels, namespace, gateways", spec: vsRule(`
  match:
  - port: 70000
    sourceLabels: {"bad key!": x, app: "bad value!"}
    sourceNamespace: Bad_NS
    gateways: [ns/, mesh]`),
			want: []string{
				"spec.http[0].match[0].port: Invalid value: 70000: port number must be in 1-65535",
				`spec.http[0].match[0].sourceLabels[app]: Invalid value: "bad value!": invalid label value`,
				`spec.http[0].match[0].sourceLabels: Invalid value: "bad key!": invalid label key`,
				`spec.http[0].match[0].gateways[0]: Invalid value: "ns/"`,
				`spec.http[0].match[0].sourceNamespace: Invalid value: "Bad_NS"`,
			}},
	})
}

func TestVirtualServiceDurationsAndPercentages(t *testing.T) {
	runVS(t, []validationCase{
		{name: "timeouts", spec: `
hosts: [web]
http:
- {route: [{destination: {host: web}}], timeout: 0s}
- {route: [{destination: {host: web}}], timeout: 10}
- {route: [{destination: {host: web}}], timeout: 1500us}
- {route: [{destination: {host: web}}], timeout: -1s}
- {route: [{destination: {host: web}}], timeout: ""}`,
			want: []string{
				`spec.http[0].timeout: Invalid value: "0s": duration must be at least 1ms`,
				`spec.http[1].timeout: Invalid value: "10": must be a duration such as 100ms`,
				`spec.http[2].timeout: Invalid value: "1500us": only durations to millisecond precision`,
				`spec.http[3].timeout: Invalid value: "-1s": duration must not be negative`,
				`spec.http[4].timeout: Invalid value: "": must be a duration`,
			}},
		{name: "retry and fault durations", spec: vsRule(`
  retries: {attempts: 2, perTryTimeout: 500us, backoff: 1h1ns}
  fault: {delay: {fixedDelay: 0s}}`),
			want: []string{
				"spec.http[0].retries.perTryTimeout: Invalid value: \"500us\": duration must be at least 1ms",
				"spec.http[0].retries.backoff: Invalid value: \"1h1ns\": only durations to millisecond precision",
				"spec.http[0].fault.delay.fixedDelay: Invalid value: \"0s\"",
			}},
		{name: "cors maxAge in whole seconds", spec: `
hosts: [web]
http:
- {route: [{destination: {host: web}}], corsPolicy: {maxAge: 1500ms}}
- {route: [{destination: {host: web}}], corsPolicy: {maxAge: 0s}}`,
			want: []string{
				`spec.http[0].corsPolicy.maxAge: Invalid value: "1500ms": Access-Control-Max-Age is in whole seconds`,
				`spec.http[1].corsPolicy.maxAge: Invalid value: "0s": duration must be at least 1ms`,
			}},
		{name: "fault percentages", spec: vsRule(`
  fault:
    delay: {fixedDelay: 1s, percentage: {value: 101}, percent: 150}
    abort: {httpStatus: 500, percentage: {value: 0.00001}}`),
			want: []string{
				"spec.http[0].fault.abort.percentage.value: Invalid value: 1e-05: percentage must be 0 or in [0.0001, 100]",
				"spec.http[0].fault.delay.percentage.value: Invalid value: 101",
				"spec.http[0].fault.delay.percent: Invalid value: 150",
			}},
		{name: "negative fault percentage", spec: vsRule(`  fault: {abort: {httpStatus: 500, percentage: {value: -1}}}`),
			want: []string{"spec.http[0].fault.abort.percentage.value: Invalid value: -1"}},
		{name: "mirror percentages", spec: vsRule(`
  mirror: {host: shadow}
  mirrorPercentage: {value: 100.5}
  mirrorPercent: 101
  mirror_percent: 200`),
			want: []string{
				"spec.http[0].mirrorPercent: Invalid value: 101: percent must be in 0-100",
				"spec.http[0].mirror_percent: Invalid value: 200",
				"spec.http[0].mirrorPercentage.value: Invalid value: 100.5: percentage must be in 0-100",
			}},
		{name: "mirrors percentages and destinations", spec: vsRule(`  mirrors: [{destination: {host: "*"}, percentage: {value: -5}}, {destination: {host: ok, port: {number: 0}}}]`),
			want: []string{
				"spec.http[0].mirrors[0].destination.host: Invalid value: \"*\"",
				"spec.http[0].mirrors[0].percentage.value: Invalid value: -5",
				"spec.http[0].mirrors[1].destination.port.number: Invalid value: 0",
			}},
	})
}

func TestVirtualServiceRetriesAndFaults(t *testing.T) {
	runVS(t, []validationCase{
		{name: "retry attempts", spec: `
hosts: [web]
http:
- {route: [{destination: {host: web}}], retries: {attempts: -1}}
- {route: [{destination: {host: web}}], retries: {retryOn: 5xx}}
- {route: [{destination: {host: web}}], retries: {perTryTimeout: 1s}}`,
			want: []string{
				"spec.http[0].retries.attempts: Invalid value: -1: attempts must not be negative",
				"spec.http[1].retries.attempts: Invalid value: 0: attempts 0 disables retries",
				"spec.http[2].retries.attempts: Invalid value: 0",
			}},
		{name: "retryOn policies", spec: vsRule(`  retries: {attempts: 2, retryOn: "5xx,bogus,599,404,retriable-4xx, reset,"}`),
			want: []string{
				`spec.http[0].retries.retryOn: Invalid value: "bogus": not a retry policy`,
				`spec.http[0].retries.retryOn: Invalid value: "599"`,
				`spec.http[0].retries.retryOn: Invalid value: " reset"`,
				`spec.http[0].retries.retryOn: Invalid value: ""`,
			}},
		{name: "every Envoy retry policy", spec: vsRule(`  retries: {attempts: 2, retryOn: "5xx,gateway-error,reset,reset-before-request,connect-failure,envoy-ratelimited,retriable-4xx,refused-stream,retriable-status-codes,retriable-headers,http3-post-connect-failure,cancelled,deadline-exceeded,internal,resource-exhausted,unavailable,100,429"}`)},
		{name: "empty fault", spec: vsRule(`  fault: {}`),
			want: []string{"spec.http[0].fault: Required value: fault injection needs an abort and/or a delay"}},
		{name: "abort kinds", spec: `
hosts: [web]
http:
- {route: [{destination: {host: web}}], fault: {abort: {httpStatus: 600}}}
- {route: [{destination: {host: web}}], fault: {abort: {httpStatus: 199}}}
- {route: [{destination: {host: web}}], fault: {abort: {grpcStatus: unavailable}}}
- {route: [{destination: {host: web}}], fault: {abort: {http2Error: REFUSED_STREAM}}}
- {route: [{destination: {host: web}}], fault: {abort: {httpStatus: 503, grpcStatus: UNAVAILABLE}}}`,
			want: []string{
				"spec.http[0].fault.abort.httpStatus: Invalid value: 600: HTTP status must be in 200-599",
				"spec.http[1].fault.abort.httpStatus: Invalid value: 199",
				`spec.http[2].fault.abort.grpcStatus: Unsupported value: "unavailable"`,
				"spec.http[3].fault.abort.http2Error: Forbidden: HTTP/2 error aborts are not supported",
				"spec.http[4].fault.abort: Invalid value: \"\": only one of httpStatus, grpcStatus or http2Error",
			}},
		{name: "exponential delay", spec: vsRule(`  fault: {delay: {exponentialDelay: 1s}}`),
			want: []string{"spec.http[0].fault.delay.exponentialDelay: Forbidden: exponential delays are not supported"}},
	})
}

func TestVirtualServiceActions(t *testing.T) {
	runVS(t, []validationCase{
		{name: "redirect fields", spec: `
hosts: [web]
http:
- redirect: {uri: /a, redirectCode: 304}
- redirect: {uri: /a, redirectCode: 200, scheme: ftp}
- redirect: {port: 70000, derivePort: FROM_PROTOCOL_DEFAULT}
- redirect: {}
- redirect: {derivePort: SOMEWHERE}`,
			want: []string{
				`spec.http[0].redirect.redirectCode: Unsupported value: 304: supported values: "301", "302", "303", "307", "308"`,
				"spec.http[1].redirect.redirectCode: Unsupported value: 200",
				`spec.http[1].redirect.scheme: Unsupported value: "ftp"`,
				"spec.http[2].redirect.port: Invalid value: 70000",
				"spec.http[2].redirect.derivePort: Forbidden: only one of port or derivePort",
				"spec.http[3].redirect: Required value: a redirect must set at least one of",
				`spec.http[4].redirect.derivePort: Unsupported value: "SOMEWHERE"`,
			}},
		{name: "redirect excludes fault and rewrite", spec: `
hosts: [web]
http:
- redirect: {uri: /a}
  fault: {abort: {httpStatus: 500}}
  rewrite: {uri: /b}
- directResponse: {status: 200}
  rewrite: {authority: b}`,
			want: []string{
				"spec.http[0].fault: Forbidden: fault injection cannot be combined with redirect",
				"spec.http[0].rewrite: Forbidden: rewrite cannot be combined with redirect",
				"spec.http[1].rewrite: Forbidden: rewrite cannot be combined with directResponse",
			}},
		{name: "direct response", spec: `
hosts: [web]
http:
- directResponse: {status: 700}
- directResponse: {status: 200, body: {string: a, bytes: YQ==}}
- directResponse: {status: 0}`,
			want: []string{
				"spec.http[0].directResponse.status: Invalid value: 700: HTTP status must be in 200-599",
				"spec.http[1].directResponse.body: Invalid value: \"\": only one of string or bytes",
				"spec.http[2].directResponse.status: Invalid value: 0",
			}},
		{name: "direct response body limit", spec: "hosts: [web]\nhttp: [{directResponse: {status: 200, body: {string: " + strings.Repeat("a", maxDirectResponseBody+1) + "}}}]",
			want: []string{`spec.http[0].directResponse.body: Invalid value: "1048577 bytes": a direct response body must not exceed 1MiB`}},
		{name: "rewrite", spec: `
hosts: [web]
http:
- {route: [{destination: {host: web}}], rewrite: {uri: /a, uriRegexRewrite: {match: "^/b", rewrite: /c}}}
- {route: [{destination: {host: web}}], rewrite: {}}
- {route: [{destination: {host: web}}], rewrite: {uriRegexRewrite: {match: "("}}}`,
			want: []string{
				"spec.http[0].rewrite.uriRegexRewrite: Forbidden: only one of uri or uriRegexRewrite",
				"spec.http[1].rewrite: Required value: a rewrite must set at least one of uri, uriRegexRewrite or authority",
				`spec.http[2].rewrite.uriRegexRewrite.match: Invalid value: "("`,
				"spec.http[2].rewrite.uriRegexRewrite.rewrite: Required value",
			}},
		{name: "authority rewritten twice", spec: vsRule(`
  rewrite: {authority: a.internal}
  headers: {request: {set: {Host: b.internal}, add: {":authority": c.internal}}}`),
			want: []string{
				`spec.http[0].headers.request.set[Host]: Invalid value: "b.internal": the authority is already rewritten by spec.http[0].rewrite.authority`,
				`spec.http[0].headers.request.add[:authority]: Invalid value: "c.internal"`,
			}},
		{name: "mirror and mirrors", spec: vsRule(`
  mirror: {host: a}
  mirrors: [{destination: {host: b}}]`),
			want: []string{"spec.http[0].mirrors: Forbidden: mirror and mirrors cannot both be set"}},
		{name: "delegate names", spec: `
hosts: [web]
gateways: [istio-system/gw]
http:
- delegate: {}
- delegate: {name: Bad_Name, namespace: Bad_NS}`,
			want: []string{
				"spec.http[0].delegate.name: Required value",
				`spec.http[1].delegate.name: Invalid value: "Bad_Name": must be a VirtualService name`,
				`spec.http[1].delegate.namespace: Invalid value: "Bad_NS"`,
			}},
		{name: "delegate with route", spec: `
hosts: [web]
http: [{delegate: {name: a}, route: [{destination: {host: web}}]}]`,
			want: []string{"spec.http[0]: Invalid value: \"\": an HTTP rule may set only one of"}},
	})
}

func TestVirtualServiceHeadersAndCORS(t *testing.T) {
	runVS(t, []validationCase{
		{name: "header operations", spec: vsRule(`
  headers:
    request: {set: {":path": /x, "": a}, add: {"bad name": a}, remove: [host, ":method", x-ok]}
    response: {set: {host: a, ":status": "200"}, add: {x-ok: ok}, remove: [":authority"]}`),
			want: []string{
				`spec.http[0].headers.request.set[]: Invalid value: "": header name must not be empty`,
				`spec.http[0].headers.request.set[:path]: Invalid value: ":path": headers with a ":" prefix cannot be modified`,
				`spec.http[0].headers.request.add[bad name]: Invalid value: "bad name": not a valid HTTP header name`,
				`spec.http[0].headers.request.remove[0]: Invalid value: "host": the Host header cannot be modified`,
				`spec.http[0].headers.request.remove[1]: Invalid value: ":method"`,
				`spec.http[0].headers.response.set[:status]`,
				`spec.http[0].headers.response.set[host]`,
				`spec.http[0].headers.response.remove[0]: Invalid value: ":authority"`,
			}},
		{name: "header values", spec: vsRule(`
  headers:
    request: {set: {a: "abc%123", b: "%START_TIME%%", c: "line\nbreak", d: "%REQ(x-id) junk%", e: "%REQ(x"}}`),
			want: []string{
				`spec.http[0].headers.request.set[a]: Invalid value: "abc%123": unterminated %VARIABLE% expression`,
				`spec.http[0].headers.request.set[b]: Invalid value: "%START_TIME%%": unterminated`,
				`spec.http[0].headers.request.set[c]: Invalid value: "line\nbreak": header value must not contain control characters`,
				`spec.http[0].headers.request.set[d]: Invalid value: "%REQ(x-id) junk%": expected % after the arguments`,
				`spec.http[0].headers.request.set[e]: Invalid value: "%REQ(x": unterminated %VARIABLE(...)% expression`,
			}},
		{name: "destination header operations", spec: `
hosts: [web]
http:
- route:
  - destination: {host: web}
    headers: {request: {set: {host: ok}, remove: [Host]}, response: {add: {":x": y}}}`,
			want: []string{
				`spec.http[0].route[0].headers.request.remove[0]: Invalid value: "Host"`,
				`spec.http[0].route[0].headers.response.add[:x]`,
			}},
		{name: "cors", spec: vsRule(`
  corsPolicy:
    allowOrigins: [{exact: ""}, {regex: "("}, {}, {exact: a, prefix: b}]
    allowMethods: [get, FOO, GET]
    allowHeaders: ["bad header", "*", ""]
    exposeHeaders: ["x y"]
    unmatchedPreflights: DROP`),
			want: []string{
				`spec.http[0].corsPolicy.allowOrigins[0]: Invalid value: "": an allowed origin needs a non-empty exact, prefix or regex`,
				`spec.http[0].corsPolicy.allowOrigins[1].regex: Invalid value: "("`,
				`spec.http[0].corsPolicy.allowOrigins[2]: Invalid value: ""`,
				`spec.http[0].corsPolicy.allowOrigins[3]: Invalid value: "": only one of exact, prefix or regex`,
				`spec.http[0].corsPolicy.allowMethods[0]: Unsupported value: "get"`,
				`spec.http[0].corsPolicy.allowMethods[1]: Unsupported value: "FOO"`,
				`spec.http[0].corsPolicy.allowHeaders[0]: Invalid value: "bad header"`,
				`spec.http[0].corsPolicy.allowHeaders[2]: Invalid value: ""`,
				`spec.http[0].corsPolicy.exposeHeaders[0]`,
				`spec.http[0].corsPolicy.unmatchedPreflights: Unsupported value: "DROP"`,
			}},
	})
}

func TestVirtualServiceL4(t *testing.T) {
	runVS(t, []validationCase{
		{name: "tls and tcp", spec: `
hosts: ["*.example.com", db.internal]
gateways: [istio-system/passthrough]
tls:
- match: [{sniHosts: [a.example.com, "*.b.example.com", 10.0.0.1], port: 443, destinationSubnets: [10.0.0.0/8, "2001:db8::/32", 10.1.2.3]}]
  route: [{destination: {host: a.example.com, port: {number: 443}}}]
tcp:
- match: [{port: 5432, sourceLabels: {app: api}, sourceNamespace: shop, gateways: [istio-system/passthrough]}]
  route: [{destination: {host: db.internal}, weight: 100}]`},
		{name: "sni hosts outside the VirtualService hosts", spec: `
hosts: [secure, "*.example.com"]
tls:
- match: [{sniHosts: [secure.web.svc.cluster.local, "*.com", a.b.example.com, secure, "bad_sni"]}]
  route: [{destination: {host: secure}}]`,
			want: []string{
				`spec.tls[0].match[0].sniHosts[0]: Invalid value: "secure.web.svc.cluster.local": SNI host is not within any of the VirtualService hosts [secure, *.example.com]`,
				`spec.tls[0].match[0].sniHosts[1]: Invalid value: "*.com"`,
				`spec.tls[0].match[0].sniHosts[4]: Invalid value: "bad_sni"`,
			}},
		{name: "wildcard host covers every sni", spec: `
hosts: ["*"]
gateways: [istio-system/gw]
tls: [{match: [{sniHosts: [a.example.com, "*.b.com"]}], route: [{destination: {host: a.example.com}}]}]`},
		{name: "match attributes", spec: `
hosts: [db]
tls:
- match: [{sniHosts: [db], port: 70000, destinationSubnets: [10.0.0.0/33, abc], sourceLabels: {"a b": c}, gateways: ["a/b/c"]}]
  route: [{destination: {host: db}}]
tcp:
- match: [{port: 70000, destinationSubnets: ["::1/129"], sourceNamespace: "-ns"}]
  route: [{destination: {host: db}}]`,
			want: []string{
				`spec.tls[0].match[0].destinationSubnets[0]: Invalid value: "10.0.0.0/33": must be an IP address or CIDR range`,
				`spec.tls[0].match[0].destinationSubnets[1]: Invalid value: "abc"`,
				"spec.tls[0].match[0].port: Invalid value: 70000",
				`spec.tls[0].match[0].sourceLabels: Invalid value: "a b"`,
				`spec.tls[0].match[0].gateways[0]: Invalid value: "a/b/c"`,
				`spec.tcp[0].match[0].destinationSubnets[0]: Invalid value: "::1/129"`,
				"spec.tcp[0].match[0].port: Invalid value: 70000",
				`spec.tcp[0].match[0].sourceNamespace: Invalid value: "-ns"`,
			}},
		{name: "routes are required", spec: `
hosts: [db]
tls: [{match: [{sniHosts: [db]}]}]
tcp: [{match: [{port: 5432}]}]`,
			want: []string{
				"spec.tls[0].route: Required value: a route needs at least one destination",
				"spec.tcp[0].route: Required value",
			}},
		{name: "tls needs matches", spec: `
hosts: [db]
tls: [{match: [], route: [{destination: {host: db}}]}]`,
			want: []string{"spec.tls[0].match: Required value: a tls route needs at least one match"}},
		{name: "exportTo", spec: vsRule(`exportTo: [".", ".", Bad_NS, "~"]`),
			want: []string{
				`spec.exportTo[1]: Duplicate value: "."`,
				`spec.exportTo[2]: Invalid value: "Bad_NS": must be ., * or a namespace name`,
				`spec.exportTo[3]: Invalid value: "~": exportTo ~ (no namespace) is only allowed for ServiceEntries`,
			}},
		{name: "exportTo * alone", spec: vsRule(`exportTo: ["*", shop]`),
			want: []string{`spec.exportTo: Invalid value: ["*","shop"]: * exports to every namespace`}},
	})
}
