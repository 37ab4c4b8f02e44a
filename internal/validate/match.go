package validate

import (
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
)

// maxRegexLength bounds regexes as Istio does: Envoy refuses RE2 programs above a size
// limit, and the length is the only cheap stand-in for that size.
const maxRegexLength = 1024

// checkRegex compiles re with Go's regexp, which implements RE2 syntax like Envoy's
// safe_regex, so a regex that compiles here is one Envoy accepts.
func checkRegex(p *field.Path, re string) *field.Error {
	if re == "" {
		return field.Invalid(p, re, "regex must not be empty")
	}
	if len(re) > maxRegexLength {
		return field.TooLong(p, "", maxRegexLength)
	}
	if _, err := regexp.Compile(re); err != nil {
		return field.Invalid(p, re, fmt.Sprintf("not an RE2 regex (https://github.com/google/re2/wiki/Syntax): %v", err))
	}
	return nil
}

// stringMatchKind says which empty values a StringMatch may hold.
type stringMatchKind int

const (
	// matchStrict refuses an empty prefix: Envoy's StringMatcher needs a non-empty
	// prefix (headers, query params, scheme, method, authority).
	matchStrict stringMatchKind = iota
	// matchURI allows the empty prefix, which Envoy's route prefix accepts ("all paths").
	matchURI
)

// stringMatch checks that at most one of exact/prefix/regex is set and that the one set
// is usable. An empty match ({}) is allowed: for headers and query params it means
// "present".
func stringMatch(p *field.Path, m *networkingv1.StringMatch, kind stringMatchKind) field.ErrorList {
	if m == nil {
		return nil
	}
	set := 0
	for _, v := range []*string{m.Exact, m.Prefix, m.Regex} {
		if v != nil {
			set++
		}
	}
	if set > 1 {
		return field.ErrorList{field.Invalid(p, "", "only one of exact, prefix or regex may be set")}
	}
	var errs field.ErrorList
	if m.Prefix != nil && *m.Prefix == "" && kind == matchStrict {
		errs = append(errs, field.Invalid(p.Child("prefix"), "", "prefix must not be empty"))
	}
	if m.Regex != nil {
		if err := checkRegex(p.Child("regex"), *m.Regex); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// ipOrCIDR accepts "10.1.2.3", "10.0.0.0/8" and the IPv6 forms, as Istio's
// ValidateIPSubnet does.
func ipOrCIDR(v string) bool {
	if strings.Contains(v, "/") {
		_, err := netip.ParsePrefix(v)
		return err == nil
	}
	_, err := netip.ParseAddr(v)
	return err == nil
}

// port1To65535 reports a port number out of range; callers skip 0 where 0 means unset.
func port1To65535(p *field.Path, n uint32) field.ErrorList {
	if n == 0 || n > 65535 {
		return field.ErrorList{field.Invalid(p, n, "port number must be in 1-65535")}
	}
	return nil
}

// labelMap checks Kubernetes label syntax for keys and values (sourceLabels, subset
// labels), as Istio's labels.Instance.Validate does.
func labelMap(p *field.Path, m map[string]string) field.ErrorList {
	var errs field.ErrorList
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p, k, "invalid label key: "+strings.Join(msgs, "; ")))
		}
		if msgs := validation.IsValidLabelValue(m[k]); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p.Key(k), m[k], "invalid label value: "+strings.Join(msgs, "; ")))
		}
	}
	return errs
}
