package model

import (
	corev1 "k8s.io/api/core/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// GatewayAPI holds the Gateway API objects of a snapshot, each kind oldest first (the
// order the specification resolves conflicts in), and what they refer to outside the
// Gateway API.
type GatewayAPI struct {
	Classes         []*gatewayv1.GatewayClass
	Gateways        []*gatewayv1.Gateway
	HTTPRoutes      []*gatewayv1.HTTPRoute
	GRPCRoutes      []*gatewayv1.GRPCRoute
	TCPRoutes       []*gatewayv1.TCPRoute
	TLSRoutes       []*gatewayv1.TLSRoute
	ReferenceGrants []*gatewayv1.ReferenceGrant
	// NamespaceLabels are every namespace's labels, for listeners' allowedRoutes
	// namespace selectors.
	NamespaceLabels map[string]map[string]string
	// Secrets are the names ("namespace/name") of the Secrets that exist, for
	// listeners' certificateRefs. Only names: meshd never caches Secret contents.
	Secrets map[string]bool
	// ProxyServices are the Services meshd deployed for Gateways, by "namespace/name":
	// their addresses are the Gateways'.
	ProxyServices map[string]*corev1.Service
}

// sorted returns g with each kind ordered oldest first.
func (g GatewayAPI) sorted() GatewayAPI {
	g.Classes = OldestFirst(g.Classes)
	g.Gateways = OldestFirst(g.Gateways)
	g.HTTPRoutes = OldestFirst(g.HTTPRoutes)
	g.GRPCRoutes = OldestFirst(g.GRPCRoutes)
	g.TCPRoutes = OldestFirst(g.TCPRoutes)
	g.TLSRoutes = OldestFirst(g.TLSRoutes)
	g.ReferenceGrants = OldestFirst(g.ReferenceGrants)
	return g
}
