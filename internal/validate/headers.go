package validate

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
)

var (
	// headerToken is an HTTP field name: an RFC 7230 token.
	headerToken = regexp.MustCompile("^[!#$%&'*+\\-.^_`|~0-9A-Za-z]+$")
	// matchPseudoHeaders are the HTTP/2 pseudo-headers a match may name directly.
	matchPseudoHeaders = []string{":method", ":scheme", ":authority", ":path", ":status"}
	// jwtClaimHeader is Istio's routing-on-claims form: @request.auth.claims.sub or
	// @request.auth.claims[nested][key].
	jwtClaimHeader = regexp.MustCompile(`^(?i:@request\.auth\.claims)(?:\.[^.\[\]]+(?:\.[^.\[\]]+)*|(?:\[[^\[\]]+\])+)$`)
)

// isJWTClaimHeader reports whether a match header key routes on a JWT claim.
func isJWTClaimHeader(name string) bool { return jwtClaimHeader.MatchString(name) }

// matchHeaderName checks a header key of match.headers or match.withoutHeaders.
func matchHeaderName(p *field.Path, name string) *field.Error {
	switch {
	case name == "":
		return field.Invalid(p, name, "header name must not be empty")
	case isJWTClaimHeader(name), slices.Contains(matchPseudoHeaders, name), headerToken.MatchString(name):
		return nil
	}
	return field.Invalid(p, name, "not a valid HTTP header name")
}

// isAuthorityHeader: Istio turns a request set/add of :authority or host into a host
// rewrite, so these two may be "set" although Envoy cannot modify them as headers.
func isAuthorityHeader(name string) bool {
	return strings.EqualFold(name, ":authority") || strings.EqualFold(name, "host")
}

// headerOpName checks a header name used in set/add/remove. Envoy refuses to modify
// pseudo-headers and Host; the only exception is the authority, which a request may set.
func headerOpName(p *field.Path, name string, authorityAllowed bool) *field.Error {
	switch {
	case name == "":
		return field.Invalid(p, name, "header name must not be empty")
	case authorityAllowed && isAuthorityHeader(name):
		return nil
	case strings.EqualFold(name, "host"):
		return field.Invalid(p, name, "the Host header cannot be modified here (rewrite the authority in a request set instead)")
	case strings.HasPrefix(name, ":"):
		return field.Invalid(p, name, `headers with a ":" prefix cannot be modified`)
	case !headerToken.MatchString(name):
		return field.Invalid(p, name, "not a valid HTTP header name")
	}
	return nil
}

// headerValue checks a header value: no control characters but tab, and Envoy's
// %VARIABLE% syntax well formed ("100%%" is a literal percent; "%START_TIME%" and
// %VAR(args)% are substitutions).
func headerValue(p *field.Path, v string) *field.Error {
	for _, r := range v {
		if (r < 0x20 && r != '\t') || r == 0x7f {
			return field.Invalid(p, v, "header value must not contain control characters")
		}
	}
	if msg := percentSyntax(v); msg != "" {
		return field.Invalid(p, v, msg+` (write %% for a literal %)`)
	}
	return nil
}

// percentSyntax walks v the way Envoy's header formatter does and returns why it
// would refuse it, or "".
func percentSyntax(v string) string {
	for i := 0; i < len(v); i++ {
		if v[i] != '%' {
			continue
		}
		if i+1 < len(v) && v[i+1] == '%' {
			i++ // escaped percent
			continue
		}
		end, msg := variableEnd(v, i+1)
		if msg != "" {
			return msg
		}
		i = end
	}
	return ""
}

// variableEnd scans a %NAME% or %NAME(args)% expression starting after its opening
// percent and returns the index of its closing percent.
func variableEnd(v string, i int) (int, string) {
	for ; i < len(v); i++ {
		switch v[i] {
		case '%':
			return i, ""
		case '(':
			return argsEnd(v, i+1)
		}
	}
	return 0, "unterminated %VARIABLE% expression"
}

// argsEnd skips the arguments of %NAME(...)%: quoted strings may hold any character
// (backslash escapes the next one); after ')' only spaces may come before '%'.
func argsEnd(v string, i int) (int, string) {
	inString := false
	for ; i < len(v); i++ {
		c := v[i]
		switch {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case !inString && c == ')':
			for i++; i < len(v) && v[i] == ' '; i++ {
			}
			if i < len(v) && v[i] == '%' {
				return i, ""
			}
			return 0, "expected % after the arguments of a %VARIABLE(...)% expression"
		}
	}
	return 0, "unterminated %VARIABLE(...)% expression"
}

// headerOperations checks route- or destination-level header manipulation.
func headerOperations(p *field.Path, h *networkingv1.Headers) field.ErrorList {
	if h == nil {
		return nil
	}
	var errs field.ErrorList
	errs = append(errs, headerOps(p.Child("request"), h.Request, true)...)
	errs = append(errs, headerOps(p.Child("response"), h.Response, false)...)
	return errs
}

func headerOps(p *field.Path, ops *networkingv1.HeaderOperations, request bool) field.ErrorList {
	if ops == nil {
		return nil
	}
	var errs field.ErrorList
	for _, set := range []struct {
		name string
		m    map[string]string
	}{{"set", ops.Set}, {"add", ops.Add}} {
		for _, k := range slices.Sorted(maps.Keys(set.m)) {
			kp := p.Child(set.name).Key(k)
			if err := headerOpName(kp, k, request); err != nil {
				errs = append(errs, err)
			}
			if err := headerValue(kp, set.m[k]); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for i, k := range ops.Remove {
		if err := headerOpName(p.Child("remove").Index(i), k, false); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// authorityOnce: the authority may be rewritten in one place only (rewrite.authority or
// a request set/add of :authority or host); two would contradict each other.
func authorityOnce(p *field.Path, r *networkingv1.HTTPRoute) field.ErrorList {
	var first string
	var errs field.ErrorList
	if r.Rewrite != nil && r.Rewrite.Authority != "" {
		first = p.Child("rewrite", "authority").String()
	}
	if r.Headers == nil || r.Headers.Request == nil {
		return nil
	}
	for _, set := range []struct {
		name string
		m    map[string]string
	}{{"set", r.Headers.Request.Set}, {"add", r.Headers.Request.Add}} {
		for _, k := range slices.Sorted(maps.Keys(set.m)) {
			if !isAuthorityHeader(k) {
				continue
			}
			kp := p.Child("headers", "request", set.name).Key(k)
			if first != "" {
				errs = append(errs, field.Invalid(kp, set.m[k], fmt.Sprintf("the authority is already rewritten by %s; it can be set in one place only", first)))
				continue
			}
			first = kp.String()
		}
	}
	return errs
}
