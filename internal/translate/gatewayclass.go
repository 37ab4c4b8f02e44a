package translate

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/gateway-api/pkg/features"
)

// SupportedFeatures are the Gateway API features meshd's classes claim, sorted by name
// as the specification asks. Each is translated and carried to proxies.
var SupportedFeatures = []features.FeatureName{
	features.SupportGRPCRoute,
	features.SupportGateway,
	features.SupportHTTPRoute,
	features.SupportHTTPRouteBackendRequestHeaderModification,
	features.SupportHTTPRouteBackendTimeout,
	features.SupportHTTPRouteHostRewrite,
	features.SupportHTTPRouteMethodMatching,
	features.SupportHTTPRouteParentRefPort,
	features.SupportHTTPRoutePathRedirect,
	features.SupportHTTPRoutePathRewrite,
	features.SupportHTTPRoutePortRedirect,
	features.SupportHTTPRouteQueryParamMatching,
	features.SupportHTTPRouteRequestMirror,
	features.SupportHTTPRouteRequestTimeout,
	features.SupportHTTPRouteResponseHeaderModification,
	features.SupportHTTPRouteSchemeRedirect,
	features.SupportMesh,
	features.SupportReferenceGrant,
	features.SupportTCPRoute,
	features.SupportTLSRoute,
}

// controllerOf is the controller meshd runs for a class it knows, by the class's
// controllerName; "" for classes of other controllers.
func controllerOf(c *gatewayv1.GatewayClass) gatewayv1.GatewayController {
	switch c.Spec.ControllerName {
	case GatewayController, MeshController:
		return c.Spec.ControllerName
	}
	return ""
}

// gatewayClasses accepts every class naming meshd's controllers. A parametersRef is not
// supported: such a class is refused with InvalidParameters rather than silently
// deployed without its parameters.
func (t *translator) gatewayClasses() {
	for _, c := range t.snap.GatewayAPI.Classes {
		if controllerOf(c) == "" {
			continue
		}
		st := gatewayv1.GatewayClassStatus{}
		accepted := condition(string(gatewayv1.GatewayClassConditionStatusAccepted), true, gatewayv1.GatewayClassReasonAccepted,
			c.Generation, "handled by meshd")
		if c.Spec.ParametersRef != nil {
			accepted = condition(string(gatewayv1.GatewayClassConditionStatusAccepted), false, gatewayv1.GatewayClassReasonInvalidParameters,
				c.Generation, "spec.parametersRef: meshd takes no GatewayClass parameters; configure proxies in the Mesh resource")
		} else {
			for _, f := range SupportedFeatures {
				st.SupportedFeatures = append(st.SupportedFeatures, gatewayv1.SupportedFeature{Name: gatewayv1.FeatureName(f)})
			}
		}
		st.Conditions = []metav1.Condition{accepted}
		t.report.GatewayAPI.Classes[c.Name] = st
	}
}

// classOf returns the class a Gateway names when meshd controls it.
func (t *translator) classOf(gw *gatewayv1.Gateway) (*gatewayv1.GatewayClass, bool) {
	for _, c := range t.snap.GatewayAPI.Classes {
		if c.Name == string(gw.Spec.GatewayClassName) {
			st := t.report.GatewayAPI.Classes[c.Name]
			ok := controllerOf(c) != "" && len(st.Conditions) > 0 && st.Conditions[0].Status == metav1.ConditionTrue
			return c, ok
		}
	}
	return nil, false
}
