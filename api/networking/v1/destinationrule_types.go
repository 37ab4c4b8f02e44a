/*
Copyright 2026 The meshd Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	typev1beta1 "github.com/meshd-io/meshd/api/type/v1beta1"
)

// SimpleLB is a standard load balancing algorithm that needs no tuning.
// +kubebuilder:validation:Enum=UNSPECIFIED;LEAST_CONN;RANDOM;PASSTHROUGH;ROUND_ROBIN;LEAST_REQUEST
type SimpleLB string

const (
	// SimpleLBUnspecified lets Istio pick its default algorithm.
	SimpleLBUnspecified SimpleLB = "UNSPECIFIED"
	// SimpleLBLeastConn is deprecated: use LEAST_REQUEST.
	SimpleLBLeastConn SimpleLB = "LEAST_CONN"
	// SimpleLBRandom selects a random healthy host.
	SimpleLBRandom SimpleLB = "RANDOM"
	// SimpleLBPassthrough forwards to the original destination address.
	SimpleLBPassthrough SimpleLB = "PASSTHROUGH"
	// SimpleLBRoundRobin is a basic round robin.
	SimpleLBRoundRobin SimpleLB = "ROUND_ROBIN"
	// SimpleLBLeastRequest picks the host with fewer outstanding requests.
	SimpleLBLeastRequest SimpleLB = "LEAST_REQUEST"
)

// H2UpgradePolicy says whether HTTP/1.1 connections are upgraded to HTTP/2.
// +kubebuilder:validation:Enum=DEFAULT;DO_NOT_UPGRADE;UPGRADE
type H2UpgradePolicy string

const (
	// H2UpgradeDefault uses the global default.
	H2UpgradeDefault H2UpgradePolicy = "DEFAULT"
	// H2UpgradeDoNotUpgrade does not upgrade the connection to http2.
	H2UpgradeDoNotUpgrade H2UpgradePolicy = "DO_NOT_UPGRADE"
	// H2UpgradeUpgrade upgrades the connection to http2.
	H2UpgradeUpgrade H2UpgradePolicy = "UPGRADE"
)

// TLSMode is the TLS mode for connections to the upstream.
// +kubebuilder:validation:Enum=DISABLE;SIMPLE;MUTUAL;ISTIO_MUTUAL
type TLSMode string

const (
	// TLSModeDisable does not set up a TLS connection to the upstream.
	TLSModeDisable TLSMode = "DISABLE"
	// TLSModeSimple originates a TLS connection to the upstream.
	TLSModeSimple TLSMode = "SIMPLE"
	// TLSModeMutual originates mTLS using client certificates given in the rule.
	TLSModeMutual TLSMode = "MUTUAL"
	// TLSModeIstioMutual originates mTLS using Istio-generated certificates.
	TLSModeIstioMutual TLSMode = "ISTIO_MUTUAL"
)

// ProxyProtocolVersion is the PROXY protocol version sent upstream.
// +kubebuilder:validation:Enum=V1;V2
type ProxyProtocolVersion string

const (
	// ProxyProtocolV1 is the human-readable PROXY protocol.
	ProxyProtocolV1 ProxyProtocolVersion = "V1"
	// ProxyProtocolV2 is the binary PROXY protocol.
	ProxyProtocolV2 ProxyProtocolVersion = "V2"
)

// DestinationRuleSpec is Istio's DestinationRule: policies applied to traffic for a service after routing.
type DestinationRuleSpec struct {
	// The name of a service from the service registry.
	Host string `json:"host"`
	// Traffic policies to apply (load balancing policy, connection pool sizes, outlier detection).
	// +optional
	TrafficPolicy *TrafficPolicy `json:"trafficPolicy,omitempty"`
	// One or more named sets that represent individual versions of a service.
	// +optional
	Subsets []Subset `json:"subsets,omitempty"`
	// A list of namespaces to which this destination rule is exported.
	// +optional
	ExportTo []string `json:"exportTo,omitempty"`
	// Criteria used to select the specific set of pods/VMs on which this DestinationRule applies.
	// +optional
	WorkloadSelector *typev1beta1.WorkloadSelector `json:"workloadSelector,omitempty"`
}

// TrafficPolicy holds the traffic policies applied to a destination, subset or port.
type TrafficPolicy struct {
	// Settings controlling the load balancer algorithms.
	// +optional
	LoadBalancer *LoadBalancerSettings `json:"loadBalancer,omitempty"`
	// Settings controlling the volume of connections to an upstream service.
	// +optional
	ConnectionPool *ConnectionPoolSettings `json:"connectionPool,omitempty"`
	// Settings controlling eviction of unhealthy hosts from the load balancing pool.
	// +optional
	OutlierDetection *OutlierDetection `json:"outlierDetection,omitempty"`
	// TLS related settings for connections to the upstream service.
	// +optional
	TLS *ClientTLSSettings `json:"tls,omitempty"`
	// Traffic policies specific to individual ports.
	// +optional
	// +kubebuilder:validation:MaxItems=4096
	PortLevelSettings []PortTrafficPolicy `json:"portLevelSettings,omitempty"`
	// Configuration of tunneling TCP over other transport or application layers.
	// +optional
	Tunnel *TunnelSettings `json:"tunnel,omitempty"`
	// The upstream PROXY protocol settings.
	// +optional
	ProxyProtocol *ProxyProtocol `json:"proxyProtocol,omitempty"`
	// Specifies a limit on concurrent retries in relation to the number of active requests.
	// +optional
	RetryBudget *RetryBudget `json:"retryBudget,omitempty"`
}

// PortTrafficPolicy is a traffic policy that applies to one port of the destination.
type PortTrafficPolicy struct {
	// Specifies the number of a port on the destination service on which this policy is being applied.
	// +optional
	Port *PortSelector `json:"port,omitempty"`
	// Settings controlling the load balancer algorithms.
	// +optional
	LoadBalancer *LoadBalancerSettings `json:"loadBalancer,omitempty"`
	// Settings controlling the volume of connections to an upstream service.
	// +optional
	ConnectionPool *ConnectionPoolSettings `json:"connectionPool,omitempty"`
	// Settings controlling eviction of unhealthy hosts from the load balancing pool.
	// +optional
	OutlierDetection *OutlierDetection `json:"outlierDetection,omitempty"`
	// TLS related settings for connections to the upstream service.
	// +optional
	TLS *ClientTLSSettings `json:"tls,omitempty"`
}

// TunnelSettings configures tunneling TCP over another transport or application layer.
type TunnelSettings struct {
	// Specifies which protocol to use for tunneling the downstream connection (CONNECT or POST).
	// +optional
	Protocol string `json:"protocol,omitempty"`
	// Specifies a host to which the downstream connection is tunneled.
	TargetHost string `json:"targetHost"`
	// Specifies a port to which the downstream connection is tunneled.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=""
	TargetPort uint32 `json:"targetPort"`
}

// ProxyProtocol configures the PROXY protocol sent to the upstream.
type ProxyProtocol struct {
	// The PROXY protocol version to use.
	// +optional
	Version ProxyProtocolVersion `json:"version,omitempty"`
}

// RetryBudget limits concurrent retries in relation to the number of active requests.
type RetryBudget struct {
	// Specifies the limit on concurrent retries as a percentage of active and pending requests.
	// +optional
	// +nullable
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Percent *Double `json:"percent,omitempty"`
	// Specifies the minimum retry concurrency allowed for the retry budget.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=""
	MinRetryConcurrency uint32 `json:"minRetryConcurrency,omitempty"`
}

// Subset is a named set of service endpoints, selected by labels, with its own traffic policy.
type Subset struct {
	// Name of the subset.
	Name string `json:"name"`
	// Labels apply a filter over the endpoints of a service in the service registry.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// Traffic policies that apply to this subset.
	// +optional
	TrafficPolicy *TrafficPolicy `json:"trafficPolicy,omitempty"`
}

// LoadBalancerSettings configures the load balancer: a simple algorithm or consistent hashing.
// +kubebuilder:validation:XValidation:rule="!(has(self.simple) && has(self.consistentHash))",message="only one of simple or consistentHash may be set"
type LoadBalancerSettings struct {
	// Standard load balancing algorithm.
	// +optional
	Simple *SimpleLB `json:"simple,omitempty"`
	// Consistent hash-based load balancing (soft session affinity).
	// +optional
	ConsistentHash *ConsistentHashLB `json:"consistentHash,omitempty"`
	// Locality load balancer settings; overrides the mesh-wide settings.
	// +optional
	LocalityLbSetting *LocalityLoadBalancerSetting `json:"localityLbSetting,omitempty"`
	// Deprecated: use `warmup` instead.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1ms')",message="must be a valid duration greater than 1ms"
	WarmupDurationSecs *Duration `json:"warmupDurationSecs,omitempty"`
	// Represents the warmup configuration of Service.
	// +optional
	Warmup *WarmupConfiguration `json:"warmup,omitempty"`
}

// ConsistentHashLB selects the hash key and the hashing algorithm.
// +kubebuilder:validation:XValidation:rule="has(self.httpHeaderName) ? !(has(self.httpCookie) || has(self.useSourceIp) || has(self.httpQueryParameterName)) : has(self.httpCookie) ? !(has(self.useSourceIp) || has(self.httpQueryParameterName)) : !(has(self.useSourceIp) && has(self.httpQueryParameterName))",message="only one of httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName may be set"
// +kubebuilder:validation:XValidation:rule="!(has(self.ringHash) && has(self.maglev))",message="only one of ringHash or maglev may be set"
type ConsistentHashLB struct {
	// Hash based on a specific HTTP header.
	// +optional
	HTTPHeaderName *string `json:"httpHeaderName,omitempty"`
	// Hash based on HTTP cookie.
	// +optional
	HTTPCookie *HTTPCookie `json:"httpCookie,omitempty"`
	// Hash based on the source IP address.
	// +optional
	UseSourceIP *bool `json:"useSourceIp,omitempty"`
	// Hash based on a specific HTTP query parameter.
	// +optional
	HTTPQueryParameterName *string `json:"httpQueryParameterName,omitempty"`
	// The ring/modulo hash load balancer implements consistent hashing to backend hosts.
	// +optional
	RingHash *RingHash `json:"ringHash,omitempty"`
	// The Maglev load balancer implements consistent hashing to backend hosts.
	// +optional
	Maglev *MagLev `json:"maglev,omitempty"`
	// Deprecated: use ringHash.minimumRingSize.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MinimumRingSize uint64 `json:"minimumRingSize,omitempty"`
}

// RingHash configures the ring hash load balancer.
type RingHash struct {
	// The minimum number of virtual nodes to use for the hash ring.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MinimumRingSize uint64 `json:"minimumRingSize,omitempty"`
}

// MagLev configures the Maglev load balancer.
type MagLev struct {
	// The table size for Maglev hashing.
	// +optional
	// +kubebuilder:validation:Minimum=0
	TableSize uint64 `json:"tableSize,omitempty"`
}

// HTTPCookie describes the cookie used as the hash key; it is generated if absent.
type HTTPCookie struct {
	// Name of the cookie.
	Name string `json:"name"`
	// Path to set for the cookie.
	// +optional
	Path string `json:"path,omitempty"`
	// Lifetime of the cookie.
	// +optional
	TTL *Duration `json:"ttl,omitempty"`
	// Additional attributes for the cookie.
	// +optional
	Attributes []HTTPCookieAttribute `json:"attributes,omitempty"`
}

// HTTPCookieAttribute is an additional attribute of a generated cookie.
type HTTPCookieAttribute struct {
	// The name of the cookie attribute.
	Name string `json:"name"`
	// The optional value of the cookie attribute.
	// +optional
	Value string `json:"value,omitempty"`
}

// LocalityLoadBalancerSetting controls how traffic is spread or failed over across localities.
type LocalityLoadBalancerSetting struct {
	// Optional: only one of distribute, failover or failoverPriority can be set.
	// +optional
	Distribute []LocalityLBDistribute `json:"distribute,omitempty"`
	// Optional: only one of distribute, failover or failoverPriority can be set.
	// +optional
	Failover []LocalityLBFailover `json:"failover,omitempty"`
	// failoverPriority is an ordered list of labels used to sort endpoints to do priority based load balancing.
	// +optional
	FailoverPriority []string `json:"failoverPriority,omitempty"`
	// Enable locality load balancing.
	// +optional
	// +nullable
	Enabled *bool `json:"enabled,omitempty"`
}

// LocalityLBDistribute distributes traffic from one locality across upstream localities by weight.
type LocalityLBDistribute struct {
	// Originating locality, '/' separated, e.g. 'region/zone/sub_zone'.
	// +optional
	From string `json:"from,omitempty"`
	// Map of upstream localities to traffic distribution weights.
	// +optional
	To map[string]LocalityWeight `json:"to,omitempty"`
}

// LocalityWeight is a uint32 traffic distribution weight.
// +kubebuilder:validation:Minimum=0
// +kubebuilder:validation:Maximum=4294967295
// +kubebuilder:validation:Format=""
type LocalityWeight uint32

// LocalityLBFailover names the region traffic fails over to when a region becomes unhealthy.
type LocalityLBFailover struct {
	// Originating region.
	// +optional
	From string `json:"from,omitempty"`
	// Destination region the traffic will fail over to when endpoints in the 'from' region becomes unhealthy.
	// +optional
	To string `json:"to,omitempty"`
}

// WarmupConfiguration ramps up traffic to newly added endpoints.
type WarmupConfiguration struct {
	// Duration of the warmup period.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1ms')",message="must be a valid duration greater than 1ms"
	Duration Duration `json:"duration"`
	// Minimum percentage of traffic sent to a warming endpoint.
	// +optional
	// +nullable
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	MinimumPercent *Double `json:"minimumPercent,omitempty"`
	// This parameter controls the speed of traffic increase over the warmup duration.
	// +optional
	// +nullable
	// +kubebuilder:validation:Minimum=0
	Aggression *Double `json:"aggression,omitempty"`
}

// ConnectionPoolSettings limits the volume of connections to an upstream service.
type ConnectionPoolSettings struct {
	// Settings common to both HTTP and TCP upstream connections.
	// +optional
	TCP *TCPSettings `json:"tcp,omitempty"`
	// HTTP connection pool settings.
	// +optional
	HTTP *HTTPSettings `json:"http,omitempty"`
}

// TCPSettings are connection pool settings common to HTTP and TCP upstream connections.
type TCPSettings struct {
	// Maximum number of HTTP1 /TCP connections to a destination host.
	// +optional
	MaxConnections int32 `json:"maxConnections,omitempty"`
	// TCP connection timeout.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1ms')",message="must be a valid duration greater than 1ms"
	ConnectTimeout *Duration `json:"connectTimeout,omitempty"`
	// If set then set SO_KEEPALIVE on the socket to enable TCP Keepalives.
	// +optional
	TCPKeepalive *TCPKeepalive `json:"tcpKeepalive,omitempty"`
	// The maximum duration of a connection.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1ms')",message="must be a valid duration greater than 1ms"
	MaxConnectionDuration *Duration `json:"maxConnectionDuration,omitempty"`
	// The idle timeout for TCP connections.
	// +optional
	IdleTimeout *Duration `json:"idleTimeout,omitempty"`
}

// TCPKeepalive configures TCP keepalive probes.
type TCPKeepalive struct {
	// Maximum number of keepalive probes to send without response before deciding the connection is dead.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=""
	Probes uint32 `json:"probes,omitempty"`
	// The time duration a connection needs to be idle before keep-alive probes start being sent.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1ms')",message="must be a valid duration greater than 1ms"
	Time *Duration `json:"time,omitempty"`
	// The time duration between keep-alive probes.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1ms')",message="must be a valid duration greater than 1ms"
	Interval *Duration `json:"interval,omitempty"`
}

// HTTPSettings are connection pool settings for HTTP/1.1, HTTP2 and gRPC upstreams.
type HTTPSettings struct {
	// Maximum number of requests that will be queued while waiting for a ready connection pool connection.
	// +optional
	HTTP1MaxPendingRequests int32 `json:"http1MaxPendingRequests,omitempty"`
	// Maximum number of active requests to a destination.
	// +optional
	HTTP2MaxRequests int32 `json:"http2MaxRequests,omitempty"`
	// Maximum number of requests per connection to a backend.
	// +optional
	MaxRequestsPerConnection int32 `json:"maxRequestsPerConnection,omitempty"`
	// Maximum number of retries that can be outstanding to all hosts in a cluster at a given time.
	// +optional
	MaxRetries int32 `json:"maxRetries,omitempty"`
	// The idle timeout for upstream connection pool connections.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1ms')",message="must be a valid duration greater than 1ms"
	IdleTimeout *Duration `json:"idleTimeout,omitempty"`
	// Specify if http1.1 connection should be upgraded to http2 for the associated destination.
	// +optional
	H2UpgradePolicy H2UpgradePolicy `json:"h2UpgradePolicy,omitempty"`
	// If set to true, client protocol will be preserved while initiating connection to backend.
	// +optional
	UseClientProtocol bool `json:"useClientProtocol,omitempty"`
	// The maximum number of concurrent streams allowed for a peer on one HTTP/2 connection.
	// +optional
	MaxConcurrentStreams int32 `json:"maxConcurrentStreams,omitempty"`
}

// OutlierDetection is a circuit breaker that ejects unhealthy hosts from the load balancing pool.
type OutlierDetection struct {
	// Deprecated: use consecutiveGatewayErrors or consecutive5xxErrors.
	// +optional
	ConsecutiveErrors int32 `json:"consecutiveErrors,omitempty"`
	// Determines whether to distinguish local origin failures from external errors.
	// +optional
	SplitExternalLocalOriginErrors bool `json:"splitExternalLocalOriginErrors,omitempty"`
	// The number of consecutive locally originated failures before ejection occurs.
	// +optional
	// +nullable
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=""
	ConsecutiveLocalOriginFailures *uint32 `json:"consecutiveLocalOriginFailures,omitempty"`
	// Number of gateway errors before a host is ejected from the connection pool.
	// +optional
	// +nullable
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=""
	ConsecutiveGatewayErrors *uint32 `json:"consecutiveGatewayErrors,omitempty"`
	// Number of 5xx errors before a host is ejected from the connection pool.
	// +optional
	// +nullable
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=""
	Consecutive5xxErrors *uint32 `json:"consecutive5xxErrors,omitempty"`
	// Time interval between ejection sweep analysis.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1ms')",message="must be a valid duration greater than 1ms"
	Interval *Duration `json:"interval,omitempty"`
	// Minimum ejection duration.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1ms')",message="must be a valid duration greater than 1ms"
	BaseEjectionTime *Duration `json:"baseEjectionTime,omitempty"`
	// Maximum % of hosts in the load balancing pool for the upstream service that can be ejected.
	// +optional
	MaxEjectionPercent int32 `json:"maxEjectionPercent,omitempty"`
	// Outlier detection is enabled while at least minHealthPercent hosts of the pool are healthy.
	// +optional
	MinHealthPercent int32 `json:"minHealthPercent,omitempty"`
}

// ClientTLSSettings are the TLS settings for connections to an upstream.
type ClientTLSSettings struct {
	// Indicates whether connections to this port should be secured using TLS.
	// +optional
	Mode TLSMode `json:"mode,omitempty"`
	// REQUIRED if mode is `MUTUAL`: path to the client's TLS certificate.
	// +optional
	ClientCertificate string `json:"clientCertificate,omitempty"`
	// REQUIRED if mode is `MUTUAL`: path to the client's private key.
	// +optional
	PrivateKey string `json:"privateKey,omitempty"`
	// Path to the CA certificates used to verify the server certificate.
	// +optional
	CaCertificates string `json:"caCertificates,omitempty"`
	// The name of the secret that holds the TLS certs for the client including the CA certificates.
	// +optional
	CredentialName string `json:"credentialName,omitempty"`
	// A list of alternate names to verify the subject identity in the certificate.
	// +optional
	SubjectAltNames []string `json:"subjectAltNames,omitempty"`
	// SNI string to present to the server during TLS handshake.
	// +optional
	Sni string `json:"sni,omitempty"`
	// Whether the proxy should skip verifying the CA signature and SAN of the server certificate.
	// +optional
	// +nullable
	InsecureSkipVerify *bool `json:"insecureSkipVerify,omitempty"`
	// Path to the certificate revocation list (CRL) used to verify the server certificate.
	// +optional
	CaCrl string `json:"caCrl,omitempty"`
}

// DestinationRule is networking.istio.io's DestinationRule: policies for traffic to a service after routing.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:resource:shortName=dr,categories=istio-io;networking-istio-io
// +kubebuilder:printcolumn:name="Host",type=string,JSONPath=`.spec.host`,description="The name of a service from the service registry"
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`,description="Whether meshd accepted the object"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type DestinationRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec holds the destination policies.
	// +optional
	Spec DestinationRuleSpec `json:"spec"`
	// Status is what meshd observed about the object.
	// +optional
	Status typev1beta1.ConfigStatus `json:"status,omitempty"`
}

// DestinationRuleList is a list of DestinationRules.
// +kubebuilder:object:root=true
type DestinationRuleList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the DestinationRules in the list.
	Items []DestinationRule `json:"items"`
}

func init() {
	SchemeBuilder.Register(&DestinationRule{}, &DestinationRuleList{})
}
