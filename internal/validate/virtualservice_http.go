package validate

import (
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
)

// httpRoute checks one HTTP rule: what it does (route, redirect, directResponse or
// delegate) and what may be combined with that, its matches, and each policy.
func httpRoute(p *field.Path, r *networkingv1.HTTPRoute, ctx vsContext) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, httpActions(p, r, ctx)...)
	for i := range r.Match {
		errs = append(errs, httpMatch(p.Child("match").Index(i), &r.Match[i], ctx)...)
	}
	weights := make([]int32, len(r.Route))
	for i := range r.Route {
		d := &r.Route[i]
		dp := p.Child("route").Index(i)
		errs = append(errs, destination(dp.Child("destination"), &d.Destination)...)
		errs = append(errs, headerOperations(dp.Child("headers"), d.Headers)...)
		weights[i] = d.Weight
	}
	errs = append(errs, routeWeights(p.Child("route"), weights)...)
	errs = append(errs, redirect(p.Child("redirect"), r.Redirect)...)
	errs = append(errs, directResponse(p.Child("directResponse"), r.DirectResponse)...)
	errs = append(errs, delegate(p.Child("delegate"), r.Delegate)...)
	errs = append(errs, rewrite(p.Child("rewrite"), r.Rewrite)...)
	errs = append(errs, checkDuration(p.Child("timeout"), r.Timeout, atLeastMillisecond)...)
	errs = append(errs, retries(p.Child("retries"), r.Retries)...)
	errs = append(errs, faultInjection(p.Child("fault"), r.Fault)...)
	errs = append(errs, mirrors(p, r)...)
	errs = append(errs, corsPolicy(p.Child("corsPolicy"), r.CorsPolicy)...)
	errs = append(errs, headerOperations(p.Child("headers"), r.Headers)...)
	errs = append(errs, authorityOnce(p, r)...)
	return errs
}

// httpActions: a rule does exactly one of route, redirect, directResponse or delegate.
// Istio also refuses a fault or a rewrite next to a redirect or a direct response
// (nothing is forwarded, so they could never apply), and one level of delegation only.
func httpActions(p *field.Path, r *networkingv1.HTTPRoute, ctx vsContext) field.ErrorList {
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
	if r.Delegate != nil && ctx.delegate {
		errs = append(errs, field.Forbidden(p.Child("delegate"), "a delegate VirtualService cannot delegate again (one level only)"))
	}
	for _, terminal := range []struct {
		name string
		set  bool
	}{{"redirect", r.Redirect != nil}, {"directResponse", r.DirectResponse != nil}} {
		if !terminal.set {
			continue
		}
		if r.Fault != nil {
			errs = append(errs, field.Forbidden(p.Child("fault"), "fault injection cannot be combined with "+terminal.name))
		}
		if r.Rewrite != nil {
			errs = append(errs, field.Forbidden(p.Child("rewrite"), "rewrite cannot be combined with "+terminal.name))
		}
	}
	if r.Mirror != nil && len(r.Mirrors) > 0 {
		errs = append(errs, field.Forbidden(p.Child("mirrors"), "mirror and mirrors cannot both be set; list every mirror under mirrors"))
	}
	return errs
}

// httpMatch checks one match request. URI regexes, header names and string matches
// must be usable by Envoy; port, source labels and namespace are checked for syntax.
func httpMatch(p *field.Path, m *networkingv1.HTTPMatchRequest, ctx vsContext) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, stringMatch(p.Child("uri"), m.URI, matchURI)...)
	errs = append(errs, stringMatch(p.Child("scheme"), m.Scheme, matchStrict)...)
	errs = append(errs, stringMatch(p.Child("method"), m.Method, matchStrict)...)
	errs = append(errs, stringMatch(p.Child("authority"), m.Authority, matchStrict)...)
	errs = append(errs, headerMatches(p.Child("headers"), m.Headers, false, ctx)...)
	errs = append(errs, headerMatches(p.Child("withoutHeaders"), m.WithoutHeaders, true, ctx)...)
	qp := p.Child("queryParams")
	for _, k := range slices.Sorted(maps.Keys(m.QueryParams)) {
		v := m.QueryParams[k]
		errs = append(errs, stringMatch(qp.Key(k), &v, matchStrict)...)
	}
	if m.Port != 0 {
		errs = append(errs, port1To65535(p.Child("port"), m.Port)...)
	}
	errs = append(errs, labelMap(p.Child("sourceLabels"), m.SourceLabels)...)
	errs = append(errs, gatewayNames(p.Child("gateways"), m.Gateways)...)
	if m.SourceNamespace != "" && !IsDNS1123Label(m.SourceNamespace) {
		errs = append(errs, field.Invalid(p.Child("sourceNamespace"), m.SourceNamespace, "must be a namespace name (DNS label)"))
	}
	return errs
}

// headerMatches checks header names and values. withoutHeaders may use the regex "*",
// which Istio reads as "header absent", not as a regex.
func headerMatches(p *field.Path, headers map[string]networkingv1.StringMatch, without bool, ctx vsContext) field.ErrorList {
	var errs field.ErrorList
	for _, k := range slices.Sorted(maps.Keys(headers)) {
		kp := p.Key(k)
		if err := matchHeaderName(kp, k); err != nil {
			errs = append(errs, err)
		}
		if isJWTClaimHeader(k) && !ctx.gatewayOnly {
			errs = append(errs, field.Invalid(kp, k, "JWT claim based routing is only supported for VirtualServices bound to gateways only (not mesh)"))
		}
		v := headers[k]
		if without && v.Regex != nil && *v.Regex == "*" && v.Exact == nil && v.Prefix == nil {
			continue
		}
		errs = append(errs, stringMatch(kp, &v, matchStrict)...)
	}
	return errs
}

// delegate names the VirtualService holding the delegated rules. Istio's API marks the
// name required; an unnamed delegate could never be resolved.
func delegate(p *field.Path, d *networkingv1.Delegate) field.ErrorList {
	if d == nil {
		return nil
	}
	var errs field.ErrorList
	if d.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), "the name of the delegate VirtualService is required"))
	} else if msgs := validation.IsDNS1123Subdomain(d.Name); len(msgs) > 0 {
		errs = append(errs, field.Invalid(p.Child("name"), d.Name, "must be a VirtualService name: "+strings.Join(msgs, "; ")))
	}
	if d.Namespace != "" && !IsDNS1123Label(d.Namespace) {
		errs = append(errs, field.Invalid(p.Child("namespace"), d.Namespace, "must be a namespace name (DNS label)"))
	}
	return errs
}
