// Package validate is meshd's pure semantic validation of the Istio kinds, shared by the
// admission webhook and the translator. Each function returns every problem it finds as
// a field.ErrorList, so messages carry the field path (spec.http[0].route[1].weight).
// The rules follow Istio's pkg/config/validation; messages say what is wrong and what
// is allowed.
package validate

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

const (
	maxDomainLength = 255
	maxLabelLength  = 63
)

var (
	dnsLabel = regexp.MustCompile(`^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$`)
	// Istio allows a wildcard only as (a prefix of) the first label: "*", "*.x", "*x.y".
	wildcardLabel = regexp.MustCompile(`^(?:\*|(?:\*|\*-)?[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?)$`)
)

// IsDNS1123Label reports whether s is a DNS label (Istio accepts upper case).
func IsDNS1123Label(s string) bool {
	return len(s) <= maxLabelLength && dnsLabel.MatchString(s)
}

// WildcardDomain checks a host that may carry a wildcard in its first label, as
// VirtualService and DestinationRule hosts may ("*.example.com", "reviews", "*").
func WildcardDomain(domain string) error {
	if err := domainLength(domain); err != nil {
		return err
	}
	first, rest, hasRest := strings.Cut(domain, ".")
	if len(first) > maxLabelLength || !wildcardLabel.MatchString(first) {
		return fmt.Errorf("domain name %q invalid (label %q invalid)", domain, first)
	}
	if hasRest {
		return dnsLabels(domain, rest)
	}
	return nil
}

// FQDN checks a host name without wildcards.
func FQDN(domain string) error {
	if err := domainLength(domain); err != nil {
		return err
	}
	return dnsLabels(domain, domain)
}

func domainLength(domain string) error {
	if domain == "" {
		return fmt.Errorf("empty domain name not allowed")
	}
	if len(domain) > maxDomainLength {
		return fmt.Errorf("domain name %q too long (max %d)", domain, maxDomainLength)
	}
	return nil
}

func dnsLabels(domain, labels string) error {
	parts := strings.Split(labels, ".")
	top := parts[len(parts)-1]
	if _, err := strconv.Atoi(top); err == nil {
		return fmt.Errorf("domain name %q invalid (top level domain %q cannot be all-numeric)", domain, top)
	}
	for i, label := range parts {
		// A trailing dot makes an unambiguous absolute name ("istio.io.").
		if i == len(parts)-1 && label == "" && i > 0 {
			return nil
		}
		if !IsDNS1123Label(label) {
			return fmt.Errorf("domain name %q invalid (label %q invalid)", domain, label)
		}
	}
	return nil
}

// HostsOverlap reports whether two (possibly wildcard) hosts match a common name, as
// Istio's host.Name.Matches does: "*.foo.com" overlaps "bar.foo.com" and "*.com".
func HostsOverlap(a, b string) bool {
	aw, bw := strings.HasPrefix(a, "*"), strings.HasPrefix(b, "*")
	switch {
	case aw && bw:
		if len(a) < len(b) {
			return strings.HasSuffix(b[1:], a[1:])
		}
		return strings.HasSuffix(a[1:], b[1:])
	case aw:
		return strings.HasSuffix(b, a[1:])
	case bw:
		return strings.HasSuffix(a, b[1:])
	default:
		return a == b
	}
}

// hostSubsetOf reports whether every name a matches is also matched by b, as Istio's
// host.Name.SubsetOf does: "a.foo.com" and "*.foo.com" are within "*.foo.com", and
// everything is within "*".
func hostSubsetOf(a, b string) bool {
	if strings.HasPrefix(b, "*") {
		if strings.HasPrefix(a, "*") {
			return strings.HasSuffix(a[1:], b[1:])
		}
		return strings.HasSuffix(a, b[1:])
	}
	return !strings.HasPrefix(a, "*") && a == b
}
