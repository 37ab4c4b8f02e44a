package render

import (
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	faultcommonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/fault/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	previoushostsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshd-io/meshd/internal/ir"
)

// Routes renders a route table's routes in order. A route with several matches (ORed
// in Istio) becomes the same route once per match, since an Envoy route has a single
// match.
func Routes(routes []*ir.Route, find Lookup, f Flavor) []*routev3.Route {
	expanded := expandMatches(routes, f)
	out := make([]*routev3.Route, 0, len(expanded))
	for _, r := range expanded {
		out = append(out, route(r, find, f))
	}
	return out
}

// routeParts are the messages of a route that forwards, allocated together: a route
// is kept or dropped whole, and one allocation in place of six was a fifth of
// rendering a large route table (the messages, not the work of filling them). A route
// that redirects or answers directly leaves the forwarding parts unused.
type routeParts struct {
	route   routev3.Route
	match   routev3.RouteMatch
	prefix  routev3.RouteMatch_Prefix
	forward routev3.Route_Route
	action  routev3.RouteAction
	cluster routev3.RouteAction_Cluster
}

func route(r *ir.Route, find Lookup, f Flavor) *routev3.Route {
	p := new(routeParts)
	out := &p.route
	out.Name = r.Name
	out.Match = p.routeMatch(r.Matches, f)
	switch {
	case r.Redirect != nil:
		out.Action = &routev3.Route_Redirect{Redirect: redirectAction(r.Redirect)}
	case r.DirectResponse != nil:
		out.Action = &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{
			Status: r.DirectResponse.Status,
			Body:   &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: r.DirectResponse.Body}},
		}}
	default:
		p.forward.Route = p.routeAction(r, find, f)
		out.Action = &p.forward
	}
	set, authority := splitAuthority(r.Headers.RequestSet)
	if ra := out.GetRoute(); ra != nil && authority != "" {
		// Envoy refuses to add the Host header; Istio turns setting it into a host
		// rewrite.
		ra.HostRewriteSpecifier = &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: authority}
	}
	out.RequestHeadersToAdd = headersToAdd(set, r.Headers.RequestAdd)
	out.RequestHeadersToRemove = r.Headers.RequestRemove
	out.ResponseHeadersToAdd = headersToAdd(r.Headers.ResponseSet, r.Headers.ResponseAdd)
	out.ResponseHeadersToRemove = r.Headers.ResponseRemove
	if fc := faultConfig(r.Fault); fc != nil {
		perFilter(out)[FaultFilter] = MustAny(fc)
	}
	// grpc-go has no CORS filter; gRPC calls carry no browser origin.
	if c := corsPolicy(r.CORS); c != nil && f != Proxyless {
		perFilter(out)[CORSFilter] = MustAny(c)
	}
	return out
}

// perFilter is the route's per-filter configs, made when the first is added: most
// routes have none.
func perFilter(r *routev3.Route) map[string]*anypb.Any {
	if r.TypedPerFilterConfig == nil {
		r.TypedPerFilterConfig = map[string]*anypb.Any{}
	}
	return r.TypedPerFilterConfig
}

// expandMatches turns routes with several matches into one route per match. For
// proxyless clients, matches on query parameters are left out: gRPC requests have no
// query string, and grpc-go drops any route that has them (xdsresource/unmarshal_rds.go).
func expandMatches(routes []*ir.Route, f Flavor) []*ir.Route {
	// Routes of one match or none, with nothing to drop, are used as they are; most
	// tables are only such routes.
	asIs := func(r *ir.Route) bool {
		return len(r.Matches) <= 1 && (f != Proxyless || len(r.Matches) == 0 || len(r.Matches[0].QueryParams) == 0)
	}
	if !slices.ContainsFunc(routes, func(r *ir.Route) bool { return !asIs(r) }) {
		return routes
	}
	out := make([]*ir.Route, 0, len(routes))
	for _, r := range routes {
		if asIs(r) {
			out = append(out, r)
			continue
		}
		var ms []*ir.Match
		for _, m := range r.Matches {
			if f != Proxyless || len(m.QueryParams) == 0 {
				ms = append(ms, m)
			}
		}
		if len(r.Matches) > 0 && len(ms) == 0 {
			continue
		}
		if len(ms) <= 1 {
			c := *r
			c.Matches = ms
			out = append(out, &c)
			continue
		}
		for _, m := range ms {
			c := *r
			c.Matches = []*ir.Match{m}
			out = append(out, &c)
		}
	}
	return out
}

// matchPathSegments matches a path prefix by whole segments: Envoy's
// path_separated_prefix, or for grpc-go (which lacks it) the equivalent RE2.
func matchPathSegments(out *routev3.RouteMatch, prefix string, f Flavor) {
	switch {
	case prefix == "/" || prefix == "":
		// the default prefix "/" stands
	case f != Proxyless:
		out.PathSpecifier = &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: prefix}
	default:
		out.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: regexp.QuoteMeta(prefix) + "(/.*)?"}}
	}
}

func (p *routeParts) routeMatch(ms []*ir.Match, f Flavor) *routev3.RouteMatch {
	out := &p.match
	p.prefix.Prefix = "/"
	out.PathSpecifier = &p.prefix
	if len(ms) == 0 {
		return out
	}
	m := ms[0] // callers expand multi-match routes first
	if m.Path != nil {
		switch m.Path.Kind {
		case ir.MatchExact:
			out.PathSpecifier = &routev3.RouteMatch_Path{Path: m.Path.Value}
		case ir.MatchPrefix:
			p.prefix.Prefix = m.Path.Value
		case ir.MatchRegex:
			out.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: m.Path.Value}}
		case ir.MatchPathSegments:
			matchPathSegments(out, m.Path.Value, f)
		}
	}
	if m.CaseInsensitive {
		out.CaseSensitive = wrapperspb.Bool(false)
	}
	for _, h := range m.Headers {
		hm := &routev3.HeaderMatcher{Name: h.Name, InvertMatch: h.Invert}
		if h.Match.Kind == ir.MatchPresent {
			hm.HeaderMatchSpecifier = &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}
		} else {
			hm.HeaderMatchSpecifier = &routev3.HeaderMatcher_StringMatch{StringMatch: stringMatcher(h.Match)}
		}
		out.Headers = append(out.Headers, hm)
	}
	for _, q := range m.QueryParams {
		qm := &routev3.QueryParameterMatcher{Name: q.Name}
		if q.Match.Kind == ir.MatchPresent {
			qm.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_PresentMatch{PresentMatch: true}
		} else {
			qm.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_StringMatch{StringMatch: stringMatcher(q.Match)}
		}
		out.QueryParameters = append(out.QueryParameters, qm)
	}
	return out
}

func stringMatcher(m ir.StringMatch) *matcherv3.StringMatcher {
	switch m.Kind {
	case ir.MatchPrefix:
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: m.Value}}
	case ir.MatchRegex:
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: m.Value}}}
	default:
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: m.Value}}
	}
}

func (p *routeParts) routeAction(r *ir.Route, find Lookup, f Flavor) *routev3.RouteAction {
	out := &p.action
	dests := r.Forward.Destinations
	if len(dests) == 1 && dests[0].Headers.IsEmpty() {
		p.cluster.Cluster = dests[0].Cluster
		out.ClusterSpecifier = &p.cluster
	} else {
		wc := &routev3.WeightedCluster{}
		for _, d := range dests {
			wc.Clusters = append(wc.Clusters, &routev3.WeightedCluster_ClusterWeight{
				Name: d.Cluster, Weight: wrapperspb.UInt32(d.Weight),
				RequestHeadersToAdd:     headersToAdd(d.Headers.RequestSet, d.Headers.RequestAdd),
				RequestHeadersToRemove:  d.Headers.RequestRemove,
				ResponseHeadersToAdd:    headersToAdd(d.Headers.ResponseSet, d.Headers.ResponseAdd),
				ResponseHeadersToRemove: d.Headers.ResponseRemove,
			})
		}
		out.ClusterSpecifier = &routev3.RouteAction_WeightedClusters{WeightedClusters: wc}
	}
	// No timeout is Istio's default; Envoy's own default would be 15s. grpc-go reads
	// the stream duration rather than the route timeout.
	timeout := time.Duration(0)
	out.Timeout = noTimeout // shared, as lastRetry is
	if r.Timeout != nil {
		timeout = *r.Timeout
		out.Timeout = durationpb.New(timeout)
	}
	if f == Proxyless {
		out.MaxStreamDuration = &routev3.RouteAction_MaxStreamDuration{
			MaxStreamDuration: durationpb.New(timeout), GrpcTimeoutHeaderMax: durationpb.New(timeout),
		}
	}
	out.RetryPolicy = retryPolicy(r.Retry)
	if rw := r.Rewrite; rw != nil {
		if rw.URI != "" {
			out.PrefixRewrite = rw.URI
		}
		if rw.RegexMatch != "" {
			out.RegexRewrite = &matcherv3.RegexMatchAndSubstitute{
				Pattern: &matcherv3.RegexMatcher{Regex: rw.RegexMatch}, Substitution: rw.RegexSubstitution,
			}
		}
		if rw.Authority != "" {
			out.HostRewriteSpecifier = &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: rw.Authority}
		}
	}
	for _, m := range r.Mirrors {
		out.RequestMirrorPolicies = append(out.RequestMirrorPolicies, &routev3.RouteAction_RequestMirrorPolicy{
			Cluster:         m.Cluster,
			RuntimeFraction: &corev3.RuntimeFractionalPercent{DefaultValue: fraction(m.Percent)},
		})
	}
	out.HashPolicy = hashPolicy(dests[0], find)
	return out
}

// hashPolicy comes from the consistentHash of the first destination's cluster policy,
// as Istio does.
func hashPolicy(d *ir.Destination, find Lookup) []*routev3.RouteAction_HashPolicy {
	svc, policy := find(d.Hostname)
	if svc == nil {
		return nil
	}
	eff := policy.EffectivePolicy(d.Port, d.Subset)
	if eff == nil || eff.LoadBalancer == nil || eff.LoadBalancer.ConsistentHash == nil {
		return nil
	}
	h := eff.LoadBalancer.ConsistentHash
	var hp *routev3.RouteAction_HashPolicy
	switch {
	case h.Header != "":
		hp = &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_Header_{
			Header: &routev3.RouteAction_HashPolicy_Header{HeaderName: h.Header}}}
	case h.Cookie != nil:
		c := &routev3.RouteAction_HashPolicy_Cookie{Name: h.Cookie.Name, Path: h.Cookie.Path}
		if h.Cookie.TTL != nil {
			c.Ttl = durationpb.New(*h.Cookie.TTL)
		}
		hp = &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_Cookie_{Cookie: c}}
	case h.SourceIP:
		hp = &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_ConnectionProperties_{
			ConnectionProperties: &routev3.RouteAction_HashPolicy_ConnectionProperties{SourceIp: true}}}
	case h.QueryParam != "":
		hp = &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_QueryParameter_{
			QueryParameter: &routev3.RouteAction_HashPolicy_QueryParameter{Name: h.QueryParam}}}
	default:
		return nil
	}
	return []*routev3.RouteAction_HashPolicy{hp}
}

var noTimeout = durationpb.New(0)

var previousHostsPredicate = onceAny(&previoushostsv3.PreviousHostsPredicate{})

// plainRetry keys the retry policies without lists or durations: Istio's default, on
// every route that sets none, is one of them.
type plainRetry struct {
	attempts uint32
	retryOn  string
	avoid    bool
}

type sharedRetry struct {
	key    plainRetry
	policy *routev3.RetryPolicy
}

// lastRetry is the plain retry policy rendered last, handed to every route with the
// same settings: building one per route was a tenth of a sidecar's route
// configurations. Routes share it, so nothing modifies a rendered route's policy.
var lastRetry atomic.Pointer[sharedRetry]

func retryPolicy(r *ir.Retry) *routev3.RetryPolicy {
	if r == nil {
		return nil
	}
	plain := r.PerTryTimeout == nil && r.Backoff == nil && len(r.RetriableStatusCodes) == 0
	key := plainRetry{r.Attempts, r.RetryOn, r.AvoidPreviousHosts}
	if last := lastRetry.Load(); plain && last != nil && last.key == key {
		return last.policy
	}
	out := buildRetryPolicy(r)
	if plain {
		lastRetry.Store(&sharedRetry{key, out})
	}
	return out
}

func buildRetryPolicy(r *ir.Retry) *routev3.RetryPolicy {
	out := &routev3.RetryPolicy{
		RetryOn:              r.RetryOn,
		NumRetries:           wrapperspb.UInt32(r.Attempts),
		RetriableStatusCodes: r.RetriableStatusCodes,
	}
	if r.PerTryTimeout != nil {
		out.PerTryTimeout = durationpb.New(*r.PerTryTimeout)
	}
	if r.Backoff != nil {
		out.RetryBackOff = &routev3.RetryPolicy_RetryBackOff{BaseInterval: durationpb.New(*r.Backoff)}
	}
	if r.AvoidPreviousHosts {
		out.RetryHostPredicate = []*routev3.RetryPolicy_RetryHostPredicate{{
			Name:       "envoy.retry_host_predicates.previous_hosts",
			ConfigType: &routev3.RetryPolicy_RetryHostPredicate_TypedConfig{TypedConfig: previousHostsPredicate()},
		}}
		out.HostSelectionRetryMaxAttempts = 5
	}
	return out
}

var redirectCodes = map[uint32]routev3.RedirectAction_RedirectResponseCode{
	301: routev3.RedirectAction_MOVED_PERMANENTLY,
	302: routev3.RedirectAction_FOUND,
	303: routev3.RedirectAction_SEE_OTHER,
	307: routev3.RedirectAction_TEMPORARY_REDIRECT,
	308: routev3.RedirectAction_PERMANENT_REDIRECT,
}

func redirectAction(r *ir.Redirect) *routev3.RedirectAction {
	out := &routev3.RedirectAction{HostRedirect: r.Authority, ResponseCode: redirectCodes[r.Code]}
	switch {
	case r.Path != "":
		out.PathRewriteSpecifier = &routev3.RedirectAction_PathRedirect{PathRedirect: r.Path}
	case r.PrefixRewrite != "":
		out.PathRewriteSpecifier = &routev3.RedirectAction_PrefixRewrite{PrefixRewrite: r.PrefixRewrite}
	}
	if r.Scheme != "" {
		out.SchemeRewriteSpecifier = &routev3.RedirectAction_SchemeRedirect{SchemeRedirect: r.Scheme}
	}
	switch {
	case r.Port != 0:
		out.PortRedirect = r.Port
	case r.DerivePort == "FROM_PROTOCOL_DEFAULT":
		// Envoy drops the port for the scheme's default when the scheme changes.
		if r.Scheme == "https" {
			out.PortRedirect = 443
		} else if r.Scheme == "http" {
			out.PortRedirect = 80
		}
	}
	return out
}

func faultConfig(f *ir.Fault) *faultv3.HTTPFault {
	if f == nil {
		return nil
	}
	out := &faultv3.HTTPFault{}
	if d := f.Delay; d != nil {
		out.Delay = &faultcommonv3.FaultDelay{
			FaultDelaySecifier: &faultcommonv3.FaultDelay_FixedDelay{FixedDelay: durationpb.New(d.Fixed)},
			Percentage:         fraction(d.Percent),
		}
	}
	if a := f.Abort; a != nil {
		abort := &faultv3.FaultAbort{Percentage: fraction(a.Percent)}
		if a.HTTPStatus != 0 {
			abort.ErrorType = &faultv3.FaultAbort_HttpStatus{HttpStatus: a.HTTPStatus}
		} else {
			abort.ErrorType = &faultv3.FaultAbort_GrpcStatus{GrpcStatus: a.GRPCStatus}
		}
		out.Abort = abort
	}
	return out
}

// fraction renders a percentage with Istio's precision (per million).
func fraction(pct float64) *typev3.FractionalPercent {
	return &typev3.FractionalPercent{Numerator: uint32(pct * 10000), Denominator: typev3.FractionalPercent_MILLION}
}

func headersToAdd(set, add []ir.KeyValue) []*corev3.HeaderValueOption {
	var out []*corev3.HeaderValueOption
	for _, kv := range set {
		out = append(out, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: kv.Key, Value: kv.Value},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD})
	}
	for _, kv := range add {
		out = append(out, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: kv.Key, Value: kv.Value},
			AppendAction: corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD})
	}
	return out
}

// splitAuthority takes a set of the Host header (":authority" or "host") out of a
// header set list.
func splitAuthority(set []ir.KeyValue) ([]ir.KeyValue, string) {
	var rest []ir.KeyValue
	authority := ""
	for _, kv := range set {
		if k := strings.ToLower(kv.Key); k == ":authority" || k == "host" {
			authority = kv.Value
			continue
		}
		rest = append(rest, kv)
	}
	return rest, authority
}
