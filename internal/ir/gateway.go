package ir

// Gateway is one Gateway API Gateway meshd deploys and programs: what its proxies
// (pods labelled with the Gateway's name in its namespace) listen on and route.
type Gateway struct {
	Name      string `json:"name,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	// Class is the GatewayClass: istio (ingress) or istio-waypoint.
	Class string         `json:"class,omitempty"`
	Ports []*GatewayPort `json:"ports,omitempty"`
	// Addresses are the Gateway's addresses (its Service's cluster IPs or load
	// balancer ingress); ztunnel tunnels to a waypoint at these.
	Addresses []string `json:"addresses,omitempty"`
	// WaypointFor is, for a waypoint, the traffic it handles (istio.io/waypoint-for):
	// service (the default), workload, all or none.
	WaypointFor string `json:"waypointFor,omitempty"`
}

// GatewayPort is everything a Gateway serves on one port, from its listeners that
// are accepted and not conflicted.
type GatewayPort struct {
	Number uint32 `json:"number,omitempty"`
	// Protocol is the listeners' protocol: HTTP, HTTPS, TLS or TCP.
	Protocol string `json:"protocol,omitempty"`
	// Servers are the port's listeners, most specific hostname first: each is an SNI
	// filter chain on TLS ports.
	Servers []*GatewayServer `json:"servers,omitempty"`
}

// GatewayServer is one listener.
type GatewayServer struct {
	Listener string `json:"listener,omitempty"`
	// Hostname the listener answers to; empty for any.
	Hostname string `json:"hostname,omitempty"`
	// TLS is set for HTTPS and TLS listeners.
	TLS *GatewayTLS `json:"tls,omitempty"`
	// VirtualHosts (HTTP and HTTPS): one per hostname routes attach with, in
	// specificity order.
	VirtualHosts []*VirtualHost `json:"virtualHosts,omitempty"`
	// L4Routes (TCP, and TLS listeners): TLSRoutes by SNI, or one TCPRoute.
	L4Routes []*GatewayL4Route `json:"l4Routes,omitempty"`
}

// GatewayTLS is a listener's TLS mode and certificates.
type GatewayTLS struct {
	// Passthrough forwards the TLS stream untouched; otherwise TLS ends at the gateway.
	Passthrough bool `json:"passthrough,omitempty"`
	// Certificates are SDS names of the certificate Secrets, kubernetes://<ns>/<name>
	// as Istio names them.
	Certificates []string `json:"certificates,omitempty"`
}

// VirtualHost is a set of hostnames and their routes in match-precedence order.
type VirtualHost struct {
	// Hostname is the route hostname (after intersection with the listener's); "*"
	// for any.
	Hostname string   `json:"hostname,omitempty"`
	Routes   []*Route `json:"routes,omitempty"`
}

// GatewayL4Route forwards a TCP or TLS stream.
type GatewayL4Route struct {
	Source ConfigRef `json:"source,omitempty"`
	// SNIHosts match TLSRoutes' hostnames; empty matches any.
	SNIHosts     []string       `json:"sniHosts,omitempty"`
	Destinations []*Destination `json:"destinations,omitempty"`
}

// Values of istio.io/waypoint-for: what traffic a waypoint takes.

// WaypointForServices reports whether a waypoint takes traffic addressed to services.
func WaypointForServices(waypointFor string) bool {
	return waypointFor == "service" || waypointFor == "all"
}

// WaypointForWorkloads reports whether a waypoint takes traffic addressed to pods.
func WaypointForWorkloads(waypointFor string) bool {
	return waypointFor == "workload" || waypointFor == "all"
}

// GatewayClassOf is the class of the Gateway ns/name, or "".
func (in *IR) GatewayClassOf(ns, name string) string {
	for _, g := range in.Gateways {
		if g.Namespace == ns && g.Name == name {
			return g.Class
		}
	}
	return ""
}
