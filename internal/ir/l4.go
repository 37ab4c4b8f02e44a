package ir

// L4Table holds one VirtualService's tcp and tls routes for a non-HTTP service port.
// As with HTTP, a client uses the first table visible to its namespace.
type L4Table struct {
	Source   ConfigRef  `json:"source,omitempty"`
	ExportTo Visibility `json:"exportTo,omitempty"`
	// TLS routes match on SNI; they apply to TLS and HTTPS ports and come first.
	TLS []*L4Route `json:"tls,omitempty"`
	// TCP routes match on connection properties only.
	TCP []*L4Route `json:"tcp,omitempty"`
}

// L4Route forwards connections that satisfy any of its matches (all when it has none)
// to weighted destinations.
type L4Route struct {
	Matches      []*L4Match     `json:"matches,omitempty"`
	Destinations []*Destination `json:"destinations,omitempty"`
}

// L4Match is one set of ANDed connection conditions.
type L4Match struct {
	// SNIHosts are server names (a leading "*." is a wildcard); only for tls routes.
	SNIHosts []string `json:"sniHosts,omitempty"`
	// DestinationSubnets are CIDRs (or addresses) the connection is addressed to.
	DestinationSubnets []string `json:"destinationSubnets,omitempty"`
	// SourceLabels and SourceNamespace select clients, as for HTTP matches.
	SourceLabels    map[string]string `json:"sourceLabels,omitempty"`
	SourceNamespace string            `json:"sourceNamespace,omitempty"`
}
