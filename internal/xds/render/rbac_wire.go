package render

import (
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshd-io/meshd/internal/ir"
)

// Envoy's RBAC is made of many small messages: a rule of an AuthorizationPolicy is a
// dozen or more (sets, nots, matchers), a hundred policies thousands. Built as Go
// messages and then marshalled, they cost three times the floor for their
// bytes, most of it allocating the messages and collecting them again. So meshd writes
// RBAC to the wire straight from the IR's rules, in one pass and one buffer: the same
// messages the .proto defines, fields in number order as generated marshalling writes
// them. The goldens print what is written (through protojson), RBACRules.Proto reads
// it back for tests, and every generator's tests unpack and validate it.

// The fields written, by the names the .proto gives them.
var (
	rbacFields = struct{ action, policies protowire.Number }{
		fieldOf(&rbacv3.RBAC{}, "action"), fieldOf(&rbacv3.RBAC{}, "policies")}
	policyFields = struct{ permissions, principals protowire.Number }{
		fieldOf(&rbacv3.Policy{}, "permissions"), fieldOf(&rbacv3.Policy{}, "principals")}
	permFields = struct {
		matcherFields
		header, urlPath, destinationIP, destinationPort, requestedServerName protowire.Number
	}{
		matcherFields{fieldOf(&rbacv3.Permission{}, "and_rules"), fieldOf(&rbacv3.Permission{}, "or_rules"),
			fieldOf(&rbacv3.Permission{}, "any"), fieldOf(&rbacv3.Permission{}, "not_rule"),
			fieldOf(&rbacv3.Permission_Set{}, "rules")},
		fieldOf(&rbacv3.Permission{}, "header"), fieldOf(&rbacv3.Permission{}, "url_path"),
		fieldOf(&rbacv3.Permission{}, "destination_ip"), fieldOf(&rbacv3.Permission{}, "destination_port"),
		fieldOf(&rbacv3.Permission{}, "requested_server_name"),
	}
	idFields = struct {
		matcherFields
		authenticated, directRemoteIP, remoteIP, header, metadata, filterState protowire.Number
	}{
		matcherFields{fieldOf(&rbacv3.Principal{}, "and_ids"), fieldOf(&rbacv3.Principal{}, "or_ids"),
			fieldOf(&rbacv3.Principal{}, "any"), fieldOf(&rbacv3.Principal{}, "not_id"),
			fieldOf(&rbacv3.Principal_Set{}, "ids")},
		fieldOf(&rbacv3.Principal{}, "authenticated"), fieldOf(&rbacv3.Principal{}, "direct_remote_ip"),
		fieldOf(&rbacv3.Principal{}, "remote_ip"), fieldOf(&rbacv3.Principal{}, "header"),
		fieldOf(&rbacv3.Principal{}, "metadata"), fieldOf(&rbacv3.Principal{}, "filter_state"),
	}
	authenticatedName = fieldOf(&rbacv3.Principal_Authenticated{}, "principal_name")
	stringFields      = struct{ exact, prefix, suffix, safeRegex, ignoreCase, regex protowire.Number }{
		fieldOf(&matcherv3.StringMatcher{}, "exact"), fieldOf(&matcherv3.StringMatcher{}, "prefix"),
		fieldOf(&matcherv3.StringMatcher{}, "suffix"), fieldOf(&matcherv3.StringMatcher{}, "safe_regex"),
		fieldOf(&matcherv3.StringMatcher{}, "ignore_case"), fieldOf(&matcherv3.RegexMatcher{}, "regex")}
	pathMatcherPath = fieldOf(&matcherv3.PathMatcher{}, "path")
	headerFields    = struct{ name, stringMatch protowire.Number }{
		fieldOf(&routev3.HeaderMatcher{}, "name"), fieldOf(&routev3.HeaderMatcher{}, "string_match")}
	metadataFields = struct{ filter, path, value, segmentKey, stringMatch protowire.Number }{
		fieldOf(&matcherv3.MetadataMatcher{}, "filter"), fieldOf(&matcherv3.MetadataMatcher{}, "path"),
		fieldOf(&matcherv3.MetadataMatcher{}, "value"), fieldOf(&matcherv3.MetadataMatcher_PathSegment{}, "key"),
		fieldOf(&matcherv3.ValueMatcher{}, "string_match")}
	filterStateFields = struct{ key, stringMatch protowire.Number }{
		fieldOf(&matcherv3.FilterStateMatcher{}, "key"), fieldOf(&matcherv3.FilterStateMatcher{}, "string_match")}
	cidrFields = struct{ prefix, length, value protowire.Number }{
		fieldOf(&corev3.CidrRange{}, "address_prefix"), fieldOf(&corev3.CidrRange{}, "prefix_len"),
		fieldOf(&wrapperspb.UInt32Value{}, "value")}
)

// matcherFields are what Permission and Principal share: all of a set (and), any of a
// set (or), any, the negation of one, and the repeated field of their Set.
type matcherFields struct{ and, or, any, not, item protowire.Number }

// PeerPrincipalState is the filter state where a waypoint finds the peer's identity:
// its connections are internal, with no TLS peer of their own.
const PeerPrincipalState = "io.istio.peer_principal"

// rbacWriter writes the policies of one RBAC. Its methods take the buffer and return
// it grown, as protowire's functions do: a writer holding the buffer behind a pointer
// paid a write barrier on every field while the collector ran.
type rbacWriter struct {
	td string
	// peerState matches identities in PeerPrincipalState, not the TLS peer's.
	peerState bool
}

// match writes one value's matcher.
type match func(b []byte, v string) []byte

// set writes a Permission or Principal that is all (and) or any (or) of n parts: the
// one part alone, any for none of all, else a Set holding each part. The caller writes
// each part between item and done.
type set struct {
	f           *matcherFields
	n           int
	outer, part int
}

func startSet(b []byte, f *matcherFields, and bool, n int) ([]byte, set) {
	s := set{f: f, n: n}
	switch {
	case n == 0:
		b = appendTrue(b, f.any)
	case n > 1 && and:
		b, s.outer = open(b, f.and)
	case n > 1:
		b, s.outer = open(b, f.or)
	}
	return b, s
}

func (s *set) item(b []byte) []byte {
	if s.n > 1 {
		b, s.part = open(b, s.f.item)
	}
	return b
}

func (s *set) done(b []byte) []byte {
	if s.n > 1 {
		b = closeField(b, s.part)
	}
	return b
}

func (s *set) end(b []byte) []byte {
	if s.n > 1 {
		b = closeField(b, s.outer)
	}
	return b
}

// anyOf writes the matcher of any of vals.
func anyOf(b []byte, f *matcherFields, vals []string, m match) []byte {
	b, s := startSet(b, f, false, len(vals))
	for _, v := range vals {
		b = s.item(b)
		b = m(b, v)
		b = s.done(b)
	}
	return s.end(b)
}

// values writes, as parts of s, the matcher of vals and that of notVals (each when not
// empty): a field matches any of its values, a not-field none of them.
func (s *set) values(b []byte, vals, notVals []string, m match) []byte {
	if len(vals) > 0 {
		b = s.item(b)
		b = anyOf(b, s.f, vals, m)
		b = s.done(b)
	}
	if len(notVals) > 0 {
		b = s.item(b)
		var not int
		b, not = open(b, s.f.not)
		b = anyOf(b, s.f, notVals, m)
		b = closeField(b, not)
		b = s.done(b)
	}
	return b
}

// policy writes one rule: any of its operations (and every operation-side condition)
// by any of its sources (and every source-side condition).
func (w rbacWriter) policy(b []byte, r *ir.AuthzRule) []byte {
	return w.side(w.side(b, r, false), r, true)
}

// side writes one side of a rule, its permission or its principal (source): all of any
// of its operations or sources, and each condition on that side.
func (w rbacWriter) side(b []byte, r *ir.AuthzRule, source bool) []byte {
	n, f, items := policyFields.permissions, &permFields.matcherFields, len(r.To)
	if source {
		n, f, items = policyFields.principals, &idFields.matcherFields, len(r.From)
	}
	parts := min(items, 1)
	for _, c := range r.When {
		if sourceSide(c.Key) == source {
			parts++
		}
	}
	b, m := open(b, n)
	b, s := startSet(b, f, true, parts)
	if items > 0 {
		b = s.item(b)
		var oneOf set
		b, oneOf = startSet(b, f, false, items)
		for i := range items {
			b = oneOf.item(b)
			if source {
				b = w.source(b, r.From[i])
			} else {
				b = operation(b, r.To[i])
			}
			b = oneOf.done(b)
		}
		b = oneOf.end(b)
		b = s.done(b)
	}
	for _, c := range r.When {
		if sourceSide(c.Key) != source {
			continue
		}
		b = s.item(b)
		if source {
			b = w.conditionPrincipal(b, c)
		} else {
			b = conditionPermission(b, c)
		}
		b = s.done(b)
	}
	b = s.end(b)
	return closeField(b, m)
}

func operation(b []byte, o *ir.AuthzOperation) []byte {
	b, s := startSet(b, &permFields.matcherFields, true, lists(o.Hosts, o.NotHosts, o.Ports, o.NotPorts, o.Methods, o.NotMethods, o.Paths, o.NotPaths))
	b = s.values(b, o.Hosts, o.NotHosts, hostMatch)
	b = s.values(b, o.Ports, o.NotPorts, portMatch)
	b = s.values(b, o.Methods, o.NotMethods, methodMatch)
	b = s.values(b, o.Paths, o.NotPaths, pathMatch)
	return s.end(b)
}

func (w rbacWriter) source(b []byte, f *ir.AuthzSource) []byte {
	b, s := startSet(b, &idFields.matcherFields, true, lists(f.Principals, f.NotPrincipals, f.RequestPrincipals, f.NotRequestPrincipals,
		f.Namespaces, f.NotNamespaces, f.IPBlocks, f.NotIPBlocks, f.RemoteIPBlocks, f.NotRemoteIPBlocks))
	b = s.values(b, f.Principals, f.NotPrincipals, w.principal)
	b = s.values(b, f.RequestPrincipals, f.NotRequestPrincipals, requestPrincipalMatch)
	b = s.values(b, f.Namespaces, f.NotNamespaces, w.namespace)
	b = s.values(b, f.IPBlocks, f.NotIPBlocks, directIPMatch)
	b = s.values(b, f.RemoteIPBlocks, f.NotRemoteIPBlocks, remoteIPMatch)
	return s.end(b)
}

// The matchers that need no more than the value.
func hostMatch(b []byte, v string) []byte   { return header(b, permFields.header, ":authority", v, true) }
func methodMatch(b []byte, v string) []byte { return header(b, permFields.header, ":method", v, false) }
func directIPMatch(b []byte, v string) []byte {
	return cidr(b, idFields.directRemoteIP, v)
}
func remoteIPMatch(b []byte, v string) []byte { return cidr(b, idFields.remoteIP, v) }
func requestPrincipalMatch(b []byte, v string) []byte {
	return authnMetadata(b, "request.auth.principal", v)
}

// sourceSide reports whether a `when` key is about the source (a Principal in Envoy's
// RBAC) rather than the operation (a Permission).
func sourceSide(key string) bool {
	switch key {
	case "source.ip", "remote.ip", "source.namespace", "source.principal", "source.serviceAccount":
		return true
	}
	return strings.HasPrefix(key, "request.auth.") || strings.HasPrefix(key, "request.headers[")
}

// conditionPrincipal writes a source-side `when` condition.
func (w rbacWriter) conditionPrincipal(b []byte, c *ir.AuthzCondition) []byte {
	var m match
	switch {
	case c.Key == "source.ip":
		m = directIPMatch
	case c.Key == "remote.ip":
		m = remoteIPMatch
	case c.Key == "source.namespace":
		m = w.namespace
	case c.Key == "source.principal":
		m = w.principal
	case c.Key == "source.serviceAccount":
		m = func(b []byte, v string) []byte {
			ns, sa, _ := strings.Cut(v, "/")
			return w.principal(b, w.td+"/ns/"+ns+"/sa/"+sa)
		}
	case strings.HasPrefix(c.Key, "request.auth."):
		m = func(b []byte, v string) []byte { return authnMetadata(b, c.Key, v) }
	default: // request.headers[name]
		name := strings.TrimSuffix(strings.TrimPrefix(c.Key, "request.headers["), "]")
		m = func(b []byte, v string) []byte { return header(b, idFields.header, name, v, false) }
	}
	b, s := startSet(b, &idFields.matcherFields, true, lists(c.Values, c.NotValues))
	b = s.values(b, c.Values, c.NotValues, m)
	return s.end(b)
}

// conditionPermission writes an operation-side `when` condition. Keys meshd cannot
// evaluate match nothing, so an ALLOW rule using them allows nothing (fail closed).
func conditionPermission(b []byte, c *ir.AuthzCondition) []byte {
	var m match
	switch c.Key {
	case "destination.ip":
		m = func(b []byte, v string) []byte { return cidr(b, permFields.destinationIP, v) }
	case "destination.port":
		m = portMatch
	case "connection.sni":
		m = func(b []byte, v string) []byte {
			b, sni := open(b, permFields.requestedServerName)
			b = wildcard(b, "", v, false)
			return closeField(b, sni)
		}
	default:
		b, not := open(b, permFields.not)
		b = appendTrue(b, permFields.any)
		return closeField(b, not)
	}
	b, s := startSet(b, &permFields.matcherFields, true, lists(c.Values, c.NotValues))
	b = s.values(b, c.Values, c.NotValues, m)
	return s.end(b)
}

// principal matches the peer's mTLS identity: Istio's principals omit "spiffe://",
// which exact and prefix matches take back ("*a*" is a prefix match too); "*" is any
// authenticated peer.
func (w rbacWriter) principal(b []byte, v string) []byte {
	scheme := "spiffe://"
	if v == "*" || strings.HasPrefix(v, "*") && !strings.HasSuffix(v, "*") {
		scheme = ""
	}
	b, outer, inner := w.identity(b)
	b = wildcard(b, scheme, v, false)
	return closeField(closeField(b, inner), outer)
}

// identity opens a match on the peer's identity, the TLS peer's or the one in filter
// state, for its string matcher; the caller closes inner, then outer.
func (w rbacWriter) identity(b []byte) (_ []byte, outer, inner int) {
	if w.peerState {
		b, outer = open(b, idFields.filterState)
		b = appendString(b, filterStateFields.key, PeerPrincipalState)
		b, inner = open(b, filterStateFields.stringMatch)
		return b, outer, inner
	}
	b, outer = open(b, idFields.authenticated)
	b, inner = open(b, authenticatedName)
	return b, outer, inner
}

// namespace matches peers whose identity is in a namespace.
func (w rbacWriter) namespace(b []byte, ns string) []byte {
	b, outer, inner := w.identity(b)
	switch {
	case ns == "*":
		b = regex(b, ".*/ns/.+/.*")
	case strings.HasSuffix(ns, "*"):
		b = regex(b, ".*/ns/", regexp.QuoteMeta(strings.TrimSuffix(ns, "*")), "[^/]*/.*")
	case strings.HasPrefix(ns, "*"):
		b = regex(b, ".*/ns/[^/]*", regexp.QuoteMeta(strings.TrimPrefix(ns, "*")), "/.*")
	default:
		b = regex(b, ".*/ns/", regexp.QuoteMeta(ns), "/.*")
	}
	return closeField(closeField(b, inner), outer)
}

// authnMetadata matches what Istio's authn filter records of the request's JWT (its
// principal, or a claim); without a RequestAuthentication nothing is recorded and
// nothing matches.
func authnMetadata(b []byte, key, v string) []byte {
	b, m := open(b, idFields.metadata)
	b = appendString(b, metadataFields.filter, "istio_authn")
	b, p := open(b, metadataFields.path)
	b = appendString(b, metadataFields.segmentKey, key)
	b = closeField(b, p)
	b, val := open(b, metadataFields.value)
	b, s := open(b, metadataFields.stringMatch)
	b = wildcard(b, "", v, false)
	b = closeField(b, s)
	b = closeField(b, val)
	return closeField(b, m)
}

// cidr writes an address or CIDR (validation has refused anything else) as field n.
func cidr(b []byte, n protowire.Number, v string) []byte {
	addr, bits := "0.0.0.0", 32
	if a, err := netip.ParseAddr(v); err == nil {
		addr, bits = a.String(), a.BitLen()
	} else if p, err := netip.ParsePrefix(v); err == nil {
		addr, bits = p.Addr().String(), p.Bits()
	}
	b, m := open(b, n)
	b = appendString(b, cidrFields.prefix, addr)
	b, l := open(b, cidrFields.length)
	if bits != 0 {
		b = appendUvarint(b, cidrFields.value, uint64(bits))
	}
	b = closeField(b, l)
	return closeField(b, m)
}

func portMatch(b []byte, v string) []byte {
	n, _ := strconv.ParseUint(v, 10, 32)
	return appendUvarint(b, permFields.destinationPort, n)
}

// pathMatch matches the request path without its query: exact, "prefix*", "*suffix",
// or "*" for any.
func pathMatch(b []byte, v string) []byte {
	b, m := open(b, permFields.urlPath)
	b, p := open(b, pathMatcherPath)
	b = wildcard(b, "", v, false)
	return closeField(closeField(b, p), m)
}

// header writes a header's match by Istio's value syntax as field n.
func header(b []byte, n protowire.Number, name, v string, ignoreCase bool) []byte {
	b, m := open(b, n)
	b = appendString(b, headerFields.name, name)
	b, s := open(b, headerFields.stringMatch)
	b = wildcard(b, "", v, ignoreCase)
	return closeField(closeField(b, s), m)
}

// wildcard writes a string matcher of Istio's value syntax: "*" any non-empty,
// "prefix*", "*suffix", otherwise exact. Exact and prefix matches start with scheme.
func wildcard(b []byte, scheme, v string, ignoreCase bool) []byte {
	switch {
	case v == "*":
		b = regex(b, ".+")
	case strings.HasSuffix(v, "*"):
		b = appendString(b, stringFields.prefix, scheme, strings.TrimSuffix(v, "*"))
	case strings.HasPrefix(v, "*"):
		b = appendString(b, stringFields.suffix, strings.TrimPrefix(v, "*"))
	default:
		b = appendString(b, stringFields.exact, scheme, v)
	}
	if ignoreCase {
		b = appendTrue(b, stringFields.ignoreCase)
	}
	return b
}

// regex writes a string matcher's regular expression (RE2, Envoy's only engine), the
// concatenation of parts.
func regex(b []byte, parts ...string) []byte {
	b, m := open(b, stringFields.safeRegex)
	b = appendString(b, stringFields.regex, parts...)
	return closeField(b, m)
}

// Protobuf writes a map entry as a message of the key (field 1) and the value (2).
const (
	mapKey   protowire.Number = 1
	mapValue protowire.Number = 2
)

// written is r as a config.rbac.v3.RBAC message's fields, written the first time it
// is asked for: every filter chain of a listener carries the same rules (mTLS and
// plaintext, each port's TCP filter), and they are written once for all of them.
func (r *RBACRules) written() []byte {
	if r.wire != nil {
		return r.wire
	}
	w := rbacWriter{td: r.TrustDomain, peerState: r.peerFromFilterState}
	b := make([]byte, 0, len(r.Policies)*rbacBytesPerPolicy)
	if r.Action != rbacv3.RBAC_ALLOW {
		b = appendUvarint(b, rbacFields.action, uint64(r.Action))
	}
	for _, p := range r.Policies {
		var entry, v int
		b, entry = open(b, rbacFields.policies)
		b = appendString(b, mapKey, p.Name)
		b, v = open(b, mapValue)
		b = w.policy(b, p.Rule)
		b = closeField(closeField(b, v), entry)
	}
	r.wire = b
	return r.wire
}

// rbacBytesPerPolicy sizes the buffer an RBAC is written to, so that it grows rarely:
// a rule with a source, an operation and a condition is about 250 bytes.
const rbacBytesPerPolicy = 256

// Proto is r as a Go message, read back from what r writes.
func (r *RBACRules) Proto() *rbacv3.RBAC {
	out := &rbacv3.RBAC{}
	if err := proto.Unmarshal(r.written(), out); err != nil {
		panic(err)
	}
	return out
}

// PackRBAC packs an RBAC filter's config, HTTP or network (extensions.filters.*.rbac.v3.RBAC)
// with its rules and shadow rules (either may be nil) written in: cfg's other fields
// are marshalled as usual, and must leave the two unset.
func PackRBAC(cfg proto.Message, rules, shadow *RBACRules) *anypb.Any {
	a := MustAny(cfg)
	fields := [...]struct {
		n     protowire.Number
		rules *RBACRules
	}{{fieldOf(cfg, "rules"), rules}, {fieldOf(cfg, "shadow_rules"), shadow}}
	size := 0
	for _, f := range fields {
		if f.rules != nil { // present even when empty: rules without policies deny all
			size += protowire.SizeTag(f.n) + protowire.SizeBytes(len(f.rules.written()))
		}
	}
	b := slices.Grow(a.Value, size)
	for _, f := range fields {
		if f.rules != nil {
			b = protowire.AppendTag(b, f.n, protowire.BytesType)
			b = protowire.AppendBytes(b, f.rules.written())
		}
	}
	a.Value = b
	return a
}
