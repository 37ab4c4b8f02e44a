package render

import (
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	extauthzhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	rbachttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	extauthznetv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/ext_authz/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	rbacnetv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/meshd-io/meshd/internal/ir"
)

// Istio's default ext_authz timeout when the provider sets none.
const defaultExtAuthzTimeout = 600 * time.Second

const (
	extAuthzHTTPFilter    = "envoy.filters.http.ext_authz"
	extAuthzNetworkFilter = "envoy.filters.network.ext_authz"
)

// CustomHTTPFilters are the HTTP filters of CUSTOM authorization, to run before the
// other RBAC filters: the shadow RBAC that marks requests a CUSTOM rule matches, and
// ext_authz enabled only for those.
func CustomHTTPFilters(c *CustomAuthz) []*hcmv3.HttpFilter {
	if c == nil || c.HTTPRules == nil {
		return nil
	}
	p := c.Provider
	ea := &extauthzhttpv3.ExtAuthz{
		TransportApiVersion:   corev3.ApiVersion_V3,
		FailureModeAllow:      p.FailOpen,
		FilterEnabledMetadata: customMetadata(RBACFilterName),
	}
	if p.GRPC {
		ea.Services = &extauthzhttpv3.ExtAuthz_GrpcService{GrpcService: grpcService(p)}
	} else {
		ea.Services = &extauthzhttpv3.ExtAuthz_HttpService{HttpService: &extauthzhttpv3.HttpService{
			ServerUri: &corev3.HttpUri{Uri: "http://" + p.Host, HttpUpstreamType: &corev3.HttpUri_Cluster{Cluster: p.Cluster},
				Timeout: durationpb.New(providerTimeout(p))},
			PathPrefix: p.PathPrefix,
			AuthorizationResponse: &extauthzhttpv3.AuthorizationResponse{
				AllowedUpstreamHeaders: exactList(p.HeadersToUpstreamOnAllow),
				AllowedClientHeaders:   exactList(p.HeadersToDownstreamOnDeny),
			},
		}}
		ea.AllowedHeaders = exactList(p.IncludeRequestHeadersInCheck)
	}
	typed := func(name string, cfg proto.Message) *hcmv3.HttpFilter {
		return &hcmv3.HttpFilter{Name: name, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: MustAny(cfg)}}
	}
	return []*hcmv3.HttpFilter{
		{Name: RBACFilterName, ConfigType: &hcmv3.HttpFilter_TypedConfig{
			TypedConfig: PackRBAC(&rbachttpv3.RBAC{ShadowRulesStatPrefix: CustomStatPrefix}, nil, c.HTTPRules)}},
		typed(extAuthzHTTPFilter, ea),
	}
}

// CustomNetworkFilters are CUSTOM authorization for TCP: gRPC providers only, which
// check connections with Envoy's network ext_authz.
func CustomNetworkFilters(c *CustomAuthz, stat string) []*listenerv3.Filter {
	if c == nil || c.TCPRules == nil {
		return nil
	}
	typed := func(name string, cfg proto.Message) *listenerv3.Filter {
		return &listenerv3.Filter{Name: name, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: MustAny(cfg)}}
	}
	return []*listenerv3.Filter{
		{Name: NetworkRBACFilter, ConfigType: &listenerv3.Filter_TypedConfig{
			TypedConfig: PackRBAC(&rbacnetv3.RBAC{StatPrefix: stat, ShadowRulesStatPrefix: CustomStatPrefix}, nil, c.TCPRules)}},
		typed(extAuthzNetworkFilter, &extauthznetv3.ExtAuthz{
			StatPrefix: stat, GrpcService: grpcService(c.Provider), FailureModeAllow: c.Provider.FailOpen,
			TransportApiVersion: corev3.ApiVersion_V3, FilterEnabledMetadata: customMetadata(NetworkRBACFilter),
		}),
	}
}

// customMetadata matches requests the shadow RBAC of filter marked as CUSTOM.
func customMetadata(filter string) *matcherv3.MetadataMatcher {
	return &matcherv3.MetadataMatcher{
		Filter: filter,
		Path:   []*matcherv3.MetadataMatcher_PathSegment{{Segment: &matcherv3.MetadataMatcher_PathSegment_Key{Key: CustomMetadataKey}}},
		Value: &matcherv3.ValueMatcher{MatchPattern: &matcherv3.ValueMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
			MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: CustomPolicyPrefix}}}},
	}
}

func grpcService(p *ir.AuthzProvider) *corev3.GrpcService {
	return &corev3.GrpcService{
		TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: p.Cluster, Authority: p.Host}},
		Timeout:         durationpb.New(providerTimeout(p)),
	}
}

func providerTimeout(p *ir.AuthzProvider) time.Duration {
	if p.Timeout != nil {
		return *p.Timeout
	}
	return defaultExtAuthzTimeout
}

// exactList matches header names exactly (case-insensitive, as header names are).
func exactList(names []string) *matcherv3.ListStringMatcher {
	if len(names) == 0 {
		return nil
	}
	out := &matcherv3.ListStringMatcher{}
	for _, n := range names {
		out.Patterns = append(out.Patterns, &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: n}, IgnoreCase: true})
	}
	return out
}
