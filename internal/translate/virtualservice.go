package translate

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/model"
	"github.com/meshd-io/meshd/internal/validate"
)

// Istio's retry policy when a route sets none.
const (
	defaultRetryAttempts = 2
	defaultRetryOn       = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
)

func defaultRetry() *ir.Retry {
	return &ir.Retry{Attempts: defaultRetryAttempts, RetryOn: defaultRetryOn, AvoidPreviousHosts: true}
}

// virtualServices attaches each valid mesh VirtualService (gateways unset or listing
// "mesh") to the HTTP ports of the services its hosts name. Oldest first: for sidecars
// Istio does not merge VirtualServices, the oldest claim on a host wins.
func (t *translator) virtualServices() {
	claimed := map[string]ir.ConfigRef{} // host -> VirtualService that owns it for the mesh
	for _, vs := range t.snap.VirtualServices {
		ref := ir.ConfigRef{Kind: "VirtualService", Namespace: vs.Namespace, Name: vs.Name}
		if t.restricted.skips(ref) || !t.begin(ref) {
			continue
		}
		rep := t.report.object(ref, vs.Generation)
		if rep.Invalid = validate.VirtualService(&vs.Spec); len(rep.Invalid) > 0 {
			continue
		}
		if !appliesToMesh(vs.Spec.Gateways) {
			rep.Unsupported = append(rep.Unsupported, "gateways other than mesh (Istio Gateway objects are not served yet)")
			continue
		}
		if len(vs.Spec.Hosts) == 0 {
			continue // a delegate: used through the VirtualService that delegates to it
		}
		vis := exportTo(vs.Spec.ExportTo, vs.Namespace)
		rep.Visibility = vis
		for _, h := range vs.Spec.Hosts {
			host := t.resolveHost(h, vs.Namespace)
			svcs := t.matchingServices(host)
			if len(svcs) == 0 {
				rep.unresolved(ReasonHostNotFound, fmt.Sprintf("host %s matches no service", host))
				continue
			}
			for _, svc := range svcs {
				if owner, ok := claimed[svc.Hostname]; ok && owner != ref {
					rep.Conflicts = append(rep.Conflicts, fmt.Sprintf(
						"host %s is already routed by the older VirtualService %s/%s; this one is ignored for it",
						svc.Hostname, owner.Namespace, owner.Name))
					continue
				}
				claimed[svc.Hostname] = ref
				t.restricted.mutating(svc)
				for _, port := range svc.Ports {
					if !model.Protocol(port.Protocol).CarriesHTTPRoutes() {
						if len(vs.Spec.TCP)+len(vs.Spec.TLS) > 0 {
							port.L4Tables = append(port.L4Tables, t.l4Table(vs, ref, vis, port.Number, rep))
						}
						continue
					}
					table := &ir.RouteTable{Source: ref, ExportTo: vis}
					for i := range vs.Spec.HTTP {
						table.Routes = append(table.Routes, t.httpRoutes(&vs.Spec.HTTP[i], vs.Namespace, port.Number, rep)...)
					}
					port.RouteTables = append(port.RouteTables, table)
				}
			}
		}
	}
}

func appliesToMesh(gateways []string) bool {
	if len(gateways) == 0 {
		return true
	}
	for _, g := range gateways {
		if g == validate.MeshGateway {
			return true
		}
	}
	return false
}

// httpRoutes translates one HTTP rule for one service port. A delegate rule expands to
// the delegate's rules, each with its matches narrowed by the root's.
func (t *translator) httpRoutes(r *networkingv1.HTTPRoute, ns string, port uint32, rep *ObjectReport) []*ir.Route {
	matches, ok := httpMatches(r.Match, port)
	if !ok {
		return nil // every match names another port
	}
	if r.Delegate != nil {
		return t.delegate(r, matches, ns, port, rep)
	}
	out := &ir.Route{Name: r.Name, Matches: matches}
	switch {
	case r.Redirect != nil:
		out.Redirect = redirect(r.Redirect)
	case r.DirectResponse != nil:
		out.DirectResponse = directResponse(r.DirectResponse)
	default:
		out.Forward = &ir.Forward{}
		for _, d := range r.Route {
			out.Forward.Destinations = append(out.Forward.Destinations, &ir.Destination{
				Weight: uint32(max(d.Weight, 0)), Headers: headerOps(d.Headers),
			})
			t.destination(&d.Destination, ns, port, out.Forward.Destinations[len(out.Forward.Destinations)-1], rep)
		}
		if len(out.Forward.Destinations) == 1 && out.Forward.Destinations[0].Weight == 0 {
			out.Forward.Destinations[0].Weight = 100
		}
	}
	out.Rewrite = rewrite(r.Rewrite)
	out.Timeout = duration(r.Timeout)
	if out.Timeout != nil && *out.Timeout == 0 {
		out.Timeout = nil
	}
	out.Retry = retry(r.Retries)
	out.Fault = fault(r.Fault)
	out.Mirrors = t.mirrors(r, ns, port, rep)
	out.CORS = cors(r.CorsPolicy)
	out.Headers = headerOps(r.Headers)
	return []*ir.Route{out}
}

// delegate inlines the delegate VirtualService's rules (one level, as Istio allows).
func (t *translator) delegate(r *networkingv1.HTTPRoute, rootMatches []*ir.Match, ns string, port uint32, rep *ObjectReport) []*ir.Route {
	dns := r.Delegate.Namespace
	if dns == "" {
		dns = ns
	}
	for _, vs := range t.snap.VirtualServices {
		if vs.Namespace != dns || vs.Name != r.Delegate.Name {
			continue
		}
		if len(vs.Spec.Hosts) > 0 || len(validate.VirtualService(&vs.Spec)) > 0 {
			break
		}
		var out []*ir.Route
		for i := range vs.Spec.HTTP {
			dr := &vs.Spec.HTTP[i]
			if dr.Delegate != nil {
				continue // one level only; validation reports it on the delegate
			}
			for _, route := range t.httpRoutes(dr, vs.Namespace, port, rep) {
				route.Matches = mergeMatches(rootMatches, route.Matches)
				if route.Matches != nil || len(rootMatches) == 0 {
					out = append(out, route)
				}
			}
		}
		return out
	}
	rep.unresolved(ReasonHostNotFound, fmt.Sprintf("delegate VirtualService %s/%s not found (it must exist and have no hosts)", dns, r.Delegate.Name))
	return nil
}

// mergeMatches ANDs the root's matches with a delegate's: each pair that can both hold
// becomes one match. Nil means "no match survives" when the root had matches.
func mergeMatches(root, child []*ir.Match) []*ir.Match {
	if len(root) == 0 {
		return child
	}
	if len(child) == 0 {
		return root
	}
	var out []*ir.Match
	for _, r := range root {
		for _, c := range child {
			m := *c
			if m.Path == nil {
				m.Path = r.Path
			}
			m.Headers = append(append([]*ir.HeaderMatch{}, r.Headers...), c.Headers...)
			m.QueryParams = append(append([]*ir.QueryMatch{}, r.QueryParams...), c.QueryParams...)
			out = append(out, &m)
		}
	}
	return out
}

// destination fills a route destination: its cluster name and port, and reports
// references that resolve to nothing.
func (t *translator) destination(d *networkingv1.Destination, ns string, port uint32, out *ir.Destination, rep *ObjectReport) {
	host := t.resolveHost(d.Host, ns)
	out.Hostname, out.Subset = host, d.Subset
	svc := t.services[host]
	switch {
	case d.Port != nil && d.Port.Number != 0:
		out.Port = d.Port.Number
	case svc != nil && len(svc.Ports) == 1:
		out.Port = svc.Ports[0].Number
	default:
		out.Port = port
	}
	out.Cluster = ir.ClusterName(out.Port, d.Subset, host)
	if svc == nil {
		rep.unresolved(ReasonHostNotFound, fmt.Sprintf("destination host %s matches no service", host))
		return
	}
	if !hasPort(svc, out.Port) {
		rep.unresolved(ReasonPortNotFound, fmt.Sprintf("service %s has no port %d", host, out.Port))
	}
	if d.Subset != "" && !hasSubset(svc, d.Subset) {
		rep.unresolved(ReasonSubsetNotFound, fmt.Sprintf("subset %s of %s is defined by no DestinationRule", d.Subset, host))
	}
}

func hasPort(svc *ir.Service, n uint32) bool {
	for _, p := range svc.Ports {
		if p.Number == n {
			return true
		}
	}
	return false
}

func hasSubset(svc *ir.Service, name string) bool {
	for _, p := range svc.Policies {
		if p.Subset(name) != nil {
			return true
		}
	}
	return false
}

// httpMatches converts the rule's matches for one port. ok is false when the rule has
// matches but none applies to this port.
func httpMatches(ms []networkingv1.HTTPMatchRequest, port uint32) ([]*ir.Match, bool) {
	if len(ms) == 0 {
		return nil, true
	}
	var out []*ir.Match
	for i := range ms {
		m := &ms[i]
		if (m.Port != 0 && m.Port != port) || !matchAppliesToMesh(m.Gateways) {
			continue
		}
		im := &ir.Match{Name: m.Name, Path: stringMatch(m.URI), CaseInsensitive: m.IgnoreURICase,
			Port: m.Port, SourceLabels: m.SourceLabels, SourceNamespace: m.SourceNamespace}
		for _, pseudo := range []struct {
			name string
			sm   *networkingv1.StringMatch
		}{{":method", m.Method}, {":authority", m.Authority}, {":scheme", m.Scheme}} {
			if sm := stringMatch(pseudo.sm); sm != nil {
				im.Headers = append(im.Headers, &ir.HeaderMatch{Name: pseudo.name, Match: *sm})
			}
		}
		for _, name := range slices.Sorted(maps.Keys(m.Headers)) {
			sm := m.Headers[name]
			im.Headers = append(im.Headers, &ir.HeaderMatch{Name: strings.ToLower(name), Match: presentOr(&sm)})
		}
		for _, name := range slices.Sorted(maps.Keys(m.WithoutHeaders)) {
			sm := m.WithoutHeaders[name]
			im.Headers = append(im.Headers, &ir.HeaderMatch{Name: strings.ToLower(name), Match: presentOr(&sm), Invert: true})
		}
		for _, name := range slices.Sorted(maps.Keys(m.QueryParams)) {
			sm := m.QueryParams[name]
			im.QueryParams = append(im.QueryParams, &ir.QueryMatch{Name: name, Match: presentOr(&sm)})
		}
		out = append(out, im)
	}
	return out, len(out) > 0
}

func stringMatch(sm *networkingv1.StringMatch) *ir.StringMatch {
	switch {
	case sm == nil:
		return nil
	case sm.Exact != nil:
		return &ir.StringMatch{Kind: ir.MatchExact, Value: *sm.Exact}
	case sm.Prefix != nil:
		return &ir.StringMatch{Kind: ir.MatchPrefix, Value: *sm.Prefix}
	case sm.Regex != nil:
		return &ir.StringMatch{Kind: ir.MatchRegex, Value: *sm.Regex}
	}
	return nil
}

// presentOr is a header or query match; an empty one ({}) means "present".
func presentOr(sm *networkingv1.StringMatch) ir.StringMatch {
	if m := stringMatch(sm); m != nil {
		return *m
	}
	return ir.StringMatch{Kind: ir.MatchPresent}
}

func redirect(r *networkingv1.HTTPRedirect) *ir.Redirect {
	out := &ir.Redirect{Path: r.URI, Authority: r.Authority, Scheme: r.Scheme, Code: r.RedirectCode}
	if out.Code == 0 {
		out.Code = 301
	}
	if r.Port != nil {
		out.Port = *r.Port
	}
	if r.DerivePort != nil {
		out.DerivePort = string(*r.DerivePort)
	}
	return out
}

func directResponse(d *networkingv1.HTTPDirectResponse) *ir.DirectResponse {
	out := &ir.DirectResponse{Status: d.Status}
	if d.Body != nil {
		if d.Body.String != nil {
			out.Body = []byte(*d.Body.String)
		} else {
			out.Body = d.Body.Bytes
		}
	}
	return out
}

func rewrite(r *networkingv1.HTTPRewrite) *ir.Rewrite {
	if r == nil {
		return nil
	}
	out := &ir.Rewrite{URI: r.URI, Authority: r.Authority}
	if rr := r.URIRegexRewrite; rr != nil {
		out.RegexMatch, out.RegexSubstitution = rr.Match, rr.Rewrite
	}
	return out
}

// retry applies Istio's defaults: no policy means 2 attempts on connection failures and
// retriable gRPC statuses; attempts 0 means no retries; codes in retryOn become
// retriable status codes.
func retry(r *networkingv1.HTTPRetry) *ir.Retry {
	if r == nil {
		return defaultRetry()
	}
	if r.Attempts == 0 {
		return nil
	}
	out := &ir.Retry{Attempts: uint32(r.Attempts), PerTryTimeout: duration(r.PerTryTimeout),
		Backoff: duration(r.Backoff), AvoidPreviousHosts: true}
	if r.RetryIgnorePreviousHosts != nil {
		out.AvoidPreviousHosts = *r.RetryIgnorePreviousHosts
	}
	if r.RetryRemoteLocalities != nil {
		out.RetryRemoteLocalities = *r.RetryRemoteLocalities
	}
	on := r.RetryOn
	if on == "" {
		on = defaultRetryOn
	}
	var policies []string
	for _, p := range strings.Split(on, ",") {
		p = strings.TrimSpace(p)
		if code, err := strconv.Atoi(p); err == nil {
			out.RetriableStatusCodes = append(out.RetriableStatusCodes, uint32(code))
			continue
		}
		if p != "" {
			policies = append(policies, p)
		}
	}
	if len(out.RetriableStatusCodes) > 0 && !slices.Contains(policies, "retriable-status-codes") {
		policies = append(policies, "retriable-status-codes")
	}
	out.RetryOn = strings.Join(policies, ",")
	return out
}

// grpcStatusCodes maps the gRPC status names Istio accepts to their numbers.
var grpcStatusCodes = map[string]uint32{
	"OK": 0, "CANCELLED": 1, "UNKNOWN": 2, "INVALID_ARGUMENT": 3, "DEADLINE_EXCEEDED": 4,
	"NOT_FOUND": 5, "ALREADY_EXISTS": 6, "PERMISSION_DENIED": 7, "RESOURCE_EXHAUSTED": 8,
	"FAILED_PRECONDITION": 9, "ABORTED": 10, "OUT_OF_RANGE": 11, "UNIMPLEMENTED": 12,
	"INTERNAL": 13, "UNAVAILABLE": 14, "DATA_LOSS": 15, "UNAUTHENTICATED": 16,
}

func fault(f *networkingv1.HTTPFaultInjection) *ir.Fault {
	if f == nil {
		return nil
	}
	out := &ir.Fault{}
	if d := f.Delay; d != nil && d.FixedDelay != nil {
		if fixed := duration(d.FixedDelay); fixed != nil {
			out.Delay = &ir.FaultDelay{Fixed: *fixed, Percent: percent(d.Percentage, d.Percent)}
		}
	}
	if a := f.Abort; a != nil {
		ab := &ir.FaultAbort{Percent: percent(a.Percentage, 0)}
		switch {
		case a.HTTPStatus != nil:
			ab.HTTPStatus = uint32(*a.HTTPStatus)
		case a.GrpcStatus != nil:
			code, ok := grpcStatusCodes[strings.ToUpper(*a.GrpcStatus)]
			if !ok {
				if n, err := strconv.Atoi(*a.GrpcStatus); err == nil {
					code, ok = uint32(n), true
				}
			}
			if !ok {
				ab = nil
				break
			}
			ab.GRPCStatus = code
		default:
			ab = nil // http2Error: Istio does not support it either
		}
		out.Abort = ab
	}
	if out.Delay == nil && out.Abort == nil {
		return nil
	}
	return out
}

// percent reads a percentage; unset means 100, as Istio's fault injection does.
func percent(p *networkingv1.Percent, legacy int32) float64 {
	switch {
	case p != nil:
		return float64(p.Value)
	case legacy > 0:
		return float64(legacy)
	}
	return 100
}

func (t *translator) mirrors(r *networkingv1.HTTPRoute, ns string, port uint32, rep *ObjectReport) []*ir.Mirror {
	var out []*ir.Mirror
	add := func(d *networkingv1.Destination, pct float64) {
		dest := &ir.Destination{}
		t.destination(d, ns, port, dest, rep)
		out = append(out, &ir.Mirror{Cluster: dest.Cluster, Percent: pct})
	}
	if r.Mirror != nil {
		pct := 100.0
		switch {
		case r.MirrorPercentage != nil:
			pct = float64(r.MirrorPercentage.Value)
		case r.MirrorPercent != nil:
			pct = float64(*r.MirrorPercent)
		case r.DeprecatedMirrorPercent != nil:
			pct = float64(*r.DeprecatedMirrorPercent)
		}
		add(r.Mirror, pct)
	}
	for i := range r.Mirrors {
		m := &r.Mirrors[i]
		pct := 100.0
		if m.Percentage != nil {
			pct = float64(m.Percentage.Value)
		}
		add(&m.Destination, pct)
	}
	return out
}

func cors(c *networkingv1.CorsPolicy) *ir.CORS {
	if c == nil {
		return nil
	}
	out := &ir.CORS{AllowMethods: c.AllowMethods, AllowHeaders: c.AllowHeaders, ExposeHeaders: c.ExposeHeaders,
		MaxAge: duration(c.MaxAge), AllowCredentials: c.AllowCredentials,
		UnmatchedPreflightsForward: c.UnmatchedPreflights != networkingv1.UnmatchedPreflightsIgnore}
	for i := range c.AllowOrigins {
		if sm := stringMatch(&c.AllowOrigins[i]); sm != nil {
			out.AllowOrigins = append(out.AllowOrigins, sm)
		}
	}
	for _, o := range c.AllowOrigin { // deprecated exact origins
		out.AllowOrigins = append(out.AllowOrigins, &ir.StringMatch{Kind: ir.MatchExact, Value: o})
	}
	return out
}

func headerOps(h *networkingv1.Headers) ir.HeaderOps {
	var out ir.HeaderOps
	if h == nil {
		return out
	}
	if r := h.Request; r != nil {
		out.RequestSet, out.RequestAdd, out.RequestRemove = keyValues(r.Set), keyValues(r.Add), sortedCopy(r.Remove)
	}
	if r := h.Response; r != nil {
		out.ResponseSet, out.ResponseAdd, out.ResponseRemove = keyValues(r.Set), keyValues(r.Add), sortedCopy(r.Remove)
	}
	return out
}

func keyValues(m map[string]string) []ir.KeyValue {
	var out []ir.KeyValue
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, ir.KeyValue{Key: k, Value: m[k]})
	}
	return out
}

func sortedCopy(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
