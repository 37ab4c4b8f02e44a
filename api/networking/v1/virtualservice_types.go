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

// RedirectPortSelection selects how a redirect derives its port.
// +kubebuilder:validation:Enum=FROM_PROTOCOL_DEFAULT;FROM_REQUEST_PORT
type RedirectPortSelection string

const (
	// RedirectPortFromProtocolDefault sets the port to 80 for HTTP and 443 for HTTPS.
	RedirectPortFromProtocolDefault RedirectPortSelection = "FROM_PROTOCOL_DEFAULT"
	// RedirectPortFromRequestPort uses the port of the request.
	RedirectPortFromRequestPort RedirectPortSelection = "FROM_REQUEST_PORT"
)

// UnmatchedPreflights says what to do with CORS preflights that match no allowed origin.
// +kubebuilder:validation:Enum=UNSPECIFIED;FORWARD;IGNORE
type UnmatchedPreflights string

const (
	// UnmatchedPreflightsUnspecified defaults to FORWARD.
	UnmatchedPreflightsUnspecified UnmatchedPreflights = "UNSPECIFIED"
	// UnmatchedPreflightsForward forwards the preflight to the upstream.
	UnmatchedPreflightsForward UnmatchedPreflights = "FORWARD"
	// UnmatchedPreflightsIgnore answers the preflight without CORS headers.
	UnmatchedPreflightsIgnore UnmatchedPreflights = "IGNORE"
)

// VirtualServiceSpec is Istio's VirtualService: traffic routing rules applied when a host is addressed.
type VirtualServiceSpec struct {
	// The destination hosts to which traffic is being sent.
	// +optional
	Hosts []string `json:"hosts,omitempty"`
	// The names of gateways and sidecars that should apply these routes.
	// +optional
	Gateways []string `json:"gateways,omitempty"`
	// An ordered list of route rules for HTTP traffic.
	// +optional
	HTTP []HTTPRoute `json:"http,omitempty"`
	// An ordered list of route rules for non-terminated TLS & HTTPS traffic.
	// +optional
	TLS []TLSRoute `json:"tls,omitempty"`
	// An ordered list of route rules for opaque TCP traffic.
	// +optional
	TCP []TCPRoute `json:"tcp,omitempty"`
	// A list of namespaces to which this virtual service is exported.
	// +optional
	ExportTo []string `json:"exportTo,omitempty"`
}

// Destination indicates the network addressable service to which a request or connection is sent.
type Destination struct {
	// The name of a service from the service registry.
	Host string `json:"host"`
	// The name of a subset within the service.
	// +optional
	Subset string `json:"subset,omitempty"`
	// Specifies the port on the host that is being addressed.
	// +optional
	Port *PortSelector `json:"port,omitempty"`
}

// HTTPRoute describes match conditions and actions for routing HTTP/1.1, HTTP2 and gRPC traffic.
type HTTPRoute struct {
	// The name assigned to the route for debugging purposes.
	// +optional
	Name string `json:"name,omitempty"`
	// Match conditions to be satisfied for the rule to be activated.
	// +optional
	Match []HTTPMatchRequest `json:"match,omitempty"`
	// A HTTP rule can either return a direct_response, redirect or forward (default) traffic.
	// +optional
	Route []HTTPRouteDestination `json:"route,omitempty"`
	// A HTTP rule can either return a direct_response, redirect or forward (default) traffic.
	// +optional
	Redirect *HTTPRedirect `json:"redirect,omitempty"`
	// A HTTP rule can either return a direct_response, redirect or forward (default) traffic.
	// +optional
	DirectResponse *HTTPDirectResponse `json:"directResponse,omitempty"`
	// Delegate is used to specify the particular VirtualService which can be used to define delegate HTTPRoute.
	// +optional
	Delegate *Delegate `json:"delegate,omitempty"`
	// Rewrite HTTP URIs and Authority headers.
	// +optional
	Rewrite *HTTPRewrite `json:"rewrite,omitempty"`
	// Timeout for HTTP requests, default is disabled.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1ms')",message="must be a valid duration greater than 1ms"
	Timeout *Duration `json:"timeout,omitempty"`
	// Retry policy for HTTP requests.
	// +optional
	Retries *HTTPRetry `json:"retries,omitempty"`
	// Fault injection policy to apply on HTTP traffic at the client side.
	// +optional
	Fault *HTTPFaultInjection `json:"fault,omitempty"`
	// Mirror HTTP traffic to another destination in addition to forwarding the requests to the intended destination.
	// +optional
	Mirror *Destination `json:"mirror,omitempty"`
	// Deprecated: use mirrorPercentage. Percentage of traffic mirrored by the mirror field.
	// +optional
	// +nullable
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=""
	MirrorPercent *uint32 `json:"mirrorPercent,omitempty"`
	// Deprecated: snake_case spelling of mirrorPercent that Istio's CRD still accepts.
	// +optional
	// +nullable
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=""
	DeprecatedMirrorPercent *uint32 `json:"mirror_percent,omitempty"`
	// Percentage of the traffic to be mirrored by the `mirror` field.
	// +optional
	MirrorPercentage *Percent `json:"mirrorPercentage,omitempty"`
	// Specifies the destinations to mirror HTTP traffic in addition to the original destination.
	// +optional
	Mirrors []HTTPMirrorPolicy `json:"mirrors,omitempty"`
	// Cross-Origin Resource Sharing policy (CORS).
	// +optional
	CorsPolicy *CorsPolicy `json:"corsPolicy,omitempty"`
	// Header manipulation rules.
	// +optional
	Headers *Headers `json:"headers,omitempty"`
}

// Delegate names the VirtualService that defines the delegated HTTP routes.
type Delegate struct {
	// Name specifies the name of the delegate VirtualService.
	// +optional
	Name string `json:"name,omitempty"`
	// Namespace specifies the namespace where the delegate VirtualService resides.
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// TLSRoute describes match conditions and actions for routing unterminated TLS traffic.
type TLSRoute struct {
	// Match conditions to be satisfied for the rule to be activated.
	Match []TLSMatchAttributes `json:"match"`
	// The destination to which the connection should be forwarded to.
	// +optional
	Route []RouteDestination `json:"route,omitempty"`
}

// TCPRoute describes match conditions and actions for routing TCP traffic.
type TCPRoute struct {
	// Match conditions to be satisfied for the rule to be activated.
	// +optional
	Match []L4MatchAttributes `json:"match,omitempty"`
	// The destination to which the connection should be forwarded to.
	// +optional
	Route []RouteDestination `json:"route,omitempty"`
}

// HTTPMatchRequest specifies a set of criteria to be met in order for the rule to be applied.
type HTTPMatchRequest struct {
	// The name assigned to a match.
	// +optional
	Name string `json:"name,omitempty"`
	// URI to match.
	// +optional
	URI *StringMatch `json:"uri,omitempty"`
	// URI Scheme to match.
	// +optional
	Scheme *StringMatch `json:"scheme,omitempty"`
	// HTTP Method to match.
	// +optional
	Method *StringMatch `json:"method,omitempty"`
	// HTTP Authority to match.
	// +optional
	Authority *StringMatch `json:"authority,omitempty"`
	// The header keys must be lowercase and use hyphen as the separator, e.g. x-request-id.
	// +optional
	Headers map[string]StringMatch `json:"headers,omitempty"`
	// Specifies the ports on the host that is being addressed.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=""
	Port uint32 `json:"port,omitempty"`
	// One or more labels that constrain the applicability of a rule to source (client) workloads with the given labels.
	// +optional
	SourceLabels map[string]string `json:"sourceLabels,omitempty"`
	// Names of gateways where the rule should be applied.
	// +optional
	Gateways []string `json:"gateways,omitempty"`
	// Query parameters for matching.
	// +optional
	QueryParams map[string]StringMatch `json:"queryParams,omitempty"`
	// Flag to specify whether the URI matching should be case-insensitive.
	// +optional
	IgnoreURICase bool `json:"ignoreUriCase,omitempty"`
	// withoutHeader has the same syntax with the header, but has opposite meaning.
	// +optional
	WithoutHeaders map[string]StringMatch `json:"withoutHeaders,omitempty"`
	// Source namespace constraining the applicability of a rule to workloads in that namespace.
	// +optional
	SourceNamespace string `json:"sourceNamespace,omitempty"`
	// The human readable prefix to use when emitting statistics for this route.
	// +optional
	StatPrefix string `json:"statPrefix,omitempty"`
}

// HTTPRouteDestination is a weighted HTTP destination with its own header manipulations.
type HTTPRouteDestination struct {
	// Destination uniquely identifies the instances of a service to which the request should be forwarded.
	Destination Destination `json:"destination"`
	// Weight specifies the relative proportion of traffic to be forwarded to the destination.
	// +optional
	Weight int32 `json:"weight,omitempty"`
	// Header manipulation rules.
	// +optional
	Headers *Headers `json:"headers,omitempty"`
}

// RouteDestination is a weighted L4 destination.
type RouteDestination struct {
	// Destination uniquely identifies the instances of a service to which the connection should be forwarded.
	Destination Destination `json:"destination"`
	// Weight specifies the relative proportion of traffic to be forwarded to the destination.
	// +optional
	Weight int32 `json:"weight,omitempty"`
}

// L4MatchAttributes allows routing decisions based on L4 connection properties.
type L4MatchAttributes struct {
	// IPv4 or IPv6 ip addresses of destination with optional subnet.
	// +optional
	DestinationSubnets []string `json:"destinationSubnets,omitempty"`
	// Specifies the port on the host that is being addressed.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=""
	Port uint32 `json:"port,omitempty"`
	// Deprecated: IPv4 or IPv6 ip address of source with optional subnet.
	// +optional
	SourceSubnet string `json:"sourceSubnet,omitempty"`
	// One or more labels that constrain the applicability of a rule to workloads with the given labels.
	// +optional
	SourceLabels map[string]string `json:"sourceLabels,omitempty"`
	// Names of gateways where the rule should be applied.
	// +optional
	Gateways []string `json:"gateways,omitempty"`
	// Source namespace constraining the applicability of a rule to workloads in that namespace.
	// +optional
	SourceNamespace string `json:"sourceNamespace,omitempty"`
}

// TLSMatchAttributes allows routing decisions based on TLS connection properties.
type TLSMatchAttributes struct {
	// SNI (server name indicator) to match on.
	SniHosts []string `json:"sniHosts"`
	// IPv4 or IPv6 ip addresses of destination with optional subnet.
	// +optional
	DestinationSubnets []string `json:"destinationSubnets,omitempty"`
	// Specifies the port on the host that is being addressed.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=""
	Port uint32 `json:"port,omitempty"`
	// One or more labels that constrain the applicability of a rule to workloads with the given labels.
	// +optional
	SourceLabels map[string]string `json:"sourceLabels,omitempty"`
	// Names of gateways where the rule should be applied.
	// +optional
	Gateways []string `json:"gateways,omitempty"`
	// Source namespace constraining the applicability of a rule to workloads in that namespace.
	// +optional
	SourceNamespace string `json:"sourceNamespace,omitempty"`
}

// HTTPRedirect sends a 301 (or redirectCode) redirect response to the caller.
// +kubebuilder:validation:XValidation:rule="!(has(self.port) && has(self.derivePort))",message="only one of port or derivePort may be set"
type HTTPRedirect struct {
	// On a redirect, overwrite the Path portion of the URL with this value.
	// +optional
	URI string `json:"uri,omitempty"`
	// On a redirect, overwrite the Authority/Host portion of the URL with this value.
	// +optional
	Authority string `json:"authority,omitempty"`
	// On a redirect, overwrite the port portion of the URL with this value.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=""
	Port *uint32 `json:"port,omitempty"`
	// On a redirect, dynamically set the port.
	// +optional
	DerivePort *RedirectPortSelection `json:"derivePort,omitempty"`
	// On a redirect, overwrite the scheme portion of the URL with this value.
	// +optional
	Scheme string `json:"scheme,omitempty"`
	// On a redirect, Specifies the HTTP status code to use in the redirect response.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=""
	RedirectCode uint32 `json:"redirectCode,omitempty"`
}

// HTTPDirectResponse returns a fixed response to the caller.
type HTTPDirectResponse struct {
	// Specifies the HTTP response status to be returned.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=""
	Status uint32 `json:"status"`
	// Specifies the content of the response body.
	// +optional
	Body *HTTPBody `json:"body,omitempty"`
}

// HTTPBody is a direct response body, as a string or as base64 encoded bytes.
// +kubebuilder:validation:XValidation:rule="!(has(self.string) && has(self.bytes))",message="only one of string or bytes may be set"
type HTTPBody struct {
	// response body as a string.
	// +optional
	String *string `json:"string,omitempty"`
	// response body as base64 encoded bytes.
	// +optional
	Bytes []byte `json:"bytes,omitempty"`
}

// HTTPRewrite rewrites parts of the request before forwarding it.
type HTTPRewrite struct {
	// rewrite the path (or the prefix) portion of the URI with this value.
	// +optional
	URI string `json:"uri,omitempty"`
	// rewrite the Authority/Host header with this value.
	// +optional
	Authority string `json:"authority,omitempty"`
	// rewrite the path portion of the URI with the specified regex.
	// +optional
	URIRegexRewrite *RegexRewrite `json:"uriRegexRewrite,omitempty"`
}

// RegexRewrite rewrites the portions of a string matching an RE2 regex.
type RegexRewrite struct {
	// RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax).
	// +optional
	Match string `json:"match,omitempty"`
	// The string that should replace into matching portions of original URI.
	// +optional
	Rewrite string `json:"rewrite,omitempty"`
}

// HTTPRetry describes the retry policy to use when a HTTP request fails.
type HTTPRetry struct {
	// Number of retries to be allowed for a given request.
	// +optional
	Attempts int32 `json:"attempts,omitempty"`
	// Timeout per attempt for a given request, including the initial call and any retries.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1ms')",message="must be a valid duration greater than 1ms"
	PerTryTimeout *Duration `json:"perTryTimeout,omitempty"`
	// Specifies the conditions under which retry takes place.
	// +optional
	RetryOn string `json:"retryOn,omitempty"`
	// Flag to specify whether the retries should retry to other localities.
	// +optional
	// +nullable
	RetryRemoteLocalities *bool `json:"retryRemoteLocalities,omitempty"`
	// Flag to specify whether the retries should ignore previously tried hosts during retry.
	// +optional
	// +nullable
	RetryIgnorePreviousHosts *bool `json:"retryIgnorePreviousHosts,omitempty"`
	// Specifies the minimum duration between retry attempts.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1ms')",message="must be a valid duration greater than 1ms"
	Backoff *Duration `json:"backoff,omitempty"`
}

// CorsPolicy describes the Cross-Origin Resource Sharing (CORS) policy for a route.
type CorsPolicy struct {
	// Deprecated: use allowOrigins.
	// +optional
	AllowOrigin []string `json:"allowOrigin,omitempty"`
	// String patterns that match allowed origins.
	// +optional
	AllowOrigins []StringMatch `json:"allowOrigins,omitempty"`
	// List of HTTP methods allowed to access the resource.
	// +optional
	AllowMethods []string `json:"allowMethods,omitempty"`
	// List of HTTP headers that can be used when requesting the resource.
	// +optional
	AllowHeaders []string `json:"allowHeaders,omitempty"`
	// A list of HTTP headers that the browsers are allowed to access.
	// +optional
	ExposeHeaders []string `json:"exposeHeaders,omitempty"`
	// Specifies how long the results of a preflight request can be cached.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1ms')",message="must be a valid duration greater than 1ms"
	MaxAge *Duration `json:"maxAge,omitempty"`
	// Indicates whether the caller is allowed to send the actual request (not the preflight) using credentials.
	// +optional
	// +nullable
	AllowCredentials *bool `json:"allowCredentials,omitempty"`
	// Indicates whether preflight requests not matching the configured allowed origin shouldn't be forwarded to the upstream.
	// +optional
	UnmatchedPreflights UnmatchedPreflights `json:"unmatchedPreflights,omitempty"`
}

// HTTPFaultInjection specifies faults to inject when forwarding HTTP requests.
type HTTPFaultInjection struct {
	// Delay requests before forwarding, emulating various failures such as network issues.
	// +optional
	Delay *HTTPFaultInjectionDelay `json:"delay,omitempty"`
	// Abort Http request attempts and return error codes back to downstream service.
	// +optional
	Abort *HTTPFaultInjectionAbort `json:"abort,omitempty"`
}

// HTTPFaultInjectionDelay specifies the delay to inject before forwarding requests.
// +kubebuilder:validation:XValidation:rule="!(has(self.fixedDelay) && has(self.exponentialDelay))",message="only one of fixedDelay or exponentialDelay may be set"
type HTTPFaultInjectionDelay struct {
	// Deprecated: use percentage. Percentage of requests on which the delay will be injected (0-100).
	// +optional
	Percent int32 `json:"percent,omitempty"`
	// Add a fixed delay before forwarding the request.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1ms')",message="must be a valid duration greater than 1ms"
	FixedDelay *Duration `json:"fixedDelay,omitempty"`
	// Add an exponential delay (not implemented by Istio).
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1ms')",message="must be a valid duration greater than 1ms"
	ExponentialDelay *Duration `json:"exponentialDelay,omitempty"`
	// Percentage of requests on which the delay will be injected.
	// +optional
	Percentage *Percent `json:"percentage,omitempty"`
}

// HTTPFaultInjectionAbort specifies the error to return for aborted requests.
// +kubebuilder:validation:XValidation:rule="has(self.httpStatus) ? !(has(self.grpcStatus) || has(self.http2Error)) : !(has(self.grpcStatus) && has(self.http2Error))",message="only one of httpStatus, grpcStatus or http2Error may be set"
type HTTPFaultInjectionAbort struct {
	// HTTP status code to use to abort the Http request.
	// +optional
	HTTPStatus *int32 `json:"httpStatus,omitempty"`
	// GRPC status code to use to abort the request.
	// +optional
	GrpcStatus *string `json:"grpcStatus,omitempty"`
	// HTTP/2 error to abort the request with (not implemented by Istio).
	// +optional
	HTTP2Error *string `json:"http2Error,omitempty"`
	// Percentage of requests to be aborted with the error code provided.
	// +optional
	Percentage *Percent `json:"percentage,omitempty"`
}

// HTTPMirrorPolicy is a mirror destination with its own mirrored percentage.
type HTTPMirrorPolicy struct {
	// Destination specifies the target of the mirror operation.
	Destination Destination `json:"destination"`
	// Percentage of the traffic to be mirrored by the `destination` field.
	// +optional
	Percentage *Percent `json:"percentage,omitempty"`
}

// VirtualService is networking.istio.io's VirtualService: routing rules for the hosts it names.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:resource:shortName=vs,categories=istio-io;networking-istio-io
// +kubebuilder:printcolumn:name="Gateways",type=string,JSONPath=`.spec.gateways`,description="The names of gateways and sidecars that should apply these routes"
// +kubebuilder:printcolumn:name="Hosts",type=string,JSONPath=`.spec.hosts`,description="The destination hosts to which traffic is being sent"
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`,description="Whether meshd accepted the object"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type VirtualService struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec holds the routing rules.
	// +optional
	Spec VirtualServiceSpec `json:"spec"`
	// Status is what meshd observed about the object.
	// +optional
	Status typev1beta1.ConfigStatus `json:"status,omitempty"`
}

// VirtualServiceList is a list of VirtualServices.
// +kubebuilder:object:root=true
type VirtualServiceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the VirtualServices in the list.
	Items []VirtualService `json:"items"`
}

func init() {
	SchemeBuilder.Register(&VirtualService{}, &VirtualServiceList{})
}
