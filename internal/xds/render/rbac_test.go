package render

import (
	"testing"

	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
)

// TestPrincipalValues: Istio's principal syntax, with the SPIFFE scheme added to what
// matches an identity from its start (exact and prefix matches, "*a*" among them).
func TestPrincipalValues(t *testing.T) {
	exact := func(v string) *matcherv3.StringMatcher {
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: v}}
	}
	prefix := func(v string) *matcherv3.StringMatcher {
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: v}}
	}
	suffix := func(v string) *matcherv3.StringMatcher {
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Suffix{Suffix: v}}
	}
	for v, want := range map[string]*matcherv3.StringMatcher{
		"cluster.local/ns/a/sa/b": exact("spiffe://cluster.local/ns/a/sa/b"),
		"cluster.local/ns/a/*":    prefix("spiffe://cluster.local/ns/a/"),
		"*/sa/b":                  suffix("/sa/b"),
		"*/ns/a/*":                prefix("spiffe://*/ns/a/"),
		"**":                      prefix("spiffe://*"),
		"*":                       {MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: ".+"}}},
	} {
		got := principalID(v).GetAuthenticated().GetPrincipalName()
		if !proto.Equal(got, want) {
			t.Errorf("principal %q: %v, want %v", v, got, want)
		}
	}
}
