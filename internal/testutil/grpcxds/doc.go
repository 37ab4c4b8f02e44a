// Package grpcxds is a test harness that checks xDS config with real traffic
// from grpc-go proxyless clients (google.golang.org/grpc v1.85.0).
//
//   - StartBackend: a plain grpc-go server on 127.0.0.1:0 running
//     grpc.testing.TestService (UnaryCall, EmptyCall). It reports its name,
//     echoes the request metadata, and can be made to fail, fail every call,
//     or delay. WithXDSServer turns it into a proxyless xDS server, for
//     server-side RBAC and mTLS.
//   - NewClient: a proxyless xDS client on an xds:/// target. Each Client
//     has its own bootstrap (xDS server address, node ID, metadata), built
//     in-process. No GRPC_XDS_BOOTSTRAP* variable and no re-exec are needed,
//     so one test process can run many clients against different xDS servers
//     as different nodes. The way it works:
//     xds.NewXDSResolverWithConfigForTesting(bootstrapJSON) returns an "xds"
//     resolver.Builder. Its Build creates a new xDS client pool from that
//     bootstrap for each ClientConn (see the grpc module's
//     internal/xds/resolver/xds_resolver.go:52-69). The Builder is passed with
//     grpc.WithResolvers. xds.BootstrapContentsForTesting does the same for
//     servers. Both are exported but marked experimental and for testing only;
//     CSDS does not see these clients.
//
// The test in this package starts a go-control-plane ADS server. It checks an
// 80/20 weighted route and measures how quickly the client follows updates.
//
// # What grpc-go v1.85.0 proxyless honours
//
// The file references below are relative to the module cache directory
// google.golang.org/grpc@v1.85.0. These abbreviations are used:
//
//	rds = internal/xds/xdsclient/xdsresource/unmarshal_rds.go
//	lds = internal/xds/xdsclient/xdsresource/unmarshal_lds.go
//	cds = internal/xds/xdsclient/xdsresource/unmarshal_cds.go
//	eds = internal/xds/xdsclient/xdsresource/unmarshal_eds.go
//	sc  = internal/xds/resolver/serviceconfig.go
//	res = internal/xds/resolver/xds_resolver.go
//
// Any field not listed here is not read, so it is ignored silently (the
// resource is still ACKed). "NACK" means the whole resource is rejected, and
// the client keeps its last good config.
//
// Client Listener (api_listener), lds:77-129:
//   - The name must equal the target after "xds:///". The default template is
//     "%s".
//   - api_listener must be an HttpConnectionManager (HCM).
//   - rds must use config_source ads or self; otherwise NACK. Inline
//     route_config works. scoped_routes causes a NACK.
//   - xff_num_trusted_hops != 0 or original_ip_detection_extensions causes a
//     NACK.
//   - common_http_protocol_options.max_stream_duration is honoured (lds:121).
//     It is the default timeout for routes that have no max_stream_duration
//     (res:486-490).
//   - http_filters (lds:213-270) are looked up by the type URL of typed_config
//     (TypedStruct is unwrapped). The filter name only matters as the key of
//     typed_per_filter_config. A filter with an unknown type URL causes a
//     NACK unless is_optional is set. So does a filter the client cannot run.
//     A terminal filter (the router) must come last.
//   - Filters registered by the xds package (xds/xds.go:41-48):
//   - router: envoy.extensions.filters.http.router.v3.Router. Its fields are
//     ignored.
//   - fault: envoy.extensions.filters.http.fault.v3.HTTPFault, client only
//     (internal/xds/httpfilter/fault/fault.go). Honoured: delay (fixed_delay,
//     header_delay, percentage), abort (grpc_status, http_status mapped by
//     fault.go:53-62, header_abort, percentage) and max_active_faults. A
//     config with no delay and no abort does nothing (fault.go:138-141), so
//     an empty HTTPFault in the HCM plus a per-route override is the pattern.
//     headers, downstream_nodes, upstream_cluster and response_rate_limit are
//     ignored. An aborted RPC never reaches the backend.
//   - rbac: envoy.extensions.filters.http.rbac.v3.RBAC and RBACPerRoute, server
//     side only. On a client Listener it causes a NACK unless is_optional
//     (lds:241-245).
//   - ext_proc: only with GRPC_EXPERIMENTAL_XDS_EXT_PROC_ON_CLIENT=true.
//   - ext_authz and gcp_authn are not registered in v1.85. Any other filter
//     (cors, ext_authz, jwt_authn, local_ratelimit, wasm, lua, ...) causes a
//     NACK unless is_optional.
//
// RouteConfiguration and VirtualHost (rds:83-128):
//   - The virtual host is chosen by matching domains against the channel
//     authority. That is the target endpoint with its port
//     ("reviews.default.svc.cluster.local:9080") unless grpc.WithAuthority
//     overrides it (clientconn.go:1967-1978,
//     internal/xds/xdsdepmgr/xds_dependency_manager.go:449). The match is
//     exact, "*suffix", "prefix*" or "*", and is case sensitive
//     (internal/xds/xdsclient/xdsresource/matcher.go:170-231).
//   - A domain with "*" in the middle makes the whole RouteConfiguration
//     unusable. If no virtual host matches, RPCs fail with UNAVAILABLE. This
//     is not a NACK.
//   - The virtual host's retry_policy is honoured (rds:101). A route's own
//     retry_policy replaces it (sc:267-271). The virtual host's
//     typed_per_filter_config is honoured (rds:110).
//   - cluster_specifier_plugins only supports RLS (rds:130-161).
//   - Ignored: request/response_headers_to_add/remove at every level, cors,
//     rate_limits, require_tls, virtual_clusters, hedge_policy, and
//     RouteConfiguration-level typed_per_filter_config.
//
// Route (rds:217-431):
//   - Routes are tried in order; the first match wins (sc:191-197).
//   - A route with query_parameters matchers is dropped entirely (rds:226-230).
//   - Path matching (rds:238-252) supports prefix, path and safe_regex,
//     matched against "/pkg.Service/Method". case_sensitive is honoured.
//     path_separated_prefix and path_match_policy cause a NACK.
//   - Headers (rds:258-309): exact, safe_regex, range, present, prefix,
//     suffix, contains and string_match, plus invert_match. The name is
//     lowercased. Matching uses the request metadata plus content-type; "-bin"
//     headers never match (sc:180-190).
//   - runtime_fraction.default_value is honoured (rds:311-322).
//   - action route: cluster or weighted_clusters (rds:341-366). A weight of 0
//     drops that cluster. total_weight, cluster_header and runtime_key_prefix
//     are ignored. Per-cluster typed_per_filter_config is honoured.
//   - A route whose action is redirect or direct_response is kept, but RPCs
//     that match it fail with UNAVAILABLE (rds:419-420, sc:203-205).
//     non_forwarding_action is for servers only.
//   - Timeouts (rds:398-407): max_stream_duration.grpc_timeout_header_max is
//     used, or else max_stream_duration.max_stream_duration. It becomes the
//     RPC deadline, capped by the caller's deadline (sc:264-266). RouteAction
//     timeout and idle_timeout are NOT honoured (tested).
//   - retry_policy (rds:163-215):
//   - retry_on tokens honoured: cancelled, deadline-exceeded, internal,
//     resource-exhausted and unavailable. Others (5xx, gateway-error,
//     connect-failure, reset, retriable-status-codes, ...) are ignored. If
//     none of the honoured tokens is present, the call is not retried
//     (tested).
//   - num_retries defaults to 1; max attempts = num_retries+1, with no cap of
//     5 on this path (sc:276-284).
//   - retry_back_off base_interval defaults to 25ms and max_interval to 10x
//     the base.
//   - Ignored: per_try_timeout, retry_host_predicate, retry_priority,
//     retriable_status_codes and retriable_headers.
//   - grpc-go only retries an attempt whose response was Trailers-Only. A
//     server that has sent headers commits the call (stream.go:835-837). The
//     Backend follows this rule.
//   - hash_policy (rds:433-464): header (with regex_rewrite) and filter_state
//     key "io.grpc.channel_id" are honoured, and terminal is honoured. cookie,
//     connection_properties (source IP) and query_parameter are skipped, and
//     with no hash the RPC gets a random one (sc:286-349). This only matters
//     with ring hash.
//   - typed_per_filter_config is honoured per route, per virtual host and per
//     weighted cluster (rds:423-427). The most specific one wins (res:626-632).
//   - auto_host_rewrite needs GRPC_EXPERIMENTAL_XDS_AUTHORITY_REWRITE and the
//     server feature trusted_xds_server (rds:328-332).
//   - Ignored: prefix_rewrite, regex_rewrite, path_rewrite_policy,
//     host_rewrite_*, request_mirror_policies, cors, rate_limits, hedge_policy,
//     priority, upgrade_configs, internal_redirect_policy, decorator, tracing,
//     and header adds and removes (tested).
//
// Cluster (cds:93-281):
//   - type: EDS needs eds_config ads or self; service_name is honoured.
//     LOGICAL_DNS needs load_assignment with exactly one endpoint. The
//     aggregate cluster_type envoy.clusters.aggregate is supported. STATIC,
//     STRICT_DNS and ORIGINAL_DST cause a NACK (cds:247-280).
//   - lb_policy (cds:123-161):
//   - ROUND_ROBIN: locality weights are honoured; endpoint weights are not,
//     since round_robin is unweighted.
//   - RING_HASH: hash_function must be XX_HASH, otherwise NACK.
//     minimum_ring_size and maximum_ring_size are honoured.
//   - LEAST_REQUEST: choice_count >= 2.
//   - RANDOM, MAGLEV and others cause a NACK.
//   - load_balancing_policy replaces lb_policy (cds:177-189). Types accepted:
//     round_robin, ring_hash, least_request, client_side_weighted_round_robin,
//     pick_first, wrr_locality, and TypedStruct for custom policies
//     (internal/xds/xdsclient/xdslbregistry/converter/converter.go:53-60).
//   - circuit_breakers: only thresholds[priority DEFAULT].max_requests
//     (cds:615-628). max_connections, max_pending_requests, max_retries and
//     retry_budget are ignored.
//   - outlier_detection (cds:670-805):
//   - Honoured: interval, base_ejection_time, max_ejection_time,
//     max_ejection_percent, enforcing_success_rate, success_rate_*,
//     enforcing_failure_percentage and failure_percentage_* (validated <= 100,
//     else NACK).
//   - consecutive_5xx, consecutive_gateway_failure, consecutive_local_origin_*
//     and split_external_local_origin_errors are IGNORED (never read). An
//     Istio consecutive5xxErrors must be expressed as failure-percentage
//     ejection (failure-percentage ejection is tested).
//   - If enforcing_success_rate is unset, success-rate ejection runs with
//     defaults (stdev 1.9, minimum_hosts 5, request_volume 100).
//     Failure-percentage ejection only runs when enforcing_failure_percentage
//     is > 0 (cds:770-794).
//   - Any non-OK status counts as a failure
//     (internal/xds/balancer/outlierdetection/balancer.go:453-475).
//   - transport_socket (cds:324-385): the name must be exactly
//     envoy.transport_sockets.tls, with an UpstreamTlsContext (mTLS rules:
//     see DESIGN.md). transport_socket_matches causes a NACK. sni is only
//     used with GRPC_EXPERIMENTAL_XDS_SNI.
//   - lrs_server must be self (cds:240-245).
//   - metadata com.google.csm.telemetry_labels is read.
//   - Ignored: connect_timeout, health_checks, common_lb_config (panic
//     threshold, zone-aware and locality_weighted config; locality weights
//     are always used), typed_extension_protocol_options,
//     max_requests_per_connection, dns_*, upstream_connection_options and
//     filters.
//
// ClusterLoadAssignment (eds:103-261):
//   - Every LocalityLbEndpoints needs a locality; otherwise NACK.
//   - A locality whose load_balancing_weight is unset or 0 is DROPPED
//     (eds:198-202).
//   - priority is honoured. Priorities must run 0..N without gaps, otherwise
//     NACK. A locality repeated within one priority causes a NACK.
//   - Endpoint load_balancing_weight must not be 0 (NACK). It is used by ring
//     hash and wrr, not by round_robin.
//   - Duplicate addresses cause a NACK. additional_addresses (dual stack) are
//     used. hostname and metadata envoy.lb hash_key (ring hash) are honoured.
//   - health_status: only UNKNOWN and HEALTHY endpoints are used
//     (internal/xds/balancer/cdsbalancer/configbuilder.go:406).
//   - policy.drop_overloads is honoured (eds:183-189).
//
// Server side (xds.NewGRPCServer, WithXDSServer):
//   - The Listener name is server_listener_resource_name_template filled with
//     IP:PORT, and its address must match (lds:272-317).
//   - listener_filters or use_original_dst cause a NACK.
//   - Filter chains are matched on prefix_ranges, source_type,
//     source_prefix_ranges and source_ports. A chain that matches on
//     destination_port, server_names, application_protocols, or a
//     transport_protocol other than ""/"raw_buffer" is DROPPED
//     (lds:376-498). So TLS and plaintext cannot share a port.
//   - The HCM needs route config via ADS or inline (filter_chain.go:84-170).
//     Routes must use NonForwardingAction; any other action fails RPCs with
//     UNAVAILABLE (internal/xds/server/routing.go:78-83).
//   - DownstreamTlsContext: require_client_certificate is honoured.
//     require_sni and a non-lenient ocsp_staple_policy cause a NACK, as do SAN
//     matchers on the server.
//   - RBAC (internal/xds/httpfilter/rbac/rbac.go, internal/xds/rbac/matchers.go):
//     action ALLOW or DENY. LOG, or no rules, is a no-op. shadow_rules are
//     ignored. condition and checked_condition cause a NACK, as do header
//     matchers on grpc-* or :scheme.
//     Permissions: and, or, not, any, header, url_path, destination_ip,
//     destination_port and requested_server_name. Principals: and, or, not,
//     any, authenticated.principal_name (URI SAN, then DNS SAN, then subject),
//     direct_remote_ip, remote_ip, source_ip, header and url_path.
//     metadata permissions and principals NEVER match (ALWAYS match when
//     inverted) (matchers.go:127-132, 189-194). So Istio request-principal
//     and JWT-claim rules, which use metadata, do not work.
//
// # Backend and client conventions
//
// The test service is grpc.testing.TestService; MethodUnaryCall and
// MethodEmptyCall are what route path matchers see. A successful call carries
// the backend name in SimpleResponse.Hostname and in the x-backend response
// header. Every request metadata key k comes back as x-echo-k
// (x-echo-authority carries the :authority). An injected failure sends no
// headers: its x-backend and x-echo-* keys are in the trailers, so that grpc-go
// may retry it. Client.Call returns the headers and trailers joined. Spread
// counts failures under the status code name ("Unavailable").
package grpcxds
