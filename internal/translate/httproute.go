package translate

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshd-io/meshd/internal/ir"
)

// routeEntry is one match of one rule, with what the specification orders matches by.
type routeEntry struct {
	route *ir.Route
	// Precedence: exact paths first, then regular expressions, then longer prefixes;
	// then method matches; then more header matches; then more query matches; then
	// the older route, its namespace/name, and rule and match order.
	pathRank        int // 0 exact, 1 regex, 2 prefix
	pathLen         int
	method          bool
	headers, query  int
	created         metav1.Time
	namespace, name string
	rule, match     int
}

func sortedRoutes(entries []routeEntry) []*ir.Route {
	sorted := slices.Clone(entries)
	slices.SortStableFunc(sorted, func(a, b routeEntry) int {
		if c := cmp.Compare(a.pathRank, b.pathRank); c != 0 {
			return c
		}
		if c := cmp.Compare(b.pathLen, a.pathLen); c != 0 {
			return c
		}
		if a.method != b.method {
			if a.method {
				return -1
			}
			return 1
		}
		if c := cmp.Or(cmp.Compare(b.headers, a.headers), cmp.Compare(b.query, a.query)); c != 0 {
			return c
		}
		if c := a.created.Compare(b.created.Time); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.namespace, b.namespace), cmp.Compare(a.name, b.name), cmp.Compare(a.rule, b.rule), cmp.Compare(a.match, b.match))
	})
	out := make([]*ir.Route, len(sorted))
	for i, e := range sorted {
		out[i] = e.route
	}
	return out
}

// routeInputs translates every route once, oldest first within each kind.
func (t *translator) routeInputs() []*routeInput {
	var out []*routeInput
	api := t.snap.GatewayAPI
	for _, r := range api.HTTPRoutes {
		out = append(out, t.httpRoute(r))
	}
	for _, r := range api.GRPCRoutes {
		out = append(out, t.grpcRoute(r))
	}
	for _, r := range api.TCPRoutes {
		in := newRouteInput(kindTCP, &r.ObjectMeta, r.Spec.ParentRefs, nil)
		if len(r.Spec.Rules) > 0 {
			in.l4 = t.backendRefs(in, plainBackends(r.Spec.Rules[0].BackendRefs), "spec.rules[0]")
		}
		if len(r.Spec.Rules) > 1 {
			in.unsupported = "spec.rules: a TCPRoute with more than one rule cannot be told apart on a stream; use one rule"
		}
		out = append(out, in)
	}
	for _, r := range api.TLSRoutes {
		in := newRouteInput(kindTLS, &r.ObjectMeta, r.Spec.ParentRefs, r.Spec.Hostnames)
		if len(r.Spec.Rules) > 0 {
			in.l4 = t.backendRefs(in, plainBackends(r.Spec.Rules[0].BackendRefs), "spec.rules[0]")
		}
		if len(r.Spec.Rules) > 1 {
			in.unsupported = "spec.rules: a TLSRoute with more than one rule cannot be told apart by SNI; use one rule"
		}
		out = append(out, in)
	}
	return out
}

func newRouteInput(kind string, m *metav1.ObjectMeta, parents []gatewayv1.ParentReference, hostnames []gatewayv1.Hostname) *routeInput {
	return &routeInput{key: RouteKey{Kind: kind, Namespace: m.Namespace, Name: m.Name}, generation: m.Generation,
		created: m.CreationTimestamp, parentRefs: parents, hostnames: hostnames}
}

// httpRoute translates an HTTPRoute's rules into routes, one per match.
func (t *translator) httpRoute(r *gatewayv1.HTTPRoute) *routeInput {
	in := newRouteInput(kindHTTP, &r.ObjectMeta, r.Spec.ParentRefs, r.Spec.Hostnames)
	for i, rule := range r.Spec.Rules {
		path := fmt.Sprintf("spec.rules[%d]", i)
		base := &ir.Route{Retry: defaultRetry()}
		backends := ruleBackends(in, path, rule.BackendRefs)
		for k, f := range rule.Filters {
			if msg := t.httpFilter(in, base, f); msg != "" {
				in.unsupported = fmt.Sprintf("%s.filters[%d]: %s", path, k, msg)
			}
		}
		if msg := timeouts(base, rule.Timeouts, rule.Retry); msg != "" {
			in.unsupported = path + ": " + msg
		}
		if base.Redirect == nil {
			forward(base, t.backendRefs(in, backends, path))
		}
		matches := rule.Matches
		if len(matches) == 0 {
			matches = []gatewayv1.HTTPRouteMatch{{}}
		}
		for j, m := range matches {
			route, entry := cloneRoute(base), routeEntry{created: in.created, namespace: in.key.Namespace, name: in.key.Name, rule: i, match: j}
			route.Name = routeName(in.key, rule.Name, i, j)
			route.Matches = []*ir.Match{httpMatch(m, &entry)}
			fixPrefixRewrite(route)
			entry.route = route
			in.entries = append(in.entries, entry)
		}
	}
	return in
}

// httpMatch converts a match and records its precedence. PathPrefix "/" is the default.
func httpMatch(m gatewayv1.HTTPRouteMatch, e *routeEntry) *ir.Match {
	out := &ir.Match{}
	typ, value := gatewayv1.PathMatchPathPrefix, "/"
	if m.Path != nil {
		if m.Path.Type != nil {
			typ = *m.Path.Type
		}
		if m.Path.Value != nil {
			value = *m.Path.Value
		}
	}
	switch typ {
	case gatewayv1.PathMatchExact:
		out.Path, e.pathRank = &ir.StringMatch{Kind: ir.MatchExact, Value: value}, 0
	case gatewayv1.PathMatchRegularExpression:
		out.Path, e.pathRank = &ir.StringMatch{Kind: ir.MatchRegex, Value: value}, 1
	default:
		if value != "/" {
			value = strings.TrimRight(value, "/")
		}
		out.Path, e.pathRank = &ir.StringMatch{Kind: ir.MatchPathSegments, Value: value}, 2
	}
	e.pathLen = len(value)
	for _, h := range m.Headers {
		out.Headers = append(out.Headers, &ir.HeaderMatch{Name: strings.ToLower(string(h.Name)), Match: valueMatch(h.Type, h.Value)})
	}
	if m.Method != nil {
		out.Headers = append(out.Headers, &ir.HeaderMatch{Name: ":method", Match: ir.StringMatch{Kind: ir.MatchExact, Value: string(*m.Method)}})
		e.method = true
	}
	for _, q := range m.QueryParams {
		out.QueryParams = append(out.QueryParams, &ir.QueryMatch{Name: string(q.Name), Match: valueMatch(q.Type, q.Value)})
	}
	e.headers, e.query = len(m.Headers), len(m.QueryParams)
	return out
}

// valueMatch is a header or query match: Exact unless RegularExpression.
func valueMatch[T ~string](typ *T, value string) ir.StringMatch {
	if typ != nil && string(*typ) == "RegularExpression" {
		return ir.StringMatch{Kind: ir.MatchRegex, Value: value}
	}
	return ir.StringMatch{Kind: ir.MatchExact, Value: value}
}

// httpFilter applies a rule-level filter to the route; it returns what is not
// supported.
func (t *translator) httpFilter(in *routeInput, r *ir.Route, f gatewayv1.HTTPRouteFilter) string {
	switch f.Type {
	case gatewayv1.HTTPRouteFilterRequestHeaderModifier, gatewayv1.HTTPRouteFilterResponseHeaderModifier:
		return backendFilter(&r.Headers, f.Type, f.RequestHeaderModifier, f.ResponseHeaderModifier)
	case gatewayv1.HTTPRouteFilterRequestRedirect:
		rr := f.RequestRedirect
		if rr == nil {
			return "requestRedirect is missing"
		}
		red := &ir.Redirect{Code: 302}
		if rr.StatusCode != nil {
			red.Code = uint32(*rr.StatusCode)
		}
		if rr.Scheme != nil {
			red.Scheme = *rr.Scheme
		}
		if rr.Hostname != nil {
			red.Authority = string(*rr.Hostname)
		}
		if rr.Port != nil {
			red.Port = uint32(*rr.Port)
		}
		if p := rr.Path; p != nil {
			switch {
			case p.Type == gatewayv1.FullPathHTTPPathModifier && p.ReplaceFullPath != nil:
				red.Path = *p.ReplaceFullPath
			case p.Type == gatewayv1.PrefixMatchHTTPPathModifier && p.ReplacePrefixMatch != nil:
				red.PrefixRewrite = *p.ReplacePrefixMatch
			}
		}
		r.Redirect = red
	case gatewayv1.HTTPRouteFilterURLRewrite:
		rw := f.URLRewrite
		if rw == nil {
			return "urlRewrite is missing"
		}
		out := &ir.Rewrite{}
		if rw.Hostname != nil {
			out.Authority = string(*rw.Hostname)
		}
		if p := rw.Path; p != nil {
			switch {
			case p.Type == gatewayv1.FullPathHTTPPathModifier && p.ReplaceFullPath != nil:
				out.RegexMatch, out.RegexSubstitution = "^/.*$", *p.ReplaceFullPath
			case p.Type == gatewayv1.PrefixMatchHTTPPathModifier && p.ReplacePrefixMatch != nil:
				out.URI = *p.ReplacePrefixMatch
			}
		}
		r.Rewrite = out
	case gatewayv1.HTTPRouteFilterRequestMirror:
		m := f.RequestMirror
		if m == nil {
			return "requestMirror is missing"
		}
		bk := backend{ref: gatewayv1.BackendRef{BackendObjectReference: m.BackendRef}}
		dests := t.backendRefs(in, []backend{bk}, "requestMirror")
		if len(dests) == 0 {
			return ""
		}
		percent := 100.0
		if m.Percent != nil {
			percent = float64(*m.Percent)
		} else if fr := m.Fraction; fr != nil {
			den := int32(100)
			if fr.Denominator != nil && *fr.Denominator > 0 {
				den = *fr.Denominator
			}
			percent = 100 * float64(fr.Numerator) / float64(den)
		}
		r.Mirrors = append(r.Mirrors, &ir.Mirror{Cluster: dests[0].Cluster, Percent: percent})
	default:
		return fmt.Sprintf("filter type %q is not supported by meshd", f.Type)
	}
	return ""
}

// backendFilter applies header modifiers, the only filters meshd takes on a backend.
func backendFilter[T ~string](h *ir.HeaderOps, typ T, req, resp *gatewayv1.HTTPHeaderFilter) string {
	switch string(typ) {
	case string(gatewayv1.HTTPRouteFilterRequestHeaderModifier):
		if req != nil {
			h.RequestSet = append(h.RequestSet, headerValues(req.Set)...)
			h.RequestAdd = append(h.RequestAdd, headerValues(req.Add)...)
			h.RequestRemove = append(h.RequestRemove, req.Remove...)
		}
	case string(gatewayv1.HTTPRouteFilterResponseHeaderModifier):
		if resp != nil {
			h.ResponseSet = append(h.ResponseSet, headerValues(resp.Set)...)
			h.ResponseAdd = append(h.ResponseAdd, headerValues(resp.Add)...)
			h.ResponseRemove = append(h.ResponseRemove, resp.Remove...)
		}
	default:
		return fmt.Sprintf("filter type %q is not supported here", typ)
	}
	return ""
}

func headerValues(hs []gatewayv1.HTTPHeader) []ir.KeyValue {
	out := make([]ir.KeyValue, 0, len(hs))
	for _, h := range hs {
		out = append(out, ir.KeyValue{Key: strings.ToLower(string(h.Name)), Value: h.Value})
	}
	return out
}

// timeouts applies a rule's timeouts and retry: request is the whole request's
// deadline, backendRequest each try's.
func timeouts(r *ir.Route, to *gatewayv1.HTTPRouteTimeouts, retry *gatewayv1.HTTPRouteRetry) string {
	if to != nil {
		if to.Request != nil {
			d, err := time.ParseDuration(string(*to.Request))
			if err != nil {
				return fmt.Sprintf("timeouts.request: %v", err)
			}
			if d > 0 { // 0 means no timeout
				r.Timeout = &d
			}
		}
		if to.BackendRequest != nil {
			d, err := time.ParseDuration(string(*to.BackendRequest))
			if err != nil {
				return fmt.Sprintf("timeouts.backendRequest: %v", err)
			}
			r.Retry.PerTryTimeout = &d
		}
	}
	if retry != nil {
		if retry.Attempts != nil {
			r.Retry.Attempts = uint32(*retry.Attempts)
		}
		if len(retry.Codes) > 0 {
			r.Retry.RetryOn = "retriable-status-codes"
			for _, c := range retry.Codes {
				r.Retry.RetriableStatusCodes = append(r.Retry.RetriableStatusCodes, uint32(c))
			}
		}
		if retry.Backoff != nil {
			d, err := time.ParseDuration(string(*retry.Backoff))
			if err != nil {
				return fmt.Sprintf("retry.backoff: %v", err)
			}
			r.Retry.Backoff = &d
		}
	}
	return ""
}

// forward sends the route to its destinations; with none left (every backend invalid
// or weighted zero) it answers 500, as the specification asks.
func forward(r *ir.Route, dests []*ir.Destination) {
	if len(dests) == 0 {
		r.DirectResponse = &ir.DirectResponse{Status: 500}
		r.Retry = nil
		return
	}
	r.Forward = &ir.Forward{Destinations: dests}
}

// fixPrefixRewrite: replacing a matched prefix with "/" must not leave a double slash
// (/foo/bar with prefix /foo becomes /bar), which a plain prefix rewrite would.
func fixPrefixRewrite(r *ir.Route) {
	rw := r.Rewrite
	if rw == nil || rw.URI == "" || len(r.Matches) == 0 || r.Matches[0].Path == nil {
		return
	}
	m := r.Matches[0].Path
	if m.Kind != ir.MatchPathSegments || m.Value == "/" {
		return
	}
	if rw.URI == "/" {
		rw.RegexMatch, rw.RegexSubstitution, rw.URI = "^"+regexp.QuoteMeta(m.Value)+"/*", "/", ""
	}
}

func cloneRoute(r *ir.Route) *ir.Route {
	c := *r
	if r.Retry != nil {
		retry := *r.Retry
		c.Retry = &retry
	}
	return &c
}

// routeName names a route for stats and debugging: the rule's name when it has one.
func routeName(k RouteKey, rule *gatewayv1.SectionName, i, j int) string {
	if rule != nil && *rule != "" {
		return fmt.Sprintf("%s.%s.%s.%d", k.Namespace, k.Name, *rule, j)
	}
	return fmt.Sprintf("%s.%s.%d.%d", k.Namespace, k.Name, i, j)
}
