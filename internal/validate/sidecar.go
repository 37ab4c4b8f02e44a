package validate

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
	typev1beta1 "github.com/meshd-io/meshd/api/type/v1beta1"
	"github.com/meshd-io/meshd/internal/model"
)

// unixPrefix marks a Unix domain socket address in bind and defaultEndpoint.
const unixPrefix = "unix://"

// Sidecar applies Istio's rules for Sidecar: egress hosts in namespace/dnsName form,
// at most one egress listener without a port and it last, unique ports, valid binds
// and default endpoints, and an egress proxy only with ALLOW_ANY.
func Sidecar(spec *networkingv1.SidecarSpec) field.ErrorList {
	p := field.NewPath("spec")
	if len(spec.Egress) == 0 && len(spec.Ingress) == 0 && spec.OutboundTrafficPolicy == nil && spec.InboundConnectionPool == nil {
		return field.ErrorList{field.Required(p, "a Sidecar must set at least one of egress, ingress, outboundTrafficPolicy or inboundConnectionPool")}
	}
	var errs field.ErrorList
	if ws := spec.WorkloadSelector; ws != nil {
		errs = labelSelector(p.Child("workloadSelector", "labels"), ws.Labels)
	}
	ports := map[uint32]bool{}
	for i := range spec.Ingress {
		errs = append(errs, ingressListener(p.Child("ingress").Index(i), &spec.Ingress[i], ports)...)
	}
	errs = append(errs, connectionPool(p.Child("inboundConnectionPool"), spec.InboundConnectionPool)...)
	ports = map[uint32]bool{}
	sockets := map[string]bool{}
	for i := range spec.Egress {
		ep := p.Child("egress").Index(i)
		e := &spec.Egress[i]
		if e.Port == nil {
			if i != len(spec.Egress)-1 {
				errs = append(errs, field.Invalid(ep.Child("port"), nil, "the egress listener without a port catches every other port and must be the last listener"))
			}
		} else {
			errs = append(errs, egressPort(ep, e, ports, sockets)...)
		}
		if len(e.Hosts) == 0 {
			errs = append(errs, field.Required(ep.Child("hosts"), "an egress listener must list at least one host"))
		}
		for j, h := range e.Hosts {
			if err := egressHost(h); err != nil {
				errs = append(errs, field.Invalid(ep.Child("hosts").Index(j), h, err.Error()))
			}
		}
	}
	if tp := spec.OutboundTrafficPolicy; tp != nil && tp.EgressProxy != nil {
		pp := p.Child("outboundTrafficPolicy", "egressProxy")
		if tp.Mode != networkingv1.OutboundAllowAny {
			errs = append(errs, field.Invalid(p.Child("outboundTrafficPolicy", "mode"), tp.Mode, "an egressProxy takes traffic to unknown destinations, so it needs mode ALLOW_ANY"))
		}
		if err := FQDN(tp.EgressProxy.Host); err != nil {
			errs = append(errs, field.Invalid(pp.Child("host"), tp.EgressProxy.Host, err.Error()))
		}
		if tp.EgressProxy.Port == nil || tp.EgressProxy.Port.Number == 0 {
			errs = append(errs, field.Required(pp.Child("port"), "the egress proxy's port is required"))
		} else {
			errs = append(errs, port1To65535(pp.Child("port", "number"), tp.EgressProxy.Port.Number)...)
		}
		if sub := tp.EgressProxy.Subset; sub != "" && !IsDNS1123Label(sub) {
			errs = append(errs, field.Invalid(pp.Child("subset"), sub, "a subset name must be a DNS label"))
		}
	}
	sortErrors(errs)
	return errs
}

// SidecarWarnings lists what Istio accepts in a Sidecar but is redundant or has no
// effect.
func SidecarWarnings(spec *networkingv1.SidecarSpec) []string {
	var w warnings
	p := field.NewPath("spec")
	if ws := spec.WorkloadSelector; ws != nil {
		selectorWarning(&w, p.Child("workloadSelector"), &typev1beta1.WorkloadSelector{MatchLabels: ws.Labels}, "every workload of the namespace")
	}
	for i, in := range spec.Ingress {
		if in.Port != nil && in.ConnectionPool != nil && in.ConnectionPool.HTTP != nil && !model.Protocol(strings.ToUpper(in.Port.Protocol)).CarriesHTTPRoutes() {
			w.add(p.Child("ingress").Index(i).Child("connectionPool", "http"), "HTTP settings have no effect on a %s port", in.Port.Protocol)
		}
	}
	for i := range spec.Egress {
		ep := p.Child("egress").Index(i)
		// A namespace listed whole makes its other hosts redundant, and */* every
		// other host.
		whole, named := map[string]bool{}, map[string]bool{}
		for _, h := range spec.Egress[i].Hosts {
			ns, host, ok := strings.Cut(h, "/")
			if !ok {
				continue
			}
			if host == "*" {
				whole[ns] = true
			} else {
				named[ns] = true
			}
		}
		seen := map[string]bool{}
		for j, h := range spec.Egress[i].Hosts {
			ns, host, _ := strings.Cut(h, "/")
			switch {
			case seen[h]:
				w.add(ep.Child("hosts").Index(j), "duplicated egress host %s", h)
			case whole["*"] && h != "*/*":
				w.add(ep.Child("hosts").Index(j), "*/* already selects every host; this entry adds nothing")
			case host != "*" && whole[ns]:
				w.add(ep.Child("hosts").Index(j), "%s/* already selects every host of the namespace; this entry adds nothing", ns)
			}
			seen[h] = true
		}
	}
	return w
}

// egressHost checks one "namespace/dnsName" entry: the namespace is "*", ".", "~" or a
// namespace name, the name an FQDN or a wildcard.
func egressHost(h string) error {
	ns, name, ok := strings.Cut(h, "/")
	if !ok {
		return fmt.Errorf("a host must be namespace/dnsName (for example ./*, istio-system/*, */reviews.default.svc.cluster.local)")
	}
	if ns == "" || name == "" {
		return fmt.Errorf("neither the namespace nor the dnsName of a host may be empty")
	}
	if ns != "*" && ns != "." && ns != "~" && !IsDNS1123Label(ns) {
		return fmt.Errorf("namespace %q must be *, ., ~ or a namespace name", ns)
	}
	if name == "*" {
		return nil
	}
	if !strings.Contains(name, ".") {
		return fmt.Errorf("short names are not allowed: name the service by its FQDN (%s.<namespace>.svc.cluster.local)", name)
	}
	if strings.Contains(name, "*") && !strings.HasPrefix(name, "*.") {
		return fmt.Errorf("partial wildcard %q not allowed: a wildcard is * or *.<suffix>", name)
	}
	return WildcardDomain(name)
}

// egressPort checks an egress listener's port and bind: port 0 is a Unix domain
// socket's, named by bind; other ports need a known protocol and are unique.
func egressPort(p *field.Path, e *networkingv1.IstioEgressListener, ports map[uint32]bool, sockets map[string]bool) field.ErrorList {
	pp := p.Child("port")
	errs := append(portName(pp.Child("name"), e.Port.Name), targetPort(pp, e.Port)...)
	if e.Port.Number == 0 {
		if !knownProtocol(e.Port.Protocol) {
			errs = append(errs, unknownProtocol(pp.Child("protocol"), e.Port.Protocol))
		}
		if !strings.HasPrefix(e.Bind, unixPrefix) {
			return append(errs, field.Invalid(pp.Child("number"), 0, "port 0 is for Unix domain sockets: bind must then be unix://<path>"))
		}
		if err := unixAddress(strings.TrimPrefix(e.Bind, unixPrefix)); err != nil {
			errs = append(errs, field.Invalid(p.Child("bind"), e.Bind, err.Error()))
		}
		if e.CaptureMode != "" && e.CaptureMode != networkingv1.CaptureModeDefault && e.CaptureMode != networkingv1.CaptureModeNone {
			errs = append(errs, field.Invalid(p.Child("captureMode"), e.CaptureMode, "a Unix domain socket listener takes captureMode DEFAULT or NONE"))
		}
		if sockets[e.Bind] {
			errs = append(errs, field.Duplicate(p.Child("bind"), e.Bind))
		}
		sockets[e.Bind] = true
		return errs
	}
	errs = append(errs, sidecarPort(pp, e.Port, e.Bind, p.Child("bind"))...)
	if ports[e.Port.Number] {
		errs = append(errs, field.Duplicate(pp.Child("number"), e.Port.Number))
	}
	ports[e.Port.Number] = true
	return errs
}

// ingressListener checks an ingress listener: its port, bind, default endpoint and TLS.
func ingressListener(p *field.Path, in *networkingv1.IstioIngressListener, ports map[uint32]bool) field.ErrorList {
	if in.Port == nil {
		return field.ErrorList{field.Required(p.Child("port"), "an ingress listener needs a port")}
	}
	pp := p.Child("port")
	errs := append(portName(pp.Child("name"), in.Port.Name), targetPort(pp, in.Port)...)
	errs = append(errs, sidecarPort(pp, in.Port, in.Bind, p.Child("bind"))...)
	if ports[in.Port.Number] {
		errs = append(errs, field.Duplicate(pp.Child("number"), in.Port.Number))
	}
	ports[in.Port.Number] = true
	if ep := in.DefaultEndpoint; ep != "" {
		errs = append(errs, defaultEndpoint(p.Child("defaultEndpoint"), ep)...)
	}
	if t := in.TLS; t != nil {
		tp := p.Child("tls")
		if len(t.SubjectAltNames) > 0 {
			errs = append(errs, field.Forbidden(tp.Child("subjectAltNames"), "a Sidecar's ingress TLS cannot check subjectAltNames"))
		}
		if t.HTTPSRedirect {
			errs = append(errs, field.Forbidden(tp.Child("httpsRedirect"), "a Sidecar's ingress TLS cannot redirect"))
		}
		if t.CredentialName != "" {
			errs = append(errs, field.Forbidden(tp.Child("credentialName"), "a Sidecar's ingress TLS reads files, not Secrets"))
		}
		if t.Mode == "ISTIO_MUTUAL" || t.Mode == "AUTO_PASSTHROUGH" {
			errs = append(errs, field.Invalid(tp.Child("mode"), t.Mode, "a Sidecar's ingress TLS takes PASSTHROUGH, SIMPLE, MUTUAL or OPTIONAL_MUTUAL"))
		}
		if proto := strings.ToUpper(in.Port.Protocol); proto != "HTTPS" && proto != "TLS" {
			errs = append(errs, field.Invalid(pp.Child("protocol"), in.Port.Protocol, "only HTTPS and TLS ports take TLS settings"))
		}
		if (t.Mode == "SIMPLE" || t.Mode == "MUTUAL" || t.Mode == "OPTIONAL_MUTUAL") && (t.ServerCertificate == "" || t.PrivateKey == "") {
			errs = append(errs, field.Required(tp.Child("serverCertificate"), fmt.Sprintf("mode %s needs serverCertificate and privateKey", t.Mode)))
		}
		if (t.Mode == "MUTUAL" || t.Mode == "OPTIONAL_MUTUAL") && t.CaCertificates == "" {
			errs = append(errs, field.Required(tp.Child("caCertificates"), fmt.Sprintf("mode %s needs caCertificates to check clients", t.Mode)))
		}
	}
	return append(errs, connectionPool(p.Child("connectionPool"), in.ConnectionPool)...)
}

// sidecarPort checks a listener port's number and protocol and its bind address.
func sidecarPort(p *field.Path, port *networkingv1.SidecarPort, bind string, bindPath *field.Path) field.ErrorList {
	errs := port1To65535(p.Child("number"), port.Number)
	if !knownProtocol(port.Protocol) {
		errs = append(errs, unknownProtocol(p.Child("protocol"), port.Protocol))
	}
	if bind != "" {
		if _, err := netip.ParseAddr(bind); err != nil {
			errs = append(errs, field.Invalid(bindPath, bind, "bind must be an IP address"))
		}
	}
	return errs
}

// protocols are the port protocols Istio knows.
var protocols = []string{"HTTP", "HTTPS", "HTTP2", "GRPC", "GRPC-WEB", "HTTP_PROXY", "TCP", "TLS", "UDP", "MONGO", "MYSQL", "REDIS"}

func unknownProtocol(p *field.Path, protocol string) *field.Error {
	return field.NotSupported(p, protocol, protocols)
}

// targetPort refuses a port's targetPort, as Istio does: a Sidecar's listeners have
// no target.
func targetPort(p *field.Path, port *networkingv1.SidecarPort) field.ErrorList {
	if port.TargetPort != 0 {
		return field.ErrorList{field.Invalid(p.Child("targetPort"), port.TargetPort, "targetPort has no effect in a Sidecar; leave it unset")}
	}
	return nil
}

// knownProtocol reports whether Istio knows a port protocol (case does not matter).
func knownProtocol(p string) bool {
	return slices.Contains(protocols, strings.ToUpper(p))
}

// portName checks an optional port name: a DNS label.
func portName(p *field.Path, name string) field.ErrorList {
	if name != "" && !IsDNS1123Label(name) {
		return field.ErrorList{field.Invalid(p, name, "a port name must be a DNS label")}
	}
	return nil
}

// defaultEndpoint checks where an ingress listener forwards to: a loopback or
// unspecified address with a port, ":port", or a Unix domain socket.
func defaultEndpoint(p *field.Path, ep string) field.ErrorList {
	if path, ok := strings.CutPrefix(ep, unixPrefix); ok {
		if err := unixAddress(path); err != nil {
			return field.ErrorList{field.Invalid(p, ep, err.Error())}
		}
		return nil
	}
	host, port, err := net.SplitHostPort(ep)
	if err != nil {
		return field.ErrorList{field.Invalid(p, ep, "must be 127.0.0.1:<port>, 0.0.0.0:<port>, [::1]:<port>, [::]:<port>, :<port> or unix://<path>")}
	}
	var errs field.ErrorList
	switch host {
	case "", "127.0.0.1", "0.0.0.0", "::1", "::":
	default:
		errs = append(errs, field.Invalid(p, ep, "the host must be 127.0.0.1, 0.0.0.0, ::1 or ::, the workload's own addresses"))
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		errs = append(errs, field.Invalid(p, ep, "the port must be a number in 1-65535"))
	}
	return errs
}

// unixAddress checks a Unix domain socket path: absolute, or abstract (@name).
func unixAddress(path string) error {
	switch {
	case path == "":
		return fmt.Errorf("a Unix domain socket needs a path")
	case strings.HasPrefix(path, "@"):
		return nil
	case !strings.HasPrefix(path, "/"):
		return fmt.Errorf("a Unix domain socket path must be absolute")
	case strings.HasSuffix(path, "/"):
		return fmt.Errorf("%s is not an absolute path to a file", path)
	}
	return nil
}
