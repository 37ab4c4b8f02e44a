package protomarshal

import (
	"maps"
	"slices"

	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	rbachttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	rbacnetworkv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// RBAC's policies are a map, one entry per AuthorizationPolicy rule. The generators
// write their RBAC to the wire themselves (render/rbac_wire.go), in key order; an RBAC
// built as Go messages (by tests, or read back) is marshalled here, as is what Verify
// finds packed in RBAC filters. Marshalled by reflection (the only way to sort a map's
// keys) they were 43% of generating a sidecar's config with a hundred policies, so
// RBAC and the two RBAC filters are marshalled here: their other
// fields by generated code, then each policy in key order, by generated code too
// (policies hold no maps meshd fills). Fields may come in any order on the wire; a
// decoder reads them as one message. The copies below name every other field of each
// message: TestRBACCopiesEveryField fails when go-control-plane adds one.

// marshalSorted marshals the messages whose maps this file writes in key order, and
// reports whether m was one.
func marshalSorted(m proto.Message) ([]byte, bool, error) {
	var b []byte
	var err error
	switch m := m.(type) {
	case *rbacv3.RBAC:
		b, err = marshalRBAC(m)
	case *rbachttpv3.RBAC:
		b, err = marshalHTTPRBAC(m)
	case *rbacnetworkv3.RBAC:
		b, err = marshalNetworkRBAC(m)
	default:
		return nil, false, nil
	}
	return b, true, err
}

func marshalRBAC(r *rbacv3.RBAC) ([]byte, error) {
	if r == nil {
		return nil, nil
	}
	b, err := generated(&rbacv3.RBAC{Action: r.Action, AuditLoggingOptions: r.AuditLoggingOptions})
	if err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(r.Policies)) {
		policy := r.Policies[name]
		size := sizeOf(policy)
		entry := protowire.SizeTag(1) + protowire.SizeBytes(len(name)) + protowire.SizeTag(2) + protowire.SizeBytes(size)
		b = protowire.AppendTag(b, rbacPoliciesField, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(entry))
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, name)
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(size))
		if b, err = appendGenerated(b, policy, size); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func marshalHTTPRBAC(f *rbachttpv3.RBAC) ([]byte, error) {
	b, err := generated(&rbachttpv3.RBAC{
		RulesStatPrefix: f.RulesStatPrefix, Matcher: f.Matcher, ShadowMatcher: f.ShadowMatcher,
		ShadowRulesStatPrefix: f.ShadowRulesStatPrefix, TrackPerRuleStats: f.TrackPerRuleStats,
	})
	if err != nil {
		return nil, err
	}
	return appendRules(b, f.Rules, f.ShadowRules)
}

func marshalNetworkRBAC(f *rbacnetworkv3.RBAC) ([]byte, error) {
	b, err := generated(&rbacnetworkv3.RBAC{
		Matcher: f.Matcher, ShadowMatcher: f.ShadowMatcher, ShadowRulesStatPrefix: f.ShadowRulesStatPrefix,
		StatPrefix: f.StatPrefix, EnforcementType: f.EnforcementType, DelayDeny: f.DelayDeny,
	})
	if err != nil {
		return nil, err
	}
	return appendRules(b, f.Rules, f.ShadowRules)
}

// appendRules appends the filters' rules (field 1) and shadow rules (field 2), the
// same numbers in both filters.
func appendRules(b []byte, rules, shadow *rbacv3.RBAC) ([]byte, error) {
	for i, r := range []*rbacv3.RBAC{rules, shadow} {
		if r == nil {
			continue
		}
		inner, err := marshalRBAC(r)
		if err != nil {
			return nil, err
		}
		b = protowire.AppendTag(b, protowire.Number(i+1), protowire.BytesType)
		b = protowire.AppendBytes(b, inner)
	}
	return b, nil
}

const rbacPoliciesField = 2

// generated marshals m by its generated code, or by proto.Marshal in a build without
// it.
func generated(m proto.Message) ([]byte, error) {
	if vt, ok := m.(vtStrict); ok {
		return vt.MarshalVTStrict()
	}
	return deterministic.Marshal(m)
}

// vtSized is the rest of what protoc-gen-go-vtproto generates: a message's size, and
// marshalling into a buffer of exactly that size.
type vtSized interface {
	SizeVT() int
	MarshalToSizedBufferVTStrict([]byte) (int, error)
}

// sizeOf is m's marshalled size.
func sizeOf(m proto.Message) int {
	if vt, ok := m.(vtSized); ok {
		return vt.SizeVT()
	}
	return deterministic.Size(m)
}

// appendGenerated appends m, of the given size, marshalled as generated does: into b
// itself rather than a buffer of its own, as policies are many and small.
func appendGenerated(b []byte, m proto.Message, size int) ([]byte, error) {
	vt, ok := m.(vtSized)
	if !ok {
		return deterministic.MarshalAppend(b, m)
	}
	b = slices.Grow(b, size)
	if _, err := vt.MarshalToSizedBufferVTStrict(b[len(b) : len(b)+size]); err != nil {
		return nil, err
	}
	return b[:len(b)+size], nil
}
