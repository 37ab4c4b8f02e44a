package translate

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshd-io/meshd/dataplane/gateway"
	"github.com/meshd-io/meshd/internal/ir"
)

// gatewayState is one Gateway meshd controls, while its routes attach.
type gatewayState struct {
	gw        *gatewayv1.Gateway
	key       string
	class     string
	listeners []*listenerState
	// invalid is why the whole Gateway is refused (Accepted=False), with its reason.
	invalid, invalidReason string
	// addresses, or why there are none yet.
	addresses                        []gatewayv1.GatewayStatusAddress
	addressReason, addressReasonCode string
}

// listenerState is one listener: its validity and the routes attached to it.
type listenerState struct {
	l                gatewayv1.Listener
	gatewayNamespace string
	supportedKinds   []gatewayv1.RouteGroupKind
	// accepted, resolved and conflict are the listener's problems ("" when none),
	// with the reason each condition then carries.
	accepted, acceptedReason string
	resolved, resolvedReason string
	conflict, conflictReason string
	tls                      *ir.GatewayTLS
	attached                 int32
	// routes attached, per effective hostname; l4 the stream routes.
	hosts map[string][]routeEntry
	l4    []*ir.GatewayL4Route
}

// valid reports whether traffic is programmed for the listener. Route kinds it cannot
// take do not stop the ones it can (supportedKinds) from attaching.
func (l *listenerState) valid() bool {
	kindsOnly := l.resolvedReason == string(gatewayv1.ListenerReasonInvalidRouteKinds) && len(l.supportedKinds) > 0
	return l.accepted == "" && (l.resolved == "" || kindsOnly) && l.conflict == ""
}

// Protocols each class serves, and the route kinds each protocol takes by default.
var (
	classProtocols = map[string][]gatewayv1.ProtocolType{
		ClassIstio:    {gatewayv1.HTTPProtocolType, gatewayv1.HTTPSProtocolType, gatewayv1.TLSProtocolType, gatewayv1.TCPProtocolType},
		ClassWaypoint: {"HBONE"},
	}
	protocolKinds = map[gatewayv1.ProtocolType][]string{
		gatewayv1.HTTPProtocolType:  {kindHTTP, kindGRPC},
		gatewayv1.HTTPSProtocolType: {kindHTTP, kindGRPC},
		gatewayv1.TLSProtocolType:   {kindTLS, kindTCP},
		gatewayv1.TCPProtocolType:   {kindTCP},
		"HBONE":                     {kindHTTP, kindGRPC, kindTCP},
	}
)

// gateways validates every Gateway of meshd's classes and its listeners.
func (t *translator) gateways() []*gatewayState {
	var out []*gatewayState
	for _, gw := range t.snap.GatewayAPI.Gateways {
		class, ok := t.classOf(gw)
		if !ok {
			continue // another controller's, or a class that does not exist (yet)
		}
		g := &gatewayState{gw: gw, key: gw.Namespace + "/" + gw.Name, class: class.Name}
		for i, a := range gw.Spec.Addresses {
			if a.Type != nil && *a.Type != gatewayv1.IPAddressType {
				g.invalid, g.invalidReason = fmt.Sprintf("spec.addresses[%d]: only IPAddress addresses can be asked of the Gateway's Service, not %s", i, *a.Type), string(gatewayv1.GatewayReasonUnsupportedAddress)
			}
		}
		// What the deployer cannot deploy (a bad service-type annotation, a listener on
		// a port the proxy itself uses) is refused here, where status can say so.
		if err := gateway.Check(gw); err != nil {
			g.invalid, g.invalidReason = err.Error(), string(gatewayv1.GatewayReasonInvalidParameters)
		}
		if inf := gw.Spec.Infrastructure; inf != nil && inf.ParametersRef != nil {
			g.invalid, g.invalidReason = "spec.infrastructure.parametersRef: not supported; use infrastructure labels and annotations", string(gatewayv1.GatewayReasonInvalidParameters)
		}
		for _, l := range gw.Spec.Listeners {
			g.listeners = append(g.listeners, t.listener(gw, class.Name, l))
		}
		markConflicts(g.listeners)
		t.gatewayAddress(g)
		out = append(out, g)
	}
	return out
}

// listener checks one listener's protocol, TLS and route kinds.
func (t *translator) listener(gw *gatewayv1.Gateway, class string, l gatewayv1.Listener) *listenerState {
	ls := &listenerState{l: l, gatewayNamespace: gw.Namespace, hosts: map[string][]routeEntry{}}
	if !slices.Contains(classProtocols[class], l.Protocol) {
		ls.accepted, ls.acceptedReason = fmt.Sprintf("listener %q: protocol %q is not served by class %s (supported: %v)", l.Name, l.Protocol, class, classProtocols[class]),
			string(gatewayv1.ListenerReasonUnsupportedProtocol)
		return ls
	}
	allowed := protocolKinds[l.Protocol]
	if l.AllowedRoutes == nil || len(l.AllowedRoutes.Kinds) == 0 {
		for _, k := range allowed {
			ls.supportedKinds = append(ls.supportedKinds, gatewayv1.RouteGroupKind{Group: ptrTo(gatewayv1.Group(gatewayGroup)), Kind: gatewayv1.Kind(k)})
		}
	} else {
		var bad []string
		for _, k := range l.AllowedRoutes.Kinds {
			group := gatewayGroup
			if k.Group != nil {
				group = string(*k.Group)
			}
			if group == gatewayGroup && slices.Contains(allowed, string(k.Kind)) {
				ls.supportedKinds = append(ls.supportedKinds, gatewayv1.RouteGroupKind{Group: ptrTo(gatewayv1.Group(group)), Kind: k.Kind})
			} else {
				bad = append(bad, group+"/"+string(k.Kind))
			}
		}
		if len(bad) > 0 {
			ls.resolved, ls.resolvedReason = fmt.Sprintf("listener %q: route kinds %v cannot attach to a %s listener (allowed: %v)", l.Name, bad, l.Protocol, allowed),
				string(gatewayv1.ListenerReasonInvalidRouteKinds)
		}
	}
	t.listenerTLS(gw, ls)
	return ls
}

// listenerTLS resolves an HTTPS or TLS listener's mode and certificates. Certificates
// come from Secrets in the Gateway's namespace, or another one that grants the
// Gateway access with a ReferenceGrant.
func (t *translator) listenerTLS(gw *gatewayv1.Gateway, ls *listenerState) {
	l := ls.l
	if l.Protocol != gatewayv1.HTTPSProtocolType && l.Protocol != gatewayv1.TLSProtocolType {
		return
	}
	mode := gatewayv1.TLSModeTerminate
	if l.TLS != nil && l.TLS.Mode != nil {
		mode = *l.TLS.Mode
	}
	if mode == gatewayv1.TLSModePassthrough {
		if l.Protocol == gatewayv1.HTTPSProtocolType {
			ls.accepted, ls.acceptedReason = fmt.Sprintf("listener %q: HTTPS listeners terminate TLS; use protocol TLS for passthrough", l.Name), string(gatewayv1.ListenerReasonUnsupportedValue)
			return
		}
		ls.tls = &ir.GatewayTLS{Passthrough: true}
		return
	}
	if l.TLS == nil || len(l.TLS.CertificateRefs) == 0 {
		ls.resolved, ls.resolvedReason = fmt.Sprintf("listener %q: tls.certificateRefs: a listener terminating TLS needs a certificate", l.Name), string(gatewayv1.ListenerReasonInvalidCertificateRef)
		return
	}
	ls.tls = &ir.GatewayTLS{}
	for i, ref := range l.TLS.CertificateRefs {
		group, kind, ns := refTarget(ref.Group, ref.Kind, ref.Namespace, coreGroup, kindSecret, gw.Namespace)
		field := fmt.Sprintf("listener %q: tls.certificateRefs[%d]", l.Name, i)
		switch {
		case group != coreGroup || kind != kindSecret:
			ls.resolved, ls.resolvedReason = fmt.Sprintf("%s: %s/%s is not a Secret", field, group, kind), string(gatewayv1.ListenerReasonInvalidCertificateRef)
		case !t.referenceAllowed(gatewayGroup, kindGateway, gw.Namespace, coreGroup, kindSecret, ns, string(ref.Name)):
			ls.resolved, ls.resolvedReason = fmt.Sprintf("%s: Secret %s/%s is in another namespace and no ReferenceGrant there allows this Gateway to use it", field, ns, ref.Name),
				string(gatewayv1.ListenerReasonRefNotPermitted)
		case !t.snap.GatewayAPI.Secrets[ns+"/"+string(ref.Name)]:
			ls.resolved, ls.resolvedReason = fmt.Sprintf("%s: Secret %s/%s does not exist", field, ns, ref.Name), string(gatewayv1.ListenerReasonInvalidCertificateRef)
		default:
			ls.tls.Certificates = append(ls.tls.Certificates, "kubernetes://"+ns+"/"+string(ref.Name))
			continue
		}
		return
	}
}

// markConflicts applies the specification's listener conflicts: on one port, every
// listener must speak the first one's protocol, and no two may share a hostname.
func markConflicts(ls []*listenerState) {
	first := map[gatewayv1.PortNumber]gatewayv1.ProtocolType{}
	seen := map[string]string{}
	for _, l := range ls {
		if l.accepted != "" {
			continue
		}
		p, ok := first[l.l.Port]
		if !ok {
			first[l.l.Port] = l.l.Protocol
		} else if p != l.l.Protocol {
			l.conflict, l.conflictReason = fmt.Sprintf("listener %q: port %d already serves %s", l.l.Name, l.l.Port, p), string(gatewayv1.ListenerReasonProtocolConflict)
			continue
		}
		key := fmt.Sprintf("%d/%s", l.l.Port, hostnameOf(l.l.Hostname))
		if other, dup := seen[key]; dup {
			l.conflict, l.conflictReason = fmt.Sprintf("listener %q: listener %q already serves hostname %q on port %d", l.l.Name, other, hostnameOf(l.l.Hostname), l.l.Port),
				string(gatewayv1.ListenerReasonHostnameConflict)
			continue
		}
		seen[key] = string(l.l.Name)
	}
}

func hostnameOf(h *gatewayv1.Hostname) string {
	if h == nil {
		return ""
	}
	return string(*h)
}

// gatewayAddress reads the Gateway's addresses from the Service meshd deployed for it
// (its cluster IPs, or a load balancer's ingress once assigned), and checks that any
// address the Gateway asked for is among them.
func (t *translator) gatewayAddress(g *gatewayState) {
	name := g.gw.Namespace + "/" + gateway.ResourceName(g.gw)
	svc := t.snap.GatewayAPI.ProxyServices[name]
	addrs, ok, reason := gateway.Address(svc, g.gw)
	g.addresses = addrs
	switch {
	case ok:
	case svc == nil:
		g.addressReason, g.addressReasonCode = fmt.Sprintf("waiting for Service %s to be deployed", name), reason
	case reason == string(gatewayv1.GatewayReasonAddressNotUsable):
		g.addressReason, g.addressReasonCode = fmt.Sprintf("Service %s did not get the addresses spec.addresses asks for", name), reason
	default:
		g.addressReason, g.addressReasonCode = fmt.Sprintf("Service %s has no address yet", name), reason
	}
}

// programmable reports whether the Gateway's proxies get config.
func (g *gatewayState) programmable() bool { return g.invalid == "" }

// status renders the Gateway's status: Accepted, Programmed, addresses and every
// listener's conditions and attached route count.
func (g *gatewayState) status() gatewayv1.GatewayStatus {
	gen := g.gw.Generation
	var invalidListeners []string
	st := gatewayv1.GatewayStatus{Addresses: g.addresses}
	for _, l := range g.listeners {
		if !l.valid() {
			invalidListeners = append(invalidListeners, string(l.l.Name))
		}
		st.Listeners = append(st.Listeners, l.status(gen))
	}
	accepted := condition(string(gatewayv1.GatewayConditionAccepted), true, gatewayv1.GatewayReasonAccepted, gen, "handled by meshd")
	switch {
	case g.invalid != "":
		accepted = condition(string(gatewayv1.GatewayConditionAccepted), false, g.invalidReason, gen, g.invalid)
	case len(invalidListeners) > 0:
		accepted.Reason = string(gatewayv1.GatewayReasonListenersNotValid)
		accepted.Message = fmt.Sprintf("accepted; listeners %v are not valid and get no traffic", invalidListeners)
	}
	programmed := condition(string(gatewayv1.GatewayConditionProgrammed), true, gatewayv1.GatewayReasonProgrammed, gen, "deployed, with an address")
	switch {
	case g.invalid != "":
		programmed = condition(string(gatewayv1.GatewayConditionProgrammed), false, gatewayv1.GatewayReasonInvalid, gen, "not programmed: the Gateway is not accepted")
	case g.addressReason != "":
		programmed = condition(string(gatewayv1.GatewayConditionProgrammed), false, g.addressReasonCode, gen, g.addressReason)
	}
	st.Conditions = []metav1.Condition{accepted, programmed}
	return st
}

func (l *listenerState) status(gen int64) gatewayv1.ListenerStatus {
	accepted := condition(string(gatewayv1.ListenerConditionAccepted), true, gatewayv1.ListenerReasonAccepted, gen, "listener accepted")
	if l.accepted != "" {
		accepted = condition(string(gatewayv1.ListenerConditionAccepted), false, l.acceptedReason, gen, l.accepted)
	}
	resolved := condition(string(gatewayv1.ListenerConditionResolvedRefs), true, gatewayv1.ListenerReasonResolvedRefs, gen, "all references resolved")
	if l.resolved != "" {
		resolved = condition(string(gatewayv1.ListenerConditionResolvedRefs), false, l.resolvedReason, gen, l.resolved)
	}
	conflicted := condition(string(gatewayv1.ListenerConditionConflicted), false, gatewayv1.ListenerReasonNoConflicts, gen, "no conflicts")
	if l.conflict != "" {
		conflicted = condition(string(gatewayv1.ListenerConditionConflicted), true, l.conflictReason, gen, l.conflict)
	}
	programmed := condition(string(gatewayv1.ListenerConditionProgrammed), true, gatewayv1.ListenerReasonProgrammed, gen, "listener programmed")
	switch {
	case !l.valid():
		programmed = condition(string(gatewayv1.ListenerConditionProgrammed), false, gatewayv1.ListenerReasonInvalid, gen, "not programmed: the listener is not valid")
	}
	kinds := l.supportedKinds
	if kinds == nil {
		kinds = []gatewayv1.RouteGroupKind{}
	}
	return gatewayv1.ListenerStatus{Name: l.l.Name, SupportedKinds: kinds, AttachedRoutes: l.attached,
		Conditions: []metav1.Condition{accepted, conflicted, programmed, resolved}}
}

// ir renders the Gateway's valid listeners, by port, most specific hostname first.
func (g *gatewayState) ir() *ir.Gateway {
	out := &ir.Gateway{Name: g.gw.Name, Namespace: g.gw.Namespace, Class: g.class}
	for _, a := range g.addresses {
		out.Addresses = append(out.Addresses, a.Value)
	}
	if g.class == ClassWaypoint {
		out.WaypointFor = waypointFor(g.gw.Labels)
	}
	ports := map[uint32]*ir.GatewayPort{}
	for _, l := range g.listeners {
		if !l.valid() {
			continue
		}
		n := uint32(l.l.Port)
		p := ports[n]
		if p == nil {
			p = &ir.GatewayPort{Number: n, Protocol: string(l.l.Protocol)}
			ports[n] = p
			out.Ports = append(out.Ports, p)
		}
		p.Servers = append(p.Servers, &ir.GatewayServer{Listener: string(l.l.Name), Hostname: hostnameOf(l.l.Hostname),
			TLS: l.tls, VirtualHosts: l.virtualHosts(), L4Routes: l.l4})
	}
	slices.SortFunc(out.Ports, func(a, b *ir.GatewayPort) int { return int(a.Number) - int(b.Number) })
	for _, p := range out.Ports {
		slices.SortStableFunc(p.Servers, func(a, b *ir.GatewayServer) int { return compareHostSpecificity(a.Hostname, b.Hostname) })
	}
	return out
}

// compareHostSpecificity orders exact hostnames before wildcards, longer before
// shorter, and the empty (any) hostname last.
func compareHostSpecificity(a, b string) int {
	rank := func(h string) int {
		switch {
		case h == "" || h == "*":
			return 2
		case strings.HasPrefix(h, "*"):
			return 1
		}
		return 0
	}
	if ra, rb := rank(a), rank(b); ra != rb {
		return ra - rb
	}
	if len(a) != len(b) {
		return len(b) - len(a)
	}
	return strings.Compare(a, b)
}

func ptrTo[T any](v T) *T { return &v }
