package validate

import (
	"net/netip"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
)

// tlsRoute checks a rule for unterminated TLS: it needs matches with SNI hosts, each
// within the VirtualService's hosts (Istio's rule: a TLS route cannot claim names the
// VirtualService does not own), and somewhere to send the connection.
func tlsRoute(p *field.Path, r *networkingv1.TLSRoute, ctx vsContext) field.ErrorList {
	var errs field.ErrorList
	if len(r.Match) == 0 {
		errs = append(errs, field.Required(p.Child("match"), "a tls route needs at least one match"))
	}
	for j := range r.Match {
		m := &r.Match[j]
		mp := p.Child("match").Index(j)
		if len(m.SniHosts) == 0 {
			errs = append(errs, field.Required(mp.Child("sniHosts"), "a tls match needs at least one SNI host"))
		}
		for k, h := range m.SniHosts {
			errs = append(errs, sniHost(mp.Child("sniHosts").Index(k), h, ctx.hosts)...)
		}
		errs = append(errs, l4Match(mp, m.DestinationSubnets, m.Port, m.SourceLabels, m.Gateways, m.SourceNamespace)...)
	}
	errs = append(errs, l4Destinations(p.Child("route"), r.Route)...)
	return errs
}

// sniHost: a wildcard domain within one of the VirtualService hosts. An IP address is
// let through (with a warning, see VirtualServiceWarnings), as Istio does.
func sniHost(p *field.Path, h string, hosts []string) field.ErrorList {
	if err := WildcardDomain(h); err != nil {
		if _, ipErr := netip.ParseAddr(h); ipErr == nil {
			return nil
		}
		return field.ErrorList{field.Invalid(p, h, err.Error())}
	}
	if len(hosts) == 0 {
		return nil // a delegate has no hosts and no tls routes; that is reported above
	}
	for _, vh := range hosts {
		if hostSubsetOf(h, vh) {
			return nil
		}
	}
	return field.ErrorList{field.Invalid(p, h, "SNI host is not within any of the VirtualService hosts ["+strings.Join(hosts, ", ")+"]")}
}

// tcpRoute checks a rule for opaque TCP: its matches and where connections go.
func tcpRoute(p *field.Path, r *networkingv1.TCPRoute) field.ErrorList {
	var errs field.ErrorList
	for j := range r.Match {
		m := &r.Match[j]
		errs = append(errs, l4Match(p.Child("match").Index(j), m.DestinationSubnets, m.Port, m.SourceLabels, m.Gateways, m.SourceNamespace)...)
	}
	errs = append(errs, l4Destinations(p.Child("route"), r.Route)...)
	return errs
}

// l4Match checks what TLS and TCP matches share.
func l4Match(p *field.Path, subnets []string, port uint32, labels map[string]string, gateways []string, sourceNamespace string) field.ErrorList {
	var errs field.ErrorList
	for i, s := range subnets {
		if !ipOrCIDR(s) {
			errs = append(errs, field.Invalid(p.Child("destinationSubnets").Index(i), s, "must be an IP address or CIDR range"))
		}
	}
	if port != 0 {
		errs = append(errs, port1To65535(p.Child("port"), port)...)
	}
	errs = append(errs, labelMap(p.Child("sourceLabels"), labels)...)
	errs = append(errs, gatewayNames(p.Child("gateways"), gateways)...)
	if sourceNamespace != "" && !IsDNS1123Label(sourceNamespace) {
		errs = append(errs, field.Invalid(p.Child("sourceNamespace"), sourceNamespace, "must be a namespace name (DNS label)"))
	}
	return errs
}

func l4Destinations(p *field.Path, ds []networkingv1.RouteDestination) field.ErrorList {
	if len(ds) == 0 {
		return field.ErrorList{field.Required(p, "a route needs at least one destination")}
	}
	var errs field.ErrorList
	weights := make([]int32, len(ds))
	for i := range ds {
		errs = append(errs, destination(p.Index(i).Child("destination"), &ds[i].Destination)...)
		weights[i] = ds[i].Weight
	}
	return append(errs, routeWeights(p, weights)...)
}
