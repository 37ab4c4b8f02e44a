package validate

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	securityv1 "github.com/meshd-io/meshd/api/security/v1"
)

var actions = []string{
	string(securityv1.ActionAllow), string(securityv1.ActionDeny),
	string(securityv1.ActionAudit), string(securityv1.ActionCustom),
}

// conditionKeys are the attribute names Istio accepts in `when`; entries ending in "["
// take a bracketed argument (request.headers[x-token]).
var conditionKeys = []string{
	"request.headers[", "source.ip", "remote.ip", "source.namespace", "source.principal",
	"source.serviceAccount", "request.auth.principal", "request.auth.audiences",
	"request.auth.presenter", "request.auth.claims[", "destination.ip", "destination.port",
	"connection.sni", "experimental.envoy.filters.",
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
	}
	if len(spec.TargetRefs) > 0 {
		scopes++
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
		errs = append(errs, rule(p.Child("rules").Index(i), &spec.Rules[i])...)
	}
	return errs
}

func rule(p *field.Path, r *securityv1.Rule) field.ErrorList {
	var errs field.ErrorList
	for i, f := range r.From {
		fp := p.Child("from").Index(i).Child("source")
		if f.Source == nil {
			errs = append(errs, field.Required(fp, "source must not be empty"))
			continue
		}
		errs = append(errs, source(fp, f.Source)...)
	}
	for i, t := range r.To {
		tp := p.Child("to").Index(i).Child("operation")
		if t.Operation == nil {
			errs = append(errs, field.Required(tp, "operation must not be empty"))
			continue
		}
		errs = append(errs, operation(tp, t.Operation)...)
	}
	for i, c := range r.When {
		errs = append(errs, condition(p.Child("when").Index(i), &c)...)
	}
	return errs
}

func source(p *field.Path, s *securityv1.Source) field.ErrorList {
	var errs field.ErrorList
	if len(s.Principals)+len(s.NotPrincipals)+len(s.RequestPrincipals)+len(s.NotRequestPrincipals)+
		len(s.Namespaces)+len(s.NotNamespaces)+len(s.ServiceAccounts)+len(s.NotServiceAccounts)+
		len(s.IPBlocks)+len(s.NotIPBlocks)+len(s.RemoteIPBlocks)+len(s.NotRemoteIPBlocks) == 0 {
		errs = append(errs, field.Required(p, "source must set at least one field"))
	}
	if len(s.ServiceAccounts)+len(s.NotServiceAccounts) > 0 &&
		len(s.Principals)+len(s.NotPrincipals)+len(s.Namespaces)+len(s.NotNamespaces) > 0 {
		errs = append(errs, field.Invalid(p.Child("serviceAccounts"), s.ServiceAccounts, "cannot set serviceAccounts with namespaces or principals"))
	}
	for name, vals := range map[string][]string{
		"principals": s.Principals, "notPrincipals": s.NotPrincipals,
		"requestPrincipals": s.RequestPrincipals, "notRequestPrincipals": s.NotRequestPrincipals,
		"namespaces": s.Namespaces, "notNamespaces": s.NotNamespaces,
		"serviceAccounts": s.ServiceAccounts, "notServiceAccounts": s.NotServiceAccounts,
	} {
		errs = append(errs, nonEmptyValues(p.Child(name), vals)...)
	}
	for name, vals := range map[string][]string{
		"ipBlocks": s.IPBlocks, "notIpBlocks": s.NotIPBlocks,
		"remoteIpBlocks": s.RemoteIPBlocks, "notRemoteIpBlocks": s.NotRemoteIPBlocks,
	} {
		errs = append(errs, ipBlocks(p.Child(name), vals)...)
	}
	sortErrors(errs)
	return errs
}

func operation(p *field.Path, o *securityv1.Operation) field.ErrorList {
	var errs field.ErrorList
	if len(o.Hosts)+len(o.NotHosts)+len(o.Ports)+len(o.NotPorts)+len(o.Methods)+len(o.NotMethods)+
		len(o.Paths)+len(o.NotPaths) == 0 {
		errs = append(errs, field.Required(p, "operation must set at least one field"))
	}
	for name, vals := range map[string][]string{
		"hosts": o.Hosts, "notHosts": o.NotHosts, "methods": o.Methods, "notMethods": o.NotMethods,
		"paths": o.Paths, "notPaths": o.NotPaths,
	} {
		errs = append(errs, nonEmptyValues(p.Child(name), vals)...)
	}
	errs = append(errs, ports(p.Child("ports"), o.Ports)...)
	errs = append(errs, ports(p.Child("notPorts"), o.NotPorts)...)
	sortErrors(errs)
	return errs
}

func condition(p *field.Path, c *securityv1.Condition) field.ErrorList {
	var errs field.ErrorList
	if c.Key == "" {
		return field.ErrorList{field.Required(p.Child("key"), "key is required")}
	}
	if !knownConditionKey(c.Key) {
		errs = append(errs, field.Invalid(p.Child("key"), c.Key, "unknown attribute; see Istio's authorization policy conditions"))
	}
	if len(c.Values) == 0 && len(c.NotValues) == 0 {
		errs = append(errs, field.Required(p.Child("values"), "at least one of values or notValues must be set"))
	}
	switch c.Key {
	case "source.ip", "remote.ip", "destination.ip":
		errs = append(errs, ipBlocks(p.Child("values"), c.Values)...)
		errs = append(errs, ipBlocks(p.Child("notValues"), c.NotValues)...)
	case "destination.port":
		errs = append(errs, ports(p.Child("values"), c.Values)...)
		errs = append(errs, ports(p.Child("notValues"), c.NotValues)...)
	}
	return errs
}

func knownConditionKey(key string) bool {
	for _, k := range conditionKeys {
		switch {
		case strings.HasSuffix(k, "["):
			if strings.HasPrefix(key, k) && strings.HasSuffix(key, "]") && len(key) > len(k)+1 {
				return true
			}
		case strings.HasSuffix(k, "."):
			if strings.HasPrefix(key, k) && len(key) > len(k) {
				return true
			}
		case key == k:
			return true
		}
	}
	return false
}

func nonEmptyValues(p *field.Path, vals []string) field.ErrorList {
	var errs field.ErrorList
	for i, v := range vals {
		if v == "" {
			errs = append(errs, field.Invalid(p.Index(i), v, "empty value not allowed"))
		}
	}
	return errs
}

func ipBlocks(p *field.Path, vals []string) field.ErrorList {
	var errs field.ErrorList
	for i, v := range vals {
		if _, err := netip.ParsePrefix(v); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(v); err != nil {
			errs = append(errs, field.Invalid(p.Index(i), v, "must be an IP address or CIDR range"))
		}
	}
	return errs
}

func ports(p *field.Path, vals []string) field.ErrorList {
	var errs field.ErrorList
	for i, v := range vals {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 65535 {
			errs = append(errs, field.Invalid(p.Index(i), v, "must be a port number in 0-65535"))
		}
	}
	return errs
}
