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
		var backends []backend
		for j, b := range rule.BackendRefs {
			bk := backend{ref: b.BackendRef}
			for k, f := range b.Filters {
				if msg := backendFilter(&bk.headers, f.Type, f.RequestHeaderModifier, f.ResponseHeaderModifier); msg != "" {
					in.unsupported = fmt.Sprintf("%s.backendRefs[%d].filters[%d]: %s", path, j, k, msg)
				}
			}
			backends = append(backends, bk)
		}
		for k, f := range rule.Filters {
			hf := gatewayv1.HTTPRouteFilter{Type: gatewayv1.HTTPRouteFilterType(f.Type), RequestHeaderModifier: f.RequestHeaderModifier,
				ResponseHeaderModifier: f.ResponseHeaderModifier, RequestMirror: f.RequestMirror}
			if f.Type == gatewayv1.GRPCRouteFilterExtensionRef {
				hf.Type = "ExtensionRef" // refused below with its name
			}
			if msg := t.httpFilter(in, base, hf); msg != "" {
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
