package controllers

import (
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"

	meshv1alpha1 "github.com/meshd-io/meshd/api/meshd/v1alpha1"
	securityv1 "github.com/meshd-io/meshd/api/security/v1"
	typev1beta1 "github.com/meshd-io/meshd/api/type/v1beta1"
	"github.com/meshd-io/meshd/internal/validate"
	"github.com/meshd-io/meshd/internal/xds"
)

// +kubebuilder:rbac:groups=networking.istio.io,resources=virtualservices;destinationrules;sidecars,verbs=get;list;watch
// +kubebuilder:rbac:groups=networking.istio.io,resources=virtualservices/status;destinationrules/status;sidecars/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=security.istio.io,resources=authorizationpolicies;peerauthentications,verbs=get;list;watch
// +kubebuilder:rbac:groups=security.istio.io,resources=authorizationpolicies/status;peerauthentications/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=meshd.io,resources=meshes,verbs=get;list;watch
// +kubebuilder:rbac:groups=meshd.io,resources=meshes/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch

// SetupAll registers every reconciler with the manager. VirtualService,
// DestinationRule and Sidecar status comes from the translation pipeline; the other kinds are
// validated on their own until their translation lands.
func SetupAll(mgr ctrl.Manager, xdsServer *xds.Server) error {
	c, s := mgr.GetClient(), mgr.GetScheme()
	setups := []func() error{
		func() error {
			return (&Pipeline{Client: c, Cache: mgr.GetCache(), Scheme: s, XDS: xdsServer, Elected: mgr.Elected()}).SetupWithManager(mgr)
		},
		func() error { return ensureGatewayClasses(mgr) },
		func() error { return (&credentialRefresher{xds: xdsServer}).setup(mgr) },
		func() error {
			return (&statusReconciler[*securityv1.AuthorizationPolicy]{
				client: c, scheme: s,
				newObj: func() *securityv1.AuthorizationPolicy { return &securityv1.AuthorizationPolicy{} },
				status: func(o *securityv1.AuthorizationPolicy) *typev1beta1.ConfigStatus { return &o.Status },
				validate: func(o *securityv1.AuthorizationPolicy) field.ErrorList {
					return validate.AuthorizationPolicy(&o.Spec)
				},
			}).setup(mgr, "authorizationpolicy")
		},
		func() error {
			return (&statusReconciler[*securityv1.PeerAuthentication]{
				client: c, scheme: s,
				newObj: func() *securityv1.PeerAuthentication { return &securityv1.PeerAuthentication{} },
				status: func(o *securityv1.PeerAuthentication) *typev1beta1.ConfigStatus { return &o.Status },
				validate: func(o *securityv1.PeerAuthentication) field.ErrorList {
					return validate.PeerAuthentication(&o.Spec)
				},
			}).setup(mgr, "peerauthentication")
		},
		func() error {
			return (&statusReconciler[*meshv1alpha1.Mesh]{
				client: c, scheme: s,
				newObj: func() *meshv1alpha1.Mesh { return &meshv1alpha1.Mesh{} },
				status: func(o *meshv1alpha1.Mesh) *typev1beta1.ConfigStatus { return &o.Status },
				validate: func(o *meshv1alpha1.Mesh) field.ErrorList {
					return validate.Mesh(o.Name, &o.Spec)
				},
			}).setup(mgr, "mesh")
		},
	}
	for _, setup := range setups {
		if err := setup(); err != nil {
			return err
		}
	}
	return nil
}
