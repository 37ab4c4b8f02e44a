package translate

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/validate"
)

// sidecars translates every Sidecar (there are few: Istio's advice is one per
// namespace, so a restricted pass translates them all too). A namespace's Sidecars
// without workloadSelector after its oldest one are reported as conflicted: Istio
// applies only the oldest, and calls more than one undefined.
func (t *translator) sidecars(out *ir.IR) {
	defaults := map[string]ir.ConfigRef{}
	for _, sc := range t.snap.Sidecars {
		ref := sidecarRef(sc)
		if !t.begin(ref) {
			continue
		}
		rep := t.report.object(ref, sc.Generation)
		if rep.Invalid = validate.Sidecar(&sc.Spec); len(rep.Invalid) > 0 {
			continue
		}
		// A selector, even one without labels, makes it a workload Sidecar (Istio's):
		// it applies ahead of its namespace's, and in the root namespace is not the
		// mesh's default.
		s := &ir.Sidecar{Source: ref, Namespace: sc.Namespace, Selector: sidecarSelector(sc)}
		switch first, taken := defaults[sc.Namespace]; {
		case s.Selector != nil:
			s.SelectorKey = ir.SelectorKey(s.Selector)
		case taken:
			rep.Conflicts = append(rep.Conflicts, fmt.Sprintf("Sidecar %s/%s, older and also without workloadSelector, applies to the namespace's workloads: a namespace has one such Sidecar", first.Namespace, first.Name))
			continue
		default:
			defaults[sc.Namespace] = ref
		}
		s.Egress = egressListeners(sc.Spec.Egress)
		s.Ingress = ingressListeners(sc.Spec.Ingress)
		s.InboundPool = connectionPool(sc.Spec.InboundConnectionPool)
		if tp := sc.Spec.OutboundTrafficPolicy; tp != nil {
			// An outboundTrafficPolicy without mode is REGISTRY_ONLY, the zero value
			// of Istio's enum.
			s.OutboundPolicy = cmp.Or(string(tp.Mode), string(networkingv1.OutboundRegistryOnly))
			if p := tp.EgressProxy; p != nil {
				s.EgressProxy = &ir.EgressProxy{Host: t.resolveHost(p.Host, sc.Namespace), Port: p.Port.Number, Subset: p.Subset}
			}
		}
		s.Key = sidecarKey(s)
		// Programmed counts the proxies of the Sidecar's namespace; the root
		// namespace's default reaches every namespace without a Sidecar of its own,
		// counted as the whole mesh.
		if sc.Namespace != t.snap.Mesh.RootNamespace || s.Selector != nil {
			rep.Visibility = ir.Visibility{sc.Namespace}
		}
		t.sidecarRefs(rep, s)
		out.Sidecars = append(out.Sidecars, s)
	}
}

func sidecarRef(sc *networkingv1.Sidecar) ir.ConfigRef {
	return ir.ConfigRef{Kind: "Sidecar", Namespace: sc.Namespace, Name: sc.Name}
}

// egressListeners are a Sidecar's egress listeners as IR: those with a port by port,
// then the catch-all and the Unix domain socket ones. Without any, a Sidecar imports
// everything (Istio gives it an implicit */* listener).
func egressListeners(in []networkingv1.IstioEgressListener) []*ir.EgressListener {
	if len(in) == 0 {
		return []*ir.EgressListener{{Hosts: []ir.EgressHost{{Namespace: "*", Host: "*"}}}}
	}
	out := make([]*ir.EgressListener, 0, len(in))
	for _, e := range in {
		l := &ir.EgressListener{}
		switch {
		case e.Port != nil && e.Port.Number == 0:
			// A Unix domain socket listener (validation saw to its bind): the
			// application dials the socket, whatever the capture mode.
			l.Socket, l.Protocol = e.Bind, strings.ToUpper(e.Port.Protocol)
		case e.Port != nil:
			l.Port, l.Protocol = e.Port.Number, strings.ToUpper(e.Port.Protocol)
			// Uncaptured traffic is dialled at the listener's address: the
			// loopback unless the Sidecar says otherwise, as Istio's default.
			l.Bound = e.CaptureMode == networkingv1.CaptureModeNone
			if l.Bind = e.Bind; l.Bound && l.Bind == "" {
				l.Bind = "127.0.0.1"
			}
		}
		for _, h := range e.Hosts {
			ns, host, _ := strings.Cut(h, "/")
			l.Hosts = append(l.Hosts, ir.EgressHost{Namespace: ns, Host: host})
		}
		out = append(out, l)
	}
	slices.SortStableFunc(out, func(a, b *ir.EgressListener) int {
		switch {
		case a.Port == b.Port:
			return 0
		case a.Port == 0:
			return 1
		case b.Port == 0:
			return -1
		}
		return int(a.Port) - int(b.Port)
	})
	return out
}

// ingressListeners are a Sidecar's ingress listeners as IR, by port.
func ingressListeners(in []networkingv1.IstioIngressListener) []*ir.IngressListener {
	var out []*ir.IngressListener
	for _, l := range in {
		il := &ir.IngressListener{Port: l.Port.Number, Protocol: strings.ToUpper(l.Port.Protocol), DefaultEndpoint: l.DefaultEndpoint,
			Pool: connectionPool(l.ConnectionPool)}
		if l.CaptureMode == networkingv1.CaptureModeNone {
			// Not captured: a listener of its own takes the port, on every address
			// of the pod unless the Sidecar names one. (Captured traffic reaches
			// virtualInbound whatever bind says.)
			il.Bind = cmp.Or(l.Bind, "0.0.0.0")
		}
		if t := l.TLS; t != nil {
			il.TLS = &ir.ServerTLS{Mode: string(t.Mode), ServerCertificate: t.ServerCertificate, PrivateKey: t.PrivateKey,
				CaCertificates: t.CaCertificates, CaCrl: t.CaCrl, VerifySPKI: t.VerifyCertificateSpki, VerifyHash: t.VerifyCertificateHash,
				MinVersion: t.MinProtocolVersion, MaxVersion: t.MaxProtocolVersion, CipherSuites: t.CipherSuites}
		}
		out = append(out, il)
	}
	slices.SortFunc(out, func(a, b *ir.IngressListener) int { return int(a.Port) - int(b.Port) })
	return out
}

// sidecarKey is the translated Sidecar written out (whether it has a selector too:
// one without labels is written as none).
func sidecarKey(s *ir.Sidecar) string {
	raw, err := json.Marshal(struct {
		Sidecar  *ir.Sidecar
		Selected bool
	}{s, s.Selector != nil})
	if err != nil {
		panic(err) // plain data: cannot fail
	}
	return string(raw)
}

// sidecarRefs reports, as ResolvedRefs, egress hosts naming one service (no
// wildcard) that no service of the mesh is, and an egress proxy that is no service
// port.
func (t *translator) sidecarRefs(rep *ObjectReport, s *ir.Sidecar) {
	if p := s.EgressProxy; p != nil {
		ok := false
		if svc := t.snap.Services[p.Host]; svc != nil && (s.Namespace == t.snap.Mesh.RootNamespace || svc.Namespace == s.Namespace ||
			ir.Visibility(svc.ExportTo).VisibleTo(s.Namespace)) {
			_, ok = svc.Port(p.Port)
		}
		if !ok {
			rep.unresolved(ReasonHostNotFound, fmt.Sprintf("egress proxy %s:%d is no service port exported to the namespace: unknown destinations cannot be reached", p.Host, p.Port))
		}
	}
	for _, l := range s.Egress {
		for _, h := range l.Hosts {
			if strings.HasPrefix(h.Host, "*") || h.Namespace == "~" {
				continue
			}
			svc := t.snap.Services[h.Host]
			ns := h.Namespace
			if ns == "." {
				ns = s.Namespace
			}
			if svc == nil || (ns != "*" && svc.Namespace != ns && s.Namespace != t.snap.Mesh.RootNamespace) {
				rep.unresolved(ReasonHostNotFound, fmt.Sprintf("egress host %s/%s matches no service", h.Namespace, h.Host))
			}
		}
	}
}
