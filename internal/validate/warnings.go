package validate

import (
	"encoding/json"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
)

// Warnings are what Istio accepts but a person should hear about: deprecated fields,
// fields that have no effect, rules that can never match. Each message starts with the
// field path; the order follows the spec, so the same object always gives the same
// list. The webhook returns them to kubectl, which prints them.

// largeDirectResponse is the body size above which Istio warns (it refuses above 1MiB).
const largeDirectResponse = 100 << 10

type warnings []string

func (w *warnings) add(p *field.Path, format string, args ...any) {
	*w = append(*w, p.String()+": "+fmt.Sprintf(format, args...))
}

// VirtualServiceWarnings lists deprecated and ineffective settings of a VirtualService.
func VirtualServiceWarnings(spec *networkingv1.VirtualServiceSpec) []string {
	var w warnings
	p := field.NewPath("spec")
	legacyGatewayNames(&w, p.Child("gateways"), spec.Gateways)
	for i := range spec.HTTP {
		httpRouteWarnings(&w, p.Child("http").Index(i), &spec.HTTP[i])
	}
	for i := range spec.TLS {
		for j, m := range spec.TLS[i].Match {
			mp := p.Child("tls").Index(i).Child("match").Index(j)
			for k, h := range m.SniHosts {
				if WildcardDomain(h) != nil && ipOrCIDR(h) && !strings.Contains(h, "/") {
					w.add(mp.Child("sniHosts").Index(k), "an IP address as SNI goes against the SNI spec (RFC 6066); most clients never send one")
				}
			}
			legacyGatewayNames(&w, mp.Child("gateways"), m.Gateways)
		}
	}
	for i := range spec.TCP {
		for j, m := range spec.TCP[i].Match {
			mp := p.Child("tcp").Index(i).Child("match").Index(j)
			if m.SourceSubnet != "" {
				w.add(mp.Child("sourceSubnet"), "deprecated; match on sourceLabels or sourceNamespace instead")
			}
			legacyGatewayNames(&w, mp.Child("gateways"), m.Gateways)
		}
	}
	unreachableRules(&w, p, spec)
	return w
}

func httpRouteWarnings(w *warnings, p *field.Path, r *networkingv1.HTTPRoute) {
	for j := range r.Match {
		legacyGatewayNames(w, p.Child("match").Index(j).Child("gateways"), r.Match[j].Gateways)
	}
	if d := r.DirectResponse; d != nil && d.Body != nil {
		size := len(d.Body.Bytes)
		if d.Body.String != nil {
			size = len(*d.Body.String)
		}
		if size > largeDirectResponse && size <= maxDirectResponseBody {
			w.add(p.Child("directResponse", "body"), "a %d byte body is sent to every proxy with the routes; large bodies slow down config distribution", size)
		}
	}
	if f := r.Fault; f != nil {
		if d := f.Delay; d != nil {
			if d.Percent != 0 {
				w.add(p.Child("fault", "delay", "percent"), "deprecated; use percentage")
			}
			if d.FixedDelay == nil && d.ExponentialDelay == nil {
				w.add(p.Child("fault", "delay"), "no fixedDelay is set, so no delay is injected")
			}
		}
		if a := f.Abort; a != nil && a.HTTPStatus == nil && a.GrpcStatus == nil && a.HTTP2Error == nil {
			w.add(p.Child("fault", "abort"), "no httpStatus or grpcStatus is set, so nothing is aborted")
		}
	}
	if r.MirrorPercent != nil {
		w.add(p.Child("mirrorPercent"), "deprecated; use mirrorPercentage")
	}
	if r.DeprecatedMirrorPercent != nil {
		w.add(p.Child("mirror_percent"), "deprecated; use mirrorPercentage")
	}
	if c := r.CorsPolicy; c != nil && len(c.AllowOrigin) > 0 {
		w.add(p.Child("corsPolicy", "allowOrigin"), "deprecated; use allowOrigins")
	}
}

// legacyGatewayNames: "name.namespace" still works but "<namespace>/<name>" is the form
// Istio documents (and the only one that is unambiguous).
func legacyGatewayNames(w *warnings, p *field.Path, gws []string) {
	for i, gw := range gws {
		if name, ns, ok := strings.Cut(gw, "."); ok && !strings.Contains(gw, "/") {
			if ns, _, _ = strings.Cut(ns, "."); ns != "" {
				w.add(p.Index(i), "legacy gateway name format %q; prefer <namespace>/<name>: %q", gw, ns+"/"+name)
			}
		}
	}
}

// unreachableRules: rules are tried in order and the first match wins, so a rule
// after one without matches, or a match equal to an earlier one, is never used.
func unreachableRules(w *warnings, p *field.Path, spec *networkingv1.VirtualServiceSpec) {
	httpMatches := make([][]any, len(spec.HTTP))
	for i, r := range spec.HTTP {
		for _, m := range r.Match {
			m.Name = "" // names are labels, not conditions
			httpMatches[i] = append(httpMatches[i], m)
		}
	}
	shadowedRules(w, p.Child("http"), httpMatches)
	tcpMatches := make([][]any, len(spec.TCP))
	for i, r := range spec.TCP {
		for _, m := range r.Match {
			tcpMatches[i] = append(tcpMatches[i], m)
		}
	}
	shadowedRules(w, p.Child("tcp"), tcpMatches)
	tlsMatches := make([][]any, len(spec.TLS))
	for i, r := range spec.TLS {
		for _, m := range r.Match {
			tlsMatches[i] = append(tlsMatches[i], m)
		}
	}
	shadowedRules(w, p.Child("tls"), tlsMatches)
}

func shadowedRules(w *warnings, p *field.Path, rules [][]any) {
	catchAll := -1
	seen := map[string]string{}
	for i, matches := range rules {
		rp := p.Index(i)
		if catchAll >= 0 {
			w.add(rp, "never used: %s before it has no match and takes all traffic", p.Index(catchAll))
			continue
		}
		if len(matches) == 0 {
			catchAll = i
			continue
		}
		for j, m := range matches {
			b, _ := json.Marshal(m)
			if first, dup := seen[string(b)]; dup {
				w.add(rp.Child("match").Index(j), "never used: same as %s", first)
				continue
			}
			seen[string(b)] = rp.Child("match").Index(j).String()
		}
	}
}
