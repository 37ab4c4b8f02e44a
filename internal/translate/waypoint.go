package translate

import (
	"slices"
	"strings"

	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/model"
)

// Ambient waypoints: a Service opts into one with istio.io/use-waypoint (the
// waypoint's name; istio.io/use-waypoint-namespace when it lives elsewhere), on the
// Service or, failing that, on its namespace. "none" on the Service opts out of its
// namespace's waypoint. The waypoint must be an istio-waypoint Gateway that handles
// service traffic (istio.io/waypoint-for service or all; service when unset).

// waypointFor is what a waypoint Gateway handles, with Istio's default.
func waypointFor(labels map[string]string) string {
	if v := labels[model.LabelWaypointFor]; v != "" {
		return v
	}
	return "service"
}

// waypointOf is the waypoint that serves svc, or nil.
func (t *translator) waypointOf(svc *model.Service) *ir.WaypointRef {
	return WaypointOf(svc, t.snap.GatewayAPI.NamespaceLabels[svc.Namespace], t.snap.GatewayAPI.Gateways)
}

// WaypointOf is the waypoint among gateways that serves svc, whose namespace has
// namespaceLabels; nil when none does.
func WaypointOf(svc *model.Service, namespaceLabels map[string]string, gateways []*gatewayv1.Gateway) *ir.WaypointRef {
	name, ns, ok := model.UseWaypoint(svc.UseWaypoint, svc.UseWaypointNamespace, svc.Namespace, namespaceLabels)
	if !ok {
		return nil
	}
	for _, gw := range gateways {
		// A waypoint's own Service (named as its Gateway) never goes through a waypoint.
		if gw.Namespace == svc.Namespace && gw.Name == svc.Name && string(gw.Spec.GatewayClassName) == ClassWaypoint {
			return nil
		}
	}
	for _, gw := range gateways {
		if gw.Namespace == ns && gw.Name == name && string(gw.Spec.GatewayClassName) == ClassWaypoint && gw.DeletionTimestamp == nil {
			if !ir.WaypointForServices(waypointFor(gw.Labels)) {
				return nil
			}
			return &ir.WaypointRef{Namespace: ns, Name: name}
		}
	}
	return nil
}

// waypointInputs is what every service's waypoint depends on besides the Service
// itself: namespaces' use-waypoint labels and the waypoint Gateways. A restricted
// translation carries services over only while it is unchanged.
func waypointInputs(snap *model.Snapshot) string {
	var b strings.Builder
	namespaces := make([]string, 0, len(snap.GatewayAPI.NamespaceLabels))
	for ns, labels := range snap.GatewayAPI.NamespaceLabels {
		if labels[model.LabelUseWaypoint] != "" {
			namespaces = append(namespaces, ns)
		}
	}
	slices.Sort(namespaces)
	for _, ns := range namespaces {
		labels := snap.GatewayAPI.NamespaceLabels[ns]
		b.WriteString(ns + "=" + labels[model.LabelUseWaypoint] + "/" + labels[model.LabelUseWaypointNamespace] + ";")
	}
	for _, gw := range snap.GatewayAPI.Gateways {
		if string(gw.Spec.GatewayClassName) == ClassWaypoint {
			b.WriteString(gw.Namespace + "/" + gw.Name + "=" + waypointFor(gw.Labels))
			if gw.DeletionTimestamp != nil {
				b.WriteString("-deleting")
			}
			b.WriteString(";")
		}
	}
	return b.String()
}
