package translate

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshd-io/meshd/internal/ir"
)

// routeInput is a route of any kind, translated once and then attached to each of its
// parents.
type routeInput struct {
	key        RouteKey
	generation int64
	created    metav1.Time
	parentRefs []gatewayv1.ParentReference
	hostnames  []gatewayv1.Hostname
	// entries are an HTTPRoute's or GRPCRoute's rules, one per match; l4 a TCPRoute's
	// or TLSRoute's destinations.
	entries []routeEntry
	l4      []*ir.Destination
	// unsupported makes every parent refuse the route (UnsupportedValue); unresolved
	// is the first reference that did not resolve (ResolvedRefs=False).
	unsupported                  string
	unresolved, unresolvedReason string
}

// problem records the first unresolved reference; later ones add to the message.
func (r *routeInput) problem(reason gatewayv1.RouteConditionReason, msg string) {
	if r.unresolved == "" {
		r.unresolved, r.unresolvedReason = msg, string(reason)
		return
	}
	r.unresolved += "; " + msg
}

// attachRoutes attaches every route to its parents: listeners of meshd's Gateways, and
// Services (GAMMA mesh routing). Routes go oldest first, which is also the order the
// specification breaks precedence ties in.
func (t *translator) attachRoutes(gws []*gatewayState) {
	byKey := map[string]*gatewayState{}
	for _, g := range gws {
		byKey[g.key] = g
	}
	mesh := map[meshParent][]routeEntry{}
	for _, r := range t.routeInputs() {
		var parents []gatewayv1.RouteParentStatus
		for _, ref := range r.parentRefs {
			group, kind, ns := refTarget(ref.Group, ref.Kind, ref.Namespace, gatewayGroup, kindGateway, r.key.Namespace)
			var st *gatewayv1.RouteParentStatus
			switch {
			case group == gatewayGroup && kind == kindGateway:
				g := byKey[ns+"/"+string(ref.Name)]
				if g == nil {
					continue // not a Gateway of meshd's: another controller reports on it
				}
				st = t.attachToGateway(r, ref, g)
			case group == coreGroup && kind == kindService && (r.key.Kind == kindHTTP || r.key.Kind == kindGRPC):
				st = t.attachToService(r, ref, ns, mesh)
			default:
				continue
			}
			parents = append(parents, *st)
		}
		if len(parents) > 0 {
			t.report.GatewayAPI.Routes[r.key] = parents
		}
	}
	t.meshRoutes(mesh)
}

// attachToGateway attaches r to the listeners ref selects, and says why it did not.
func (t *translator) attachToGateway(r *routeInput, ref gatewayv1.ParentReference, g *gatewayState) *gatewayv1.RouteParentStatus {
	accept := func(ok bool, reason gatewayv1.RouteConditionReason, msg string) *gatewayv1.RouteParentStatus {
		return parentStatus(r, ref, GatewayController, ok, reason, msg)
	}
	if g.invalid != "" {
		return accept(false, gatewayv1.RouteReasonNoMatchingParent, fmt.Sprintf("Gateway %s is not accepted: %s", g.key, g.invalid))
	}
	var candidates []*listenerState
	for _, l := range g.listeners {
		if ref.SectionName != nil && *ref.SectionName != l.l.Name {
			continue
		}
		if ref.Port != nil && *ref.Port != l.l.Port {
			continue
		}
		candidates = append(candidates, l)
	}
	if len(candidates) == 0 {
		return accept(false, gatewayv1.RouteReasonNoMatchingParent, fmt.Sprintf("Gateway %s has no listener%s", g.key, sectionDescription(ref)))
	}
	var allowed []*listenerState
	for _, l := range candidates {
		if l.valid() && t.listenerAllows(l, r.key) {
			allowed = append(allowed, l)
		}
	}
	if len(allowed) == 0 {
		return accept(false, gatewayv1.RouteReasonNotAllowedByListeners,
			fmt.Sprintf("no valid listener of Gateway %s%s allows a %s from namespace %s", g.key, sectionDescription(ref), r.key.Kind, r.key.Namespace))
	}
	if r.unsupported != "" {
		return accept(false, gatewayv1.RouteReasonUnsupportedValue, r.unsupported)
	}
	attached := 0
	for _, l := range allowed {
		hosts := intersectHostnames(hostnameOf(l.l.Hostname), r.hostnames)
		if len(hosts) == 0 && r.key.Kind != kindTCP {
			continue
		}
		attached++
		l.attached++
		l.add(r, hosts)
	}
	if attached == 0 {
		return accept(false, gatewayv1.RouteReasonNoMatchingListenerHostname,
			fmt.Sprintf("hostnames %v match no listener hostname of Gateway %s%s", r.hostnames, g.key, sectionDescription(ref)))
	}
	return accept(true, gatewayv1.RouteReasonAccepted, fmt.Sprintf("attached to %d listener(s) of Gateway %s", attached, g.key))
}

func sectionDescription(ref gatewayv1.ParentReference) string {
	var parts []string
	if ref.SectionName != nil {
		parts = append(parts, fmt.Sprintf("named %q", *ref.SectionName))
	}
	if ref.Port != nil {
		parts = append(parts, fmt.Sprintf("on port %d", *ref.Port))
	}
	if len(parts) == 0 {
		return ""
	}
	return " " + strings.Join(parts, " ")
}

// resolvedRefs is the route's ResolvedRefs condition.
func (r *routeInput) resolvedRefs() metav1.Condition {
	if r.unresolved != "" {
		return condition(string(gatewayv1.RouteConditionResolvedRefs), false, r.unresolvedReason, r.generation, r.unresolved)
	}
	return condition(string(gatewayv1.RouteConditionResolvedRefs), true, gatewayv1.RouteReasonResolvedRefs, r.generation, "all references resolved")
}

// listenerAllows applies a listener's allowedRoutes: the route's kind, and its
// namespace (Same by default, All, or a label selector on namespaces).
func (t *translator) listenerAllows(l *listenerState, key RouteKey) bool {
	if !slices.ContainsFunc(l.supportedKinds, func(k gatewayv1.RouteGroupKind) bool { return string(k.Kind) == key.Kind }) {
		return false
	}
	from := gatewayv1.NamespacesFromSame
	var selector *metav1.LabelSelector
	if ar := l.l.AllowedRoutes; ar != nil && ar.Namespaces != nil {
		if ar.Namespaces.From != nil {
			from = *ar.Namespaces.From
		}
		selector = ar.Namespaces.Selector
	}
	gwNamespace := l.gatewayNamespace
	switch from {
	case gatewayv1.NamespacesFromAll:
		return true
	case gatewayv1.NamespacesFromSelector:
		if selector == nil {
			return false
		}
		sel, err := metav1.LabelSelectorAsSelector(selector)
		if err != nil {
			return false
		}
		return sel.Matches(labels.Set(t.snap.GatewayAPI.NamespaceLabels[key.Namespace]))
	}
	return key.Namespace == gwNamespace
}

// intersectHostnames returns the hostnames a route serves on a listener: the route's
// hostnames that the listener's hostname (possibly a wildcard) admits, narrowed to the
// more specific of the two. With no hostnames on either side it is "*".
func intersectHostnames(listener string, route []gatewayv1.Hostname) []string {
	if len(route) == 0 {
		if listener == "" {
			return []string{"*"}
		}
		return []string{listener}
	}
	var out []string
	for _, h := range route {
		rh := string(h)
		switch {
		case listener == "":
			out = append(out, rh)
		case hostMatches(listener, rh):
			out = append(out, rh)
		case hostMatches(rh, listener):
			out = append(out, listener)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// hostMatches reports whether pattern (exact or "*.suffix") admits host (exact or a
// wildcard no wider than pattern). A wildcard matches one or more labels.
func hostMatches(pattern, host string) bool {
	if pattern == host {
		return true
	}
	suffix, ok := strings.CutPrefix(pattern, "*")
	if !ok {
		return false
	}
	h := strings.TrimPrefix(host, "*")
	return strings.HasSuffix(h, suffix) && len(h) > len(suffix)
}

// add attaches a route's rules to the listener under each of its hostnames.
func (l *listenerState) add(r *routeInput, hosts []string) {
	if r.key.Kind == kindTCP || r.key.Kind == kindTLS {
		route := &ir.GatewayL4Route{Source: ir.ConfigRef{Kind: r.key.Kind, Namespace: r.key.Namespace, Name: r.key.Name}, Destinations: r.l4}
		if r.key.Kind == kindTLS {
			route.SNIHosts = hosts
		}
		l.l4 = append(l.l4, route)
		return
	}
	for _, h := range hosts {
		l.hosts[h] = append(l.hosts[h], r.entries...)
	}
}

// virtualHosts are the listener's routes by hostname, each in precedence order.
func (l *listenerState) virtualHosts() []*ir.VirtualHost {
	var out []*ir.VirtualHost
	for h, entries := range l.hosts {
		out = append(out, &ir.VirtualHost{Hostname: h, Routes: sortedRoutes(entries)})
	}
	slices.SortFunc(out, func(a, b *ir.VirtualHost) int { return compareHostSpecificity(a.Hostname, b.Hostname) })
	return out
}
