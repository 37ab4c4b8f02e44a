package validate

import (
	"net"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
)

// MeshGateway is the reserved gateway name meaning "every sidecar in the mesh".
const MeshGateway = "mesh"

// VirtualService checks a VirtualService spec the way Istio's validation does: hosts,
// gateways, that some route exists, each HTTP rule's action, and destination weights.
func VirtualService(spec *networkingv1.VirtualServiceSpec) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec")
	delegate := len(spec.Hosts) == 0
	if delegate {
		// A VirtualService without hosts can only be the target of a delegate.
		if len(spec.Gateways) > 0 {
			errs = append(errs, field.Invalid(p.Child("gateways"), spec.Gateways, "a delegate VirtualService (one without hosts) must not set gateways"))
		}
		if len(spec.TLS) > 0 {
			errs = append(errs, field.Forbidden(p.Child("tls"), "a delegate VirtualService (one without hosts) cannot have tls routes"))
		}
		if len(spec.TCP) > 0 {
			errs = append(errs, field.Forbidden(p.Child("tcp"), "a delegate VirtualService (one without hosts) cannot have tcp routes"))
		}
	}
	appliesToMesh := len(spec.Gateways) == 0
	for i, gw := range spec.Gateways {
		if gw == MeshGateway {
			appliesToMesh = true
			continue
		}
		errs = append(errs, gatewayName(p.Child("gateways").Index(i), gw)...)
	}
	errs = append(errs, virtualServiceHosts(p.Child("hosts"), spec.Hosts, appliesToMesh)...)
	if len(spec.HTTP) == 0 && len(spec.TCP) == 0 && len(spec.TLS) == 0 {
		errs = append(errs, field.Required(p.Child("http"), "http, tcp or tls must be provided in virtual service"))
	}
	for i := range spec.HTTP {
		errs = append(errs, httpRoute(p.Child("http").Index(i), &spec.HTTP[i], delegate)...)
	}
	for i := range spec.TLS {
		r := &spec.TLS[i]
		rp := p.Child("tls").Index(i)
		if len(r.Match) == 0 {
			errs = append(errs, field.Required(rp.Child("match"), "a tls route needs at least one match"))
		}
		for j, m := range r.Match {
			if len(m.SniHosts) == 0 {
				errs = append(errs, field.Required(rp.Child("match").Index(j).Child("sniHosts"), "a tls match needs at least one SNI host"))
			}
			for k, h := range m.SniHosts {
				if err := WildcardDomain(h); err != nil {
					errs = append(errs, field.Invalid(rp.Child("match").Index(j).Child("sniHosts").Index(k), h, err.Error()))
				}
			}
		}
		errs = append(errs, l4Destinations(rp.Child("route"), r.Route)...)
	}
	for i := range spec.TCP {
		errs = append(errs, l4Destinations(p.Child("tcp").Index(i).Child("route"), spec.TCP[i].Route)...)
	}
	return errs
}

func virtualServiceHosts(p *field.Path, hosts []string, appliesToMesh bool) field.ErrorList {
	var errs field.ErrorList
	valid := true
	for i, h := range hosts {
		if err := WildcardDomain(h); err != nil {
			if net.ParseIP(h) == nil { // gateways may route by IP address
				errs = append(errs, field.Invalid(p.Index(i), h, err.Error()))
				valid = false
			}
			continue
		}
		if appliesToMesh && h == "*" {
			errs = append(errs, field.Invalid(p.Index(i), h, "wildcard host * is not allowed for virtual services bound to the mesh gateway"))
			valid = false
		}
	}
	if !valid {
		return errs
	}
	// "*.foo.com" and "bar.foo.com" in one VirtualService would claim the same name twice.
	for i := range hosts {
		for j := i + 1; j < len(hosts); j++ {
			if HostsOverlap(hosts[i], hosts[j]) {
				errs = append(errs, field.Duplicate(p.Index(j), hosts[j]+" overlaps "+hosts[i]))
			}
		}
	}
	return errs
}

// gatewayName accepts "<namespace>/<name>" and the legacy FQDN or short name forms.
func gatewayName(p *field.Path, gw string) field.ErrorList {
	ns, name, ok := strings.Cut(gw, "/")
	if !ok {
		if err := FQDN(gw); err != nil {
			return field.ErrorList{field.Invalid(p, gw, err.Error())}
		}
		return nil
	}
	var errs field.ErrorList
	if ns == "" || name == "" {
		return field.ErrorList{field.Invalid(p, gw, "config namespace and gateway name cannot be empty")}
	}
	if !IsDNS1123Label(ns) {
		errs = append(errs, field.Invalid(p, gw, "invalid value for namespace: "+ns))
	}
	if !IsDNS1123Label(name) {
		errs = append(errs, field.Invalid(p, gw, "invalid value for gateway name: "+name))
	}
	return errs
}

func httpRoute(p *field.Path, r *networkingv1.HTTPRoute, inDelegate bool) field.ErrorList {
	var errs field.ErrorList
	actions := 0
	for _, set := range []bool{len(r.Route) > 0, r.Redirect != nil, r.DirectResponse != nil, r.Delegate != nil} {
		if set {
			actions++
		}
	}
	switch {
	case actions == 0:
		errs = append(errs, field.Required(p.Child("route"), "an HTTP rule needs one of route, redirect, directResponse or delegate"))
	case actions > 1:
		errs = append(errs, field.Invalid(p, "", "an HTTP rule may set only one of route, redirect, directResponse and delegate"))
	}
	if r.Delegate != nil && inDelegate {
		errs = append(errs, field.Forbidden(p.Child("delegate"), "a delegate VirtualService cannot delegate again (one level only)"))
	}
	var total int64
	for i := range r.Route {
		d := &r.Route[i]
		dp := p.Child("route").Index(i)
		errs = append(errs, destination(dp.Child("destination"), &d.Destination)...)
		if d.Weight < 0 {
			errs = append(errs, field.Invalid(dp.Child("weight"), d.Weight, "weight must not be negative"))
		}
		total += int64(d.Weight)
	}
	if len(r.Route) > 1 && total == 0 {
		errs = append(errs, field.Invalid(p.Child("route"), total, "total destination weight = 0: give at least one destination a weight"))
	}
	return errs
}

func l4Destinations(p *field.Path, ds []networkingv1.RouteDestination) field.ErrorList {
	var errs field.ErrorList
	var total int64
	for i := range ds {
		errs = append(errs, destination(p.Index(i).Child("destination"), &ds[i].Destination)...)
		if ds[i].Weight < 0 {
			errs = append(errs, field.Invalid(p.Index(i).Child("weight"), ds[i].Weight, "weight must not be negative"))
		}
		total += int64(ds[i].Weight)
	}
	if len(ds) > 1 && total == 0 {
		errs = append(errs, field.Invalid(p, total, "total destination weight = 0: give at least one destination a weight"))
	}
	return errs
}

func destination(p *field.Path, d *networkingv1.Destination) field.ErrorList {
	var errs field.ErrorList
	switch {
	case d.Host == "":
		errs = append(errs, field.Required(p.Child("host"), "destination host is required"))
	case d.Host == "*":
		errs = append(errs, field.Invalid(p.Child("host"), d.Host, "a destination host cannot be *"))
	default:
		if err := WildcardDomain(d.Host); err != nil {
			errs = append(errs, field.Invalid(p.Child("host"), d.Host, err.Error()))
		}
	}
	if d.Subset != "" && !IsDNS1123Label(d.Subset) {
		errs = append(errs, field.Invalid(p.Child("subset"), d.Subset, "subset name must be a DNS label"))
	}
	if d.Port != nil && (d.Port.Number == 0 || d.Port.Number > 65535) {
		errs = append(errs, field.Invalid(p.Child("port", "number"), d.Port.Number, "port number must be in 1-65535"))
	}
	return errs
}
