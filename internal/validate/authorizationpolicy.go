package validate

import (
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	securityv1 "github.com/meshd-io/meshd/api/security/v1"
	typev1beta1 "github.com/meshd-io/meshd/api/type/v1beta1"
)

var actions = []string{
	string(securityv1.ActionAllow), string(securityv1.ActionDeny),
	string(securityv1.ActionAudit), string(securityv1.ActionCustom),
}

// targetKinds are the group/kind pairs a policy may attach to (Istio's allowed target
// references); the empty group is the core group.
var targetKinds = []struct{ group, kind string }{
	{"", "Service"}, {"core", "Service"},
	{"networking.istio.io", "ServiceEntry"},
	{"gateway.networking.k8s.io", "Gateway"}, {"gateway.networking.k8s.io", "GatewayClass"},
}

// AuthorizationPolicy checks the action, provider, scope and every rule: sources,
// operations and conditions.
func AuthorizationPolicy(spec *securityv1.AuthorizationPolicySpec) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec")
	action := spec.Action
	if action == "" {
		action = securityv1.ActionAllow
	}
	if !slices.Contains(actions, string(action)) {
		errs = append(errs, field.NotSupported(p.Child("action"), action, actions))
	}
	errs = append(errs, workloadSelector(p.Child("selector"), spec.Selector)...)
	scopes := 0
	if spec.Selector != nil {
		scopes++
	}
	if spec.TargetRef != nil {
		scopes++
		errs = append(errs, targetRef(p.Child("targetRef"), spec.TargetRef)...)
	}
	if len(spec.TargetRefs) > 0 {
		scopes++
	}
	for i := range spec.TargetRefs {
		errs = append(errs, targetRef(p.Child("targetRefs").Index(i), &spec.TargetRefs[i])...)
	}
	if scopes > 1 {
		errs = append(errs, field.Invalid(p, "", "only one of selector, targetRef or targetRefs can be set"))
	}
	hasProvider := spec.Provider != nil && spec.Provider.Name != ""
	if action == securityv1.ActionCustom && !hasProvider {
		errs = append(errs, field.Required(p.Child("provider", "name"), "the CUSTOM action needs a provider"))
	}
	if action != securityv1.ActionCustom && spec.Provider != nil {
		errs = append(errs, field.Forbidden(p.Child("provider"), "provider is only used with the CUSTOM action"))
	}
	if (action == securityv1.ActionDeny || action == securityv1.ActionCustom) && len(spec.Rules) == 0 {
		errs = append(errs, field.Required(p.Child("rules"), string(action)+" without rules is never triggered; add an empty rule {} to match every request"))
	}
	for i := range spec.Rules {
		rp := p.Child("rules").Index(i)
		errs = append(errs, rule(rp, &spec.Rules[i])...)
		if action == securityv1.ActionCustom {
			errs = append(errs, customRule(rp, &spec.Rules[i])...)
		}
	}
	return errs
}

// targetRef: a named Service, ServiceEntry, Gateway or GatewayClass in the policy's own
// namespace (Istio does not support cross-namespace references).
func targetRef(p *field.Path, r *typev1beta1.PolicyTargetReference) field.ErrorList {
	var errs field.ErrorList
	if !slices.ContainsFunc(targetKinds, func(t struct{ group, kind string }) bool { return t.group == r.Group && t.kind == r.Kind }) {
		errs = append(errs, field.Invalid(p.Child("kind"), r.Group+"/"+r.Kind,
			"targetRef must be to one of core/Service, networking.istio.io/ServiceEntry, gateway.networking.k8s.io/Gateway, gateway.networking.k8s.io/GatewayClass"))
	}
	if r.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), "the target's name is required"))
	}
	if r.Namespace != "" {
		errs = append(errs, field.Forbidden(p.Child("namespace"), "cross namespace referencing is not supported; leave namespace empty"))
	}
	return errs
}

// customRule: a CUSTOM policy hands the request to an external authorizer before
// Istio's own authentication results exist in the filter chain, so it cannot match on
// peer or request identities (Istio's restriction).
func customRule(p *field.Path, r *securityv1.Rule) field.ErrorList {
	var errs field.ErrorList
	const why = "is not supported with the CUSTOM action"
	for i, f := range r.From {
		s := f.Source
		if s == nil {
			continue
		}
		sp := p.Child("from").Index(i).Child("source")
		for _, fld := range []struct {
			name string
			n    int
		}{
			{"principals", len(s.Principals)}, {"notPrincipals", len(s.NotPrincipals)},
			{"requestPrincipals", len(s.RequestPrincipals)}, {"notRequestPrincipals", len(s.NotRequestPrincipals)},
			{"namespaces", len(s.Namespaces)}, {"notNamespaces", len(s.NotNamespaces)},
			{"serviceAccounts", len(s.ServiceAccounts)}, {"notServiceAccounts", len(s.NotServiceAccounts)},
		} {
			if fld.n > 0 {
				errs = append(errs, field.Forbidden(sp.Child(fld.name), fld.name+" "+why))
			}
		}
	}
	for i, c := range r.When {
		switch {
		case c.Key == "source.namespace", c.Key == "source.serviceAccount", c.Key == "source.principal",
			strings.HasPrefix(c.Key, "request.auth."):
			errs = append(errs, field.Forbidden(p.Child("when").Index(i).Child("key"), c.Key+" "+why))
		}
	}
	return errs
}
