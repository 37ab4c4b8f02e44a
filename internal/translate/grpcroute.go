package translate

import (
	"fmt"
	"regexp"
	"strings"

	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshd-io/meshd/internal/ir"
)

// grpcRoute translates a GRPCRoute: gRPC is HTTP/2 with the method in the path
// (/<service>/<method>), so its matches become path matches.
func (t *translator) grpcRoute(r *gatewayv1.GRPCRoute) *routeInput {
	in := newRouteInput(kindGRPC, &r.ObjectMeta, r.Spec.ParentRefs, r.Spec.Hostnames)
	for i, rule := range r.Spec.Rules {
		path := fmt.Sprintf("spec.rules[%d]", i)
		base := &ir.Route{Retry: defaultRetry()}
		refs := make([]gatewayv1.HTTPBackendRef, 0, len(rule.BackendRefs))
		for _, b := range rule.BackendRefs {
			refs = append(refs, gatewayv1.HTTPBackendRef{BackendRef: b.BackendRef, Filters: httpFilters(b.Filters)})
		}
		backends := ruleBackends(in, path, refs)
		for k, f := range httpFilters(rule.Filters) {
			if msg := t.httpFilter(in, base, f); msg != "" {
				in.unsupported = fmt.Sprintf("%s.filters[%d]: %s", path, k, msg)
			}
		}
		forward(base, t.backendRefs(in, backends, path))
		matches := rule.Matches
		if len(matches) == 0 {
			matches = []gatewayv1.GRPCRouteMatch{{}}
		}
		for j, m := range matches {
			route, entry := cloneRoute(base), routeEntry{created: in.created, namespace: in.key.Namespace, name: in.key.Name, rule: i, match: j}
			route.Name = routeName(in.key, rule.Name, i, j)
			route.Matches = []*ir.Match{grpcMatch(m, &entry)}
			entry.route = route
			in.entries = append(in.entries, entry)
		}
	}
	return in
}

// grpcMatch turns a method match into a path match: service and method exactly is the
// exact path, a service alone a prefix, a method alone (or regular expressions) an
// RE2 over the whole path.
func grpcMatch(m gatewayv1.GRPCRouteMatch, e *routeEntry) *ir.Match {
	out := &ir.Match{Path: &ir.StringMatch{Kind: ir.MatchPrefix, Value: "/"}}
	e.pathRank, e.pathLen = 2, 1
	if mm := m.Method; mm != nil {
		service, method := deref(mm.Service), deref(mm.Method)
		regex := mm.Type != nil && *mm.Type == gatewayv1.GRPCMethodMatchRegularExpression
		switch {
		case regex:
			out.Path = &ir.StringMatch{Kind: ir.MatchRegex, Value: "/" + orAny(service) + "/" + orAny(method)}
			e.pathRank = 1
		case service != "" && method != "":
			out.Path = &ir.StringMatch{Kind: ir.MatchExact, Value: "/" + service + "/" + method}
			e.pathRank = 0
		case service != "":
			out.Path = &ir.StringMatch{Kind: ir.MatchPrefix, Value: "/" + service + "/"}
		case method != "":
			out.Path = &ir.StringMatch{Kind: ir.MatchRegex, Value: "/[^/]+/" + regexp.QuoteMeta(method)}
			e.pathRank = 1
		}
		e.pathLen = len(service) + len(method)
	}
	for _, h := range m.Headers {
		out.Headers = append(out.Headers, &ir.HeaderMatch{Name: strings.ToLower(string(h.Name)), Match: valueMatch(h.Type, h.Value)})
	}
	e.headers = len(m.Headers)
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func orAny(re string) string {
	if re == "" {
		return "[^/]+"
	}
	return re
}

// httpFilters restates gRPC filters as the HTTP filters they are (same types and
// fields); ExtensionRef stays unsupported.
func httpFilters(fs []gatewayv1.GRPCRouteFilter) []gatewayv1.HTTPRouteFilter {
	out := make([]gatewayv1.HTTPRouteFilter, 0, len(fs))
	for _, f := range fs {
		out = append(out, gatewayv1.HTTPRouteFilter{Type: gatewayv1.HTTPRouteFilterType(f.Type), RequestHeaderModifier: f.RequestHeaderModifier,
			ResponseHeaderModifier: f.ResponseHeaderModifier, RequestMirror: f.RequestMirror})
	}
	return out
}
