package translate

import (
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshd-io/meshd/dataplane/gateway"
	"github.com/meshd-io/meshd/internal/ir"
)

// Istio's Gateway API names, so Gateways written for Istio work unchanged.
const (
	// ClassIstio is the ingress GatewayClass; ClassWaypoint the ambient waypoint's.
	ClassIstio    = gateway.ClassIstio
	ClassWaypoint = gateway.ClassWaypoint
	// GatewayController and MeshController are the controllerNames of those classes;
	// route parent status for Gateways carries the first, for Services (GAMMA) the
	// second.
	GatewayController gatewayv1.GatewayController = "istio.io/gateway-controller"
	MeshController    gatewayv1.GatewayController = "istio.io/mesh-controller"
)

// Gateway API kinds and groups.
const (
	gatewayGroup = gatewayv1.GroupName
	coreGroup    = ""
	kindGateway  = "Gateway"
	kindService  = "Service"
	kindSecret   = "Secret"
	kindHTTP     = "HTTPRoute"
	kindGRPC     = "GRPCRoute"
	kindTCP      = "TCPRoute"
	kindTLS      = "TLSRoute"
)

// GatewayAPIStatus is the status translation derived for the Gateway API objects meshd
// controls. Conditions carry no transition times: the status writer keeps the stored
// ones when a condition's status did not change.
type GatewayAPIStatus struct {
	// Classes by name.
	Classes map[string]gatewayv1.GatewayClassStatus
	// Gateways by "namespace/name".
	Gateways map[string]gatewayv1.GatewayStatus
	// Routes by kind and "namespace/name": meshd's entries of status.parents, one per
	// parentRef meshd controls. Entries of other controllers are not meshd's to write.
	Routes map[RouteKey][]gatewayv1.RouteParentStatus
}

// RouteKey names a route of any kind.
type RouteKey struct {
	Kind, Namespace, Name string
}

func (k RouteKey) String() string { return k.Kind + "/" + k.Namespace + "/" + k.Name }

func newGatewayAPIStatus() *GatewayAPIStatus {
	return &GatewayAPIStatus{Classes: map[string]gatewayv1.GatewayClassStatus{},
		Gateways: map[string]gatewayv1.GatewayStatus{}, Routes: map[RouteKey][]gatewayv1.RouteParentStatus{}}
}

// gatewayAPI translates the Gateway API objects: classes, then Gateways and their
// listeners, then routes attaching to listeners (ingress) or to Services (GAMMA,
// which join the services' route tables), then listener route counts.
func (t *translator) gatewayAPI(out *ir.IR) {
	t.gatewayClasses()
	gws := t.gateways()
	t.attachRoutes(gws)
	for _, g := range gws {
		t.report.GatewayAPI.Gateways[g.key] = g.status()
		if g.programmable() {
			out.Gateways = append(out.Gateways, g.ir())
		}
	}
}

// condition builds a condition for status (no transition time).
func condition[T ~string](typ string, ok bool, reason T, generation int64, msg string) metav1.Condition {
	st := metav1.ConditionFalse
	if ok {
		st = metav1.ConditionTrue
	}
	return metav1.Condition{Type: typ, Status: st, Reason: string(reason), ObservedGeneration: generation, Message: msg}
}

// referenceAllowed applies ReferenceGrants: a reference from an object of fromKind in
// fromNS to a toKind object named toName in toNS is allowed within one namespace, or
// when a ReferenceGrant in toNS lists the source and the target.
func (t *translator) referenceAllowed(fromGroup, fromKind, fromNS, toGroup, toKind, toNS, toName string) bool {
	if fromNS == toNS {
		return true
	}
	for _, g := range t.snap.GatewayAPI.ReferenceGrants {
		if g.Namespace != toNS {
			continue
		}
		from := slices.ContainsFunc(g.Spec.From, func(f gatewayv1.ReferenceGrantFrom) bool {
			return string(f.Group) == fromGroup && string(f.Kind) == fromKind && string(f.Namespace) == fromNS
		})
		to := slices.ContainsFunc(g.Spec.To, func(r gatewayv1.ReferenceGrantTo) bool {
			return string(r.Group) == toGroup && string(r.Kind) == toKind && (r.Name == nil || *r.Name == "" || string(*r.Name) == toName)
		})
		if from && to {
			return true
		}
	}
	return false
}

// refTarget reads a reference's group, kind and namespace, with the defaults the
// referring field has.
func refTarget[G, K, N ~string](group *G, kind *K, ns *N, defGroup, defKind, defNS string) (string, string, string) {
	if group != nil {
		defGroup = string(*group)
	}
	if kind != nil {
		defKind = string(*kind)
	}
	if ns != nil {
		defNS = string(*ns)
	}
	return defGroup, defKind, defNS
}

// parentStatus is meshd's entry for one parentRef: Accepted as given, and the route's
// ResolvedRefs.
func parentStatus(r *routeInput, ref gatewayv1.ParentReference, controller gatewayv1.GatewayController,
	ok bool, reason gatewayv1.RouteConditionReason, msg string) *gatewayv1.RouteParentStatus {
	return &gatewayv1.RouteParentStatus{ParentRef: ref, ControllerName: controller, Conditions: []metav1.Condition{
		condition(string(gatewayv1.RouteConditionAccepted), ok, reason, r.generation, msg),
		r.resolvedRefs(),
	}}
}
