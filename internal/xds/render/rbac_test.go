package render

import (
	"fmt"
	"strings"
	"testing"

	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	rbachttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"

	"github.com/meshd-io/meshd/internal/ir"
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
		rules := &RBACRules{Policies: []RBACPolicy{{Name: "p", Rule: &ir.AuthzRule{From: []*ir.AuthzSource{{Principals: []string{v}}}}}}}
		got := rules.Proto().GetPolicies()["p"].GetPrincipals()[0].GetAuthenticated().GetPrincipalName()
		if !proto.Equal(got, want) {
			t.Errorf("principal %q: %v, want %v", v, got, want)
		}
	}
}

// TestRBACWrittenReadsBack: what the writer writes reads back as the rules it was given,
// through fields long enough to need lengths of two and three bytes, and a copy with
// another action or the peer's identity from filter state is written afresh.
func TestRBACWrittenReadsBack(t *testing.T) {
	long := "/" + strings.Repeat("p", 20000) // a length of three bytes
	rules := &RBACRules{Action: rbacv3.RBAC_DENY, TrustDomain: "td"}
	for i := range 200 {
		rules.Policies = append(rules.Policies, RBACPolicy{Name: fmt.Sprintf("p%03d", i), Rule: &ir.AuthzRule{
			From: []*ir.AuthzSource{{Principals: []string{"td/ns/a/sa/b"}, Namespaces: []string{"a*"}}},
			To:   []*ir.AuthzOperation{{Paths: []string{long, "/x*"}, Methods: []string{"GET"}}},
			When: []*ir.AuthzCondition{{Key: "source.serviceAccount", Values: []string{"a/b"}}},
		}})
	}
	got := rules.Proto()
	if got.GetAction() != rbacv3.RBAC_DENY || len(got.GetPolicies()) != 200 {
		t.Fatalf("action %v, %d policies, want DENY and 200", got.GetAction(), len(got.GetPolicies()))
	}
	p := got.GetPolicies()["p123"]
	ops := p.GetPermissions()[0].GetAndRules().GetRules()
	if path := ops[1].GetOrRules().GetRules()[0].GetUrlPath().GetPath().GetExact(); path != long {
		t.Errorf("the long path came back as %d bytes, want %d", len(path), len(long))
	}
	ids := p.GetPrincipals()[0].GetAndIds().GetIds()
	if sa := ids[1].GetAuthenticated().GetPrincipalName().GetExact(); sa != "spiffe://td/ns/a/sa/b" {
		t.Errorf("source.serviceAccount a/b matches %q, want spiffe://td/ns/a/sa/b", sa)
	}
	if re := ids[0].GetAndIds().GetIds()[1].GetAuthenticated().GetPrincipalName().GetSafeRegex().GetRegex(); re != ".*/ns/a[^/]*/.*" {
		t.Errorf("namespace a* matches %q", re)
	}

	allow := rules.WithAction(rbacv3.RBAC_ALLOW).Proto()
	if allow.GetAction() != rbacv3.RBAC_ALLOW || len(allow.GetPolicies()) != 200 {
		t.Errorf("WithAction(ALLOW): action %v, %d policies", allow.GetAction(), len(allow.GetPolicies()))
	}
	rules.PeerFromFilterState()
	id := rules.Proto().GetPolicies()["p000"].GetPrincipals()[0].GetAndIds().GetIds()[1]
	if id.GetFilterState().GetKey() != PeerPrincipalState || id.GetFilterState().GetStringMatch().GetExact() != "spiffe://td/ns/a/sa/b" {
		t.Errorf("with the peer from filter state, the service account matches %v", id)
	}
}

// TestPackRBACKeepsEmptyRules: rules without policies are present in the filter (they
// deny everything), and absent shadow rules stay absent.
func TestPackRBACKeepsEmptyRules(t *testing.T) {
	var f rbachttpv3.RBAC
	if err := PackRBAC(&rbachttpv3.RBAC{RulesStatPrefix: "s"}, &RBACRules{}, nil).UnmarshalTo(&f); err != nil {
		t.Fatal(err)
	}
	if f.GetRules() == nil || len(f.GetRules().GetPolicies()) != 0 || f.GetShadowRules() != nil || f.GetRulesStatPrefix() != "s" {
		t.Errorf("packed %v, want empty ALLOW rules, no shadow rules, the stat prefix kept", &f)
	}
}
