package xds

import (
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/meshd-io/meshd/internal/model"
)

// Proxy classes meshd generates for.
const (
	ClassGRPC    = "grpc"
	ClassSidecar = "sidecar"
	// ClassGateway is a Gateway API gateway's Envoy (Istio's "router" node type), and
	// a waypoint's (Istio's "waypoint" node type): both get their Gateway's config.
	ClassGateway = "router"
	// nodeWaypoint is the node type of waypoint proxies ("proxy waypoint").
	nodeWaypoint = "waypoint"
	// ClassZtunnel is ztunnel, Istio's ambient node proxy (node id "ztunnel~..."): it
	// gets workload discovery (addresses and L4 authorization), one scope for all.
	ClassZtunnel = "ztunnel"
)

// Labels naming the Gateway a gateway proxy belongs to: Gateway API's, and Istio's
// older one.
var gatewayNameLabels = []string{"gateway.networking.k8s.io/gateway-name", "istio.io/gateway-name"}

// nodeInfo is what meshd reads from an xDS node: its class, namespace, workload labels
// and locality.
type nodeInfo struct {
	Class     string
	Namespace string
	// Gateway is the Gateway a gateway proxy serves, from its labels.
	Gateway  string
	Labels   map[string]string
	Locality model.Locality
}

// parseNode reads Istio's node conventions: metadata GENERATOR=grpc marks a proxyless
// client; the namespace comes from metadata NAMESPACE, else from the node ID
// sidecar~<ip>~<pod>.<ns>~<ns>.svc.<domain>; the pod's labels from metadata LABELS (a
// struct of strings, as Istio's agent sends it).
func parseNode(n *corev3.Node) nodeInfo {
	info := nodeInfo{Class: ClassSidecar}
	if n == nil {
		return info
	}
	if l := n.GetLocality(); l != nil {
		info.Locality = model.Locality{Region: l.GetRegion(), Zone: l.GetZone(), Subzone: l.GetSubZone()}
	}
	if md := n.GetMetadata().GetFields(); md != nil {
		if md["GENERATOR"].GetStringValue() == "grpc" {
			info.Class = ClassGRPC
		}
		info.Namespace = md["NAMESPACE"].GetStringValue()
		if labels := md["LABELS"].GetStructValue().GetFields(); len(labels) > 0 {
			info.Labels = make(map[string]string, len(labels))
			for k, v := range labels {
				info.Labels[k] = v.GetStringValue()
			}
		}
	}
	if strings.HasPrefix(n.GetId(), ClassGateway+"~") || strings.HasPrefix(n.GetId(), nodeWaypoint+"~") {
		info.Class = ClassGateway
		for _, l := range gatewayNameLabels {
			if info.Gateway == "" {
				info.Gateway = info.Labels[l]
			}
		}
	}
	if strings.HasPrefix(n.GetId(), ClassZtunnel+"~") {
		info.Class = ClassZtunnel
	}
	if info.Namespace == "" {
		parts := strings.Split(n.GetId(), "~")
		if len(parts) == 4 {
			if _, ns, ok := strings.Cut(parts[2], "."); ok {
				info.Namespace = ns
			} else if ns, _, ok := strings.Cut(parts[3], "."); ok {
				info.Namespace = ns
			}
		}
	}
	if info.Namespace == "" {
		info.Namespace = "default"
	}
	return info
}
