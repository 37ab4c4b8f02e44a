package controllers

import (
	"context"
	"errors"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshd-io/meshd/internal/translate"
)

// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=gatewayclasses,verbs=create

// defaultGatewayClasses are the classes istiod creates, so that Gateways written for
// Istio find their class.
var defaultGatewayClasses = []*gatewayv1.GatewayClass{
	{
		ObjectMeta: metav1.ObjectMeta{Name: translate.ClassIstio},
		Spec: gatewayv1.GatewayClassSpec{ControllerName: translate.GatewayController,
			Description: ptrTo("Envoy ingress gateways, deployed and programmed by meshd")},
	},
	{
		ObjectMeta: metav1.ObjectMeta{Name: translate.ClassWaypoint},
		Spec: gatewayv1.GatewayClassSpec{ControllerName: translate.MeshController,
			Description: ptrTo("Ambient waypoints, deployed and programmed by meshd")},
	},
}

// ensureGatewayClasses creates the default classes where they are missing, once the
// replica leads. Existing classes are left as users changed them.
func ensureGatewayClasses(mgr ctrl.Manager) error {
	c := mgr.GetClient()
	return mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		var errs []error
		for _, gc := range defaultGatewayClasses {
			err := c.Create(ctx, gc.DeepCopy())
			if err != nil && !apierrors.IsAlreadyExists(err) {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			ctrl.Log.WithName("gatewayclasses").Error(err, "creating the default GatewayClasses")
		}
		return nil // Gateway API may simply not be installed; meshd runs on without it
	}))
}

func ptrTo[T any](v T) *T { return &v }
