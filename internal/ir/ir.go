// Package ir is what proxies should do, with no Kubernetes or Istio API types in it:
// per service port, the candidate route tables (from VirtualServices) and destination
// policies (from DestinationRules), each with the namespaces it is visible to. The
// per-proxy-class generators in internal/xds pick, for a client's scope, what Istio's
// precedence rules pick, and render Envoy resources from it.
package ir

import (
	"strings"
	"time"
)

// IR is the translated mesh config. Slices are sorted so output is deterministic.
type IR struct {
	// Services sorted by Hostname.
	Services []*Service `json:"services,omitempty"`
	// RootNamespace holds mesh-wide config (Istio's root namespace).
	RootNamespace string `json:"rootNamespace,omitempty"`
	// TrustDomain is the SPIFFE trust domain of workload identities.
	TrustDomain string `json:"trustDomain,omitempty"`
	// PeerAuthentications and AuthorizationPolicies, oldest first.
	PeerAuthentications   []*PeerAuthn   `json:"peerAuthentications,omitempty"`
	AuthorizationPolicies []*AuthzPolicy `json:"authorizationPolicies,omitempty"`
	// AuthzProviders are the Mesh's ext_authz providers, by name order.
	AuthzProviders []*AuthzProvider `json:"authzProviders,omitempty"`
	// ClientSelectors are the label selectors that make one client's config differ
	// from another's in the same namespace, sorted by SelectorKey (see ClientSignature).
	ClientSelectors []map[string]string `json:"clientSelectors,omitempty"`
	// LocalityAware is true when some cluster's endpoints depend on the client's
	// locality; PriorityLabels are the failoverPriority labels whose client values matter.
	LocalityAware  bool     `json:"localityAware,omitempty"`
	PriorityLabels []string `json:"priorityLabels,omitempty"`
	// Gateways are the Gateway API Gateways meshd programs, by namespace and name.
	Gateways []*Gateway `json:"gateways,omitempty"`
	// Sidecars are the accepted Istio Sidecars, oldest first (see SidecarFor).
	Sidecars []*Sidecar `json:"sidecars,omitempty"`
	// RegistryOnly is the Mesh's outboundTrafficPolicy REGISTRY_ONLY: sidecars whose
	// Sidecar does not say otherwise block destinations outside their registry.
	RegistryOnly bool `json:"registryOnly,omitempty"`

	// index finds services by hostname and namespace (Finish builds it).
	index *serviceIndex
}

// Service is one mesh service and everything that routes to it or shapes traffic to it.
type Service struct {
	Hostname  string `json:"hostname,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	// ExportTo is where the service itself is visible.
	ExportTo Visibility `json:"exportTo,omitempty"`
	// Addresses are the service's virtual IPs (none for a headless service).
	Addresses []string `json:"addresses,omitempty"`
	Ports     []*Port  `json:"ports,omitempty"`
	// Policies are candidate DestinationRules for this host, oldest first; Select picks
	// one per client namespace.
	Policies []*DestinationPolicy `json:"policies,omitempty"`
	// Waypoint is the ambient waypoint that applies this service's L7 routing and
	// policy (istio.io/use-waypoint on the Service, else on its namespace); nil when
	// none does.
	Waypoint *WaypointRef `json:"waypoint,omitempty"`
}

// Name is the Kubernetes Service's name: the hostname's first label.
func (s *Service) Name() string {
	name, _, _ := strings.Cut(s.Hostname, ".")
	return name
}

// WaypointRef names an istio-waypoint Gateway.
type WaypointRef struct {
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
}

func (r *WaypointRef) String() string { return r.Namespace + "/" + r.Name }

// Port is one service port with its candidate route tables.
type Port struct {
	Number   uint32 `json:"number,omitempty"`
	Name     string `json:"name,omitempty"`
	Protocol string `json:"protocol,omitempty"`
	// RouteTables from VirtualServices naming this host, oldest first. A client uses the
	// first one visible to its namespace; with none visible it gets Default.
	RouteTables []*RouteTable `json:"routeTables,omitempty"`
	// Default sends all traffic to the port's cluster, as Istio does without a
	// VirtualService.
	Default *RouteTable `json:"default,omitempty"`
	// L4Tables are the tcp and tls routes of VirtualServices naming this host, oldest
	// first, for ports that do not carry HTTP routes.
	L4Tables []*L4Table `json:"l4Tables,omitempty"`
}

// Visibility is an exportTo list: "*" (everyone), "." resolved to the owning
// namespace, or namespace names. Empty means everyone.
type Visibility []string

// VisibleTo reports whether a client in namespace ns may see the config.
func (v Visibility) VisibleTo(ns string) bool {
	if len(v) == 0 {
		return true
	}
	for _, n := range v {
		if n == "*" || n == ns {
			return true
		}
	}
	return false
}

// ConfigRef names the Istio object a piece of IR came from, for status and debugging.
type ConfigRef struct {
	Kind      string `json:"kind,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
}

func (r ConfigRef) String() string { return r.Kind + "/" + r.Namespace + "/" + r.Name }

// RouteTable is an ordered list of HTTP routes: the first match wins.
type RouteTable struct {
	Source   ConfigRef  `json:"source,omitempty"`
	ExportTo Visibility `json:"exportTo,omitempty"`
	Routes   []*Route   `json:"routes,omitempty"`
}

// Route is one HTTP route: matches (any of them) and what to do.
type Route struct {
	Name string `json:"name,omitempty"`
	// Matches are ORed; none means match everything.
	Matches []*Match `json:"matches,omitempty"`

	// Exactly one of Forward, Redirect, DirectResponse is set.
	Forward        *Forward        `json:"forward,omitempty"`
	Redirect       *Redirect       `json:"redirect,omitempty"`
	DirectResponse *DirectResponse `json:"directResponse,omitempty"`

	Rewrite *Rewrite `json:"rewrite,omitempty"`
	// Timeout is the whole-request timeout; nil means none (Istio's default).
	Timeout *time.Duration `json:"timeout,omitempty"`
	Retry   *Retry         `json:"retry,omitempty"`
	Fault   *Fault         `json:"fault,omitempty"`
	Mirrors []*Mirror      `json:"mirrors,omitempty"`
	CORS    *CORS          `json:"cors,omitempty"`
	Headers HeaderOps      `json:"headers,omitempty"`
}

// Match is one set of ANDed request conditions.
type Match struct {
	Name            string         `json:"name,omitempty"`
	Path            *StringMatch   `json:"path,omitempty"`
	CaseInsensitive bool           `json:"caseInsensitive,omitempty"`
	Headers         []*HeaderMatch `json:"headers,omitempty"`
	QueryParams     []*QueryMatch  `json:"queryParams,omitempty"`
	// Port restricts the match to traffic on that port (0: any).
	Port uint32 `json:"port,omitempty"`
	// SourceLabels and SourceNamespace select clients; evaluated by the generator
	// for each client scope, never sent to proxies.
	SourceLabels    map[string]string `json:"sourceLabels,omitempty"`
	SourceNamespace string            `json:"sourceNamespace,omitempty"`
}

// StringMatchKind says how a StringMatch compares.
type StringMatchKind string

const (
	MatchExact   StringMatchKind = "Exact"
	MatchPrefix  StringMatchKind = "Prefix"
	MatchRegex   StringMatchKind = "Regex"
	MatchPresent StringMatchKind = "Present"
	// MatchPathSegments matches a path prefix by whole segments, as Gateway API's
	// PathPrefix does: /foo matches /foo and /foo/bar, not /foobar. Value has no
	// trailing slash (except the root path "/").
	MatchPathSegments StringMatchKind = "PathSegments"
)

// StringMatch compares a string.
type StringMatch struct {
	Kind  StringMatchKind `json:"kind,omitempty"`
	Value string          `json:"value,omitempty"`
}

// HeaderMatch matches a request header (pseudo-headers :method, :authority, :scheme
// included). Invert negates it (withoutHeaders).
type HeaderMatch struct {
	Name   string      `json:"name,omitempty"`
	Match  StringMatch `json:"match,omitempty"`
	Invert bool        `json:"invert,omitempty"`
}

// QueryMatch matches a query parameter.
type QueryMatch struct {
	Name  string      `json:"name,omitempty"`
	Match StringMatch `json:"match,omitempty"`
}

// Forward sends the request to weighted clusters.
type Forward struct {
	// Destinations are weighted clusters. Consistent hashing is not repeated here:
	// generators read it from the destination's DestinationRule.
	Destinations []*Destination `json:"destinations,omitempty"`
}

// Destination is one weighted cluster of a route.
type Destination struct {
	// Cluster is Istio's cluster name outbound|<port>|<subset>|<host>.
	Cluster  string    `json:"cluster,omitempty"`
	Hostname string    `json:"hostname,omitempty"`
	Port     uint32    `json:"port,omitempty"`
	Subset   string    `json:"subset,omitempty"`
	Weight   uint32    `json:"weight,omitempty"`
	Headers  HeaderOps `json:"headers,omitempty"`
}

// Redirect answers with an HTTP redirect.
type Redirect struct {
	// Path replaces the whole path; PrefixRewrite only the matched prefix.
	Path          string `json:"path,omitempty"`
	PrefixRewrite string `json:"prefixRewrite,omitempty"`
	Authority     string `json:"authority,omitempty"`
	Scheme        string `json:"scheme,omitempty"`
	// Port: 0 keeps the request's; DerivePort derives it from the scheme or request.
	Port       uint32 `json:"port,omitempty"`
	DerivePort string `json:"derivePort,omitempty"`
	Code       uint32 `json:"code,omitempty"`
}

// DirectResponse answers with a fixed status and body.
type DirectResponse struct {
	Status uint32 `json:"status,omitempty"`
	Body   []byte `json:"body,omitempty"`
}

// Rewrite changes the request before forwarding.
type Rewrite struct {
	// URI replaces the matched prefix (or the whole path for exact matches).
	URI string `json:"uri,omitempty"`
	// Regex rewrites the path: Match is RE2, Substitution may use \1.
	RegexMatch        string `json:"regexMatch,omitempty"`
	RegexSubstitution string `json:"regexSubstitution,omitempty"`
	Authority         string `json:"authority,omitempty"`
}

// Retry is the route's retry policy (Istio fills its defaults when unset).
type Retry struct {
	Attempts      uint32         `json:"attempts,omitempty"`
	PerTryTimeout *time.Duration `json:"perTryTimeout,omitempty"`
	RetryOn       string         `json:"retryOn,omitempty"`
	// RetriableStatusCodes are HTTP codes listed in retryOn.
	RetriableStatusCodes []uint32       `json:"retriableStatusCodes,omitempty"`
	Backoff              *time.Duration `json:"backoff,omitempty"`
	// RetryRemoteLocalities lets retries go to other localities.
	RetryRemoteLocalities bool `json:"retryRemoteLocalities,omitempty"`
	// AvoidPreviousHosts retries on hosts not already tried (Istio's default).
	AvoidPreviousHosts bool `json:"avoidPreviousHosts,omitempty"`
}

// Fault injects delays and aborts.
type Fault struct {
	Delay *FaultDelay `json:"delay,omitempty"`
	Abort *FaultAbort `json:"abort,omitempty"`
}

// FaultDelay delays a percentage of requests.
type FaultDelay struct {
	Fixed   time.Duration `json:"fixed,omitempty"`
	Percent float64       `json:"percent,omitempty"`
}

// FaultAbort fails a percentage of requests with an HTTP or gRPC status.
type FaultAbort struct {
	HTTPStatus uint32  `json:"httpStatus,omitempty"`
	GRPCStatus uint32  `json:"grpcStatus,omitempty"`
	Percent    float64 `json:"percent,omitempty"`
}

// Mirror copies a percentage of requests to another cluster.
type Mirror struct {
	Cluster string  `json:"cluster,omitempty"`
	Percent float64 `json:"percent,omitempty"`
}

// CORS is the route's CORS policy.
type CORS struct {
	AllowOrigins               []*StringMatch `json:"allowOrigins,omitempty"`
	AllowMethods               []string       `json:"allowMethods,omitempty"`
	AllowHeaders               []string       `json:"allowHeaders,omitempty"`
	ExposeHeaders              []string       `json:"exposeHeaders,omitempty"`
	MaxAge                     *time.Duration `json:"maxAge,omitempty"`
	AllowCredentials           *bool          `json:"allowCredentials,omitempty"`
	UnmatchedPreflightsForward bool           `json:"unmatchedPreflightsForward,omitempty"`
}

// HeaderOps edits request and response headers.
type HeaderOps struct {
	RequestSet     []KeyValue `json:"requestSet,omitempty"`
	RequestAdd     []KeyValue `json:"requestAdd,omitempty"`
	ResponseSet    []KeyValue `json:"responseSet,omitempty"`
	ResponseAdd    []KeyValue `json:"responseAdd,omitempty"`
	RequestRemove  []string   `json:"requestRemove,omitempty"`
	ResponseRemove []string   `json:"responseRemove,omitempty"`
}

// KeyValue is a header and its value.
type KeyValue struct{ Key, Value string }

// IsEmpty reports whether no header is touched.
func (h HeaderOps) IsEmpty() bool {
	return len(h.RequestSet)+len(h.RequestAdd)+len(h.ResponseSet)+len(h.ResponseAdd)+
		len(h.RequestRemove)+len(h.ResponseRemove) == 0
}
