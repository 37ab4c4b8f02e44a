package validate

import (
	"net"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
)

// MeshGateway is the reserved gateway name meaning "every sidecar in the mesh".
const MeshGateway = "mesh"

// vsContext is what a rule's checks need to know about the VirtualService around it.
type vsContext struct {
	hosts []string
	// delegate: the VirtualService has no hosts, so it can only be the target of a
	// delegate; its rules cannot delegate again.
	delegate bool
	// gatewayOnly: gateways are listed and "mesh" is not among them, so no sidecar
	// applies these rules (JWT claim routing needs this: only gateways see the claims).
	gatewayOnly bool
}

// VirtualService checks a VirtualService spec the way Istio's validation does: hosts,
// gateways, that some route exists, each HTTP, TLS and TCP rule, and exportTo.
func VirtualService(spec *networkingv1.VirtualServiceSpec) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec")
	ctx := vsContext{hosts: spec.Hosts, delegate: len(spec.Hosts) == 0, gatewayOnly: len(spec.Gateways) > 0}
	if ctx.delegate {
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
			ctx.gatewayOnly = false
			continue
		}
		errs = append(errs, gatewayName(p.Child("gateways").Index(i), gw)...)
	}
	errs = append(errs, virtualServiceHosts(p.Child("hosts"), spec.Hosts, appliesToMesh)...)
	if len(spec.HTTP) == 0 && len(spec.TCP) == 0 && len(spec.TLS) == 0 {
		errs = append(errs, field.Required(p.Child("http"), "http, tcp or tls must be provided in virtual service"))
	}
	for i := range spec.HTTP {
		errs = append(errs, httpRoute(p.Child("http").Index(i), &spec.HTTP[i], ctx)...)
	}
	for i := range spec.TLS {
		errs = append(errs, tlsRoute(p.Child("tls").Index(i), &spec.TLS[i], ctx)...)
	}
	for i := range spec.TCP {
		errs = append(errs, tcpRoute(p.Child("tcp").Index(i), &spec.TCP[i])...)
	}
	errs = append(errs, exportTo(p.Child("exportTo"), spec.ExportTo, false)...)
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

// gatewayNames checks match.gateways: the same forms as spec.gateways, plus "mesh".
func gatewayNames(p *field.Path, gws []string) field.ErrorList {
	var errs field.ErrorList
	for i, gw := range gws {
		if gw != MeshGateway {
			errs = append(errs, gatewayName(p.Index(i), gw)...)
		}
	}
	return errs
}

// routeWeights checks destination weights: none negative, and when there are several
// destinations some weight must be positive or no traffic could be sent anywhere.
func routeWeights(p *field.Path, weights []int32) field.ErrorList {
	var errs field.ErrorList
	var total int64
	for i, w := range weights {
		if w < 0 {
			errs = append(errs, field.Invalid(p.Index(i).Child("weight"), w, "weight must not be negative"))
		}
		total += int64(w)
	}
	if len(weights) > 1 && total == 0 {
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
	if d.Port != nil {
		errs = append(errs, port1To65535(p.Child("port", "number"), d.Port.Number)...)
	}
	return errs
}
