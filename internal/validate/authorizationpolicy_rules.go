package validate

import (
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	securityv1 "github.com/meshd-io/meshd/api/security/v1"
)

// conditionKind says how a `when` key's values are checked.
type conditionKind int

const (
	anyValue conditionKind = iota
	ipValues
	portValues
	serviceAccountValues
	// replaced keys existed in Istio's v1alpha1 RBAC; they are refused with the hint.
	replaced
)

// conditionKey is one attribute Istio accepts in `when`. A key ending in "[" takes a
// bracketed, non-empty argument (request.headers[x-token]).
type conditionKey struct {
	key  string
	kind conditionKind
	hint string
}

var conditionKeys = []conditionKey{
	{key: "request.headers[", kind: anyValue},
	{key: "request.experimental.inline.headers[", kind: anyValue},
	{key: "source.ip", kind: ipValues},
	{key: "remote.ip", kind: ipValues},
	{key: "source.namespace", kind: anyValue},
	{key: "source.serviceAccount", kind: serviceAccountValues},
	{key: "source.principal", kind: anyValue},
	{key: "request.auth.principal", kind: anyValue},
	{key: "request.auth.audiences", kind: anyValue},
	{key: "request.auth.presenter", kind: anyValue},
	{key: "request.auth.claims[", kind: anyValue},
	{key: "destination.ip", kind: ipValues},
	{key: "destination.port", kind: portValues},
	{key: "connection.sni", kind: anyValue},
	{key: "experimental.envoy.filters.", kind: anyValue},
	{key: "destination.namespace", kind: replaced, hint: "replaced by the policy's own namespace (metadata.namespace)"},
	{key: "destination.labels[", kind: replaced, hint: "replaced by the workload selector"},
	{key: "destination.name", kind: replaced, hint: "only supported in Istio's v1alpha1 RBAC"},
	{key: "destination.user", kind: replaced, hint: "only supported in Istio's v1alpha1 RBAC"},
}

// lookupConditionKey finds the attribute a key names; ok is false for unknown keys and
// for bracketed keys without a well-formed [argument].
func lookupConditionKey(key string) (conditionKey, bool) {
	for _, k := range conditionKeys {
		switch {
		case strings.HasSuffix(k.key, "["):
			if strings.HasPrefix(key, k.key) && strings.HasSuffix(key, "]") && len(key) > len(k.key)+1 {
				return k, true
			}
		case strings.HasSuffix(k.key, "."):
			// experimental.envoy.filters.<filter>[<metadata key>]
			open := strings.Index(key, "[")
			if strings.HasPrefix(key, k.key) && open > len(k.key) && strings.HasSuffix(key, "]") && open < len(key)-2 {
				return k, true
			}
		case key == k.key:
			return k, true
		}
	}
	return conditionKey{}, false
}

func rule(p *field.Path, r *securityv1.Rule) field.ErrorList {
	var errs field.ErrorList
	if r.From != nil && len(r.From) == 0 {
		errs = append(errs, field.Required(p.Child("from"), "from must not be an empty list: omit it to match any source"))
	}
	for i, f := range r.From {
		fp := p.Child("from").Index(i).Child("source")
		if f.Source == nil {
			errs = append(errs, field.Required(fp, "source must not be empty"))
			continue
		}
		errs = append(errs, source(fp, f.Source)...)
	}
	if r.To != nil && len(r.To) == 0 {
		errs = append(errs, field.Required(p.Child("to"), "to must not be an empty list: omit it to match any operation"))
	}
	for i, t := range r.To {
		tp := p.Child("to").Index(i).Child("operation")
		if t.Operation == nil {
			errs = append(errs, field.Required(tp, "operation must not be empty"))
			continue
		}
		errs = append(errs, operation(tp, t.Operation)...)
	}
	for i := range r.When {
		errs = append(errs, condition(p.Child("when").Index(i), &r.When[i])...)
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
	} {
		errs = append(errs, nonEmptyValues(p.Child(name), vals)...)
	}
	errs = append(errs, serviceAccounts(p.Child("serviceAccounts"), s.ServiceAccounts)...)
	errs = append(errs, serviceAccounts(p.Child("notServiceAccounts"), s.NotServiceAccounts)...)
	for name, vals := range map[string][]string{
		"ipBlocks": s.IPBlocks, "notIpBlocks": s.NotIPBlocks,
		"remoteIpBlocks": s.RemoteIPBlocks, "notRemoteIpBlocks": s.NotRemoteIPBlocks,
	} {
		errs = append(errs, ipBlocks(p.Child(name), vals)...)
	}
	sortErrors(errs)
	return errs
}

// maxServiceAccounts and maxServiceAccountLength are Istio's bounds on serviceAccounts.
const (
	maxServiceAccounts      = 16
	maxServiceAccountLength = 320
)

// serviceAccounts: "<sa>" (the policy's namespace) or "<ns>/<sa>", exact names only.
func serviceAccounts(p *field.Path, vals []string) field.ErrorList {
	var errs field.ErrorList
	if len(vals) > maxServiceAccounts {
		errs = append(errs, field.TooMany(p, len(vals), maxServiceAccounts))
	}
	for i, v := range vals {
		ip := p.Index(i)
		ns, sa, hasNS := strings.Cut(v, "/")
		switch {
		case v == "":
			errs = append(errs, field.Invalid(ip, v, "empty value not allowed"))
		case len(v) > maxServiceAccountLength:
			errs = append(errs, field.TooLong(ip, v, maxServiceAccountLength))
		case strings.Contains(v, "*"):
			errs = append(errs, field.Invalid(ip, v, "wildcards are not allowed in service accounts"))
		case strings.Contains(sa, "/") || (hasNS && (ns == "" || sa == "")):
			errs = append(errs, field.Invalid(ip, v, "expected serviceAccount or namespace/serviceAccount"))
		}
	}
	return errs
}

var (
	// pathLiteral is a path segment Envoy's URI templates accept (RFC 3986 pchar).
	pathLiteral = regexp.MustCompile(`^[a-zA-Z0-9\-._~%!$&'()+,;:@=]+$`)
)

func operation(p *field.Path, o *securityv1.Operation) field.ErrorList {
	var errs field.ErrorList
	if len(o.Hosts)+len(o.NotHosts)+len(o.Ports)+len(o.NotPorts)+len(o.Methods)+len(o.NotMethods)+
		len(o.Paths)+len(o.NotPaths) == 0 {
		errs = append(errs, field.Required(p, "operation must set at least one field"))
	}
	for name, vals := range map[string][]string{"hosts": o.Hosts, "notHosts": o.NotHosts} {
		errs = append(errs, nonEmptyValues(p.Child(name), vals)...)
	}
	for name, vals := range map[string][]string{"methods": o.Methods, "notMethods": o.NotMethods} {
		errs = append(errs, methods(p.Child(name), vals)...)
	}
	for name, vals := range map[string][]string{"paths": o.Paths, "notPaths": o.NotPaths} {
		errs = append(errs, paths(p.Child(name), vals)...)
	}
	errs = append(errs, ports(p.Child("ports"), o.Ports)...)
	errs = append(errs, ports(p.Child("notPorts"), o.NotPorts)...)
	sortErrors(errs)
	return errs
}

// methods: each is an HTTP method token, optionally with Istio's "*" prefix/suffix
// matching ("*" is itself a token character). A list written as "GET,POST" in one
// string would never match and is refused.
func methods(p *field.Path, vals []string) field.ErrorList {
	var errs field.ErrorList
	for i, v := range vals {
		switch {
		case v == "":
			errs = append(errs, field.Invalid(p.Index(i), v, "empty value not allowed"))
		case !headerToken.MatchString(v):
			errs = append(errs, field.Invalid(p.Index(i), v, "not an HTTP method (one method per entry)"))
		}
	}
	return errs
}

// paths: request paths start with "/" (gRPC ones too: /package.Service/Method), or
// are Istio's "*" forms ("*", "*suffix"); a path template ({*}, {**}) must be one Envoy
// supports: {**} last, literal segments otherwise, no other braces.
func paths(p *field.Path, vals []string) field.ErrorList {
	var errs field.ErrorList
	for i, v := range vals {
		ip := p.Index(i)
		switch {
		case v == "":
			errs = append(errs, field.Invalid(ip, v, "empty value not allowed"))
		case !strings.HasPrefix(v, "/") && !strings.HasPrefix(v, "*"):
			errs = append(errs, field.Invalid(ip, v, `a path must start with "/" (or be "*" or "*suffix")`))
		default:
			if msg := pathTemplate(v); msg != "" {
				errs = append(errs, field.Invalid(ip, v, msg))
			}
		}
	}
	return errs
}

func pathTemplate(path string) string {
	isTemplate := strings.Contains(path, "{*}") || strings.Contains(path, "{**}")
	matchAnySeen := false
	for _, seg := range strings.Split(strings.Trim(path, "/"), "/") {
		switch {
		case (seg == "{*}" || seg == "{**}") && matchAnySeen:
			return "invalid path template: {**} must be the last operator"
		case seg == "{*}":
			continue
		case seg == "{**}":
			matchAnySeen = true
			continue
		case strings.ContainsAny(seg, "{}"):
			return "invalid path template: only whole segments {*} and {**} are supported"
		case isTemplate && !pathLiteral.MatchString(seg):
			return "invalid path template: segment " + strconv.Quote(seg) + " is not a valid literal"
		}
	}
	return ""
}

func condition(p *field.Path, c *securityv1.Condition) field.ErrorList {
	if c.Key == "" {
		return field.ErrorList{field.Required(p.Child("key"), "key is required")}
	}
	var errs field.ErrorList
	k, known := lookupConditionKey(c.Key)
	switch {
	case !known:
		errs = append(errs, field.Invalid(p.Child("key"), c.Key, "unknown attribute; see Istio's authorization policy conditions"))
	case k.kind == replaced:
		errs = append(errs, field.Invalid(p.Child("key"), c.Key, "attribute "+k.hint))
	}
	if len(c.Values) == 0 && len(c.NotValues) == 0 {
		errs = append(errs, field.Required(p.Child("values"), "at least one of values or notValues must be set"))
	}
	for _, list := range []struct {
		name string
		vals []string
	}{{"values", c.Values}, {"notValues", c.NotValues}} {
		vp := p.Child(list.name)
		switch k.kind {
		case ipValues:
			errs = append(errs, ipBlocks(vp, list.vals)...)
		case portValues:
			errs = append(errs, ports(vp, list.vals)...)
		case serviceAccountValues:
			errs = append(errs, serviceAccounts(vp, list.vals)...)
		default:
			errs = append(errs, nonEmptyValues(vp, list.vals)...)
		}
	}
	return errs
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
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n > 65535 {
			errs = append(errs, field.Invalid(p.Index(i), v, "must be a port number in 0-65535"))
		}
	}
	return errs
}
