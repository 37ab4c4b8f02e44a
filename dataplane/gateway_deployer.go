package dataplane

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	meshv1alpha1 "github.com/meshd-io/meshd/api/meshd/v1alpha1"
	"github.com/meshd-io/meshd/dataplane/apply"
	"github.com/meshd-io/meshd/dataplane/gateway"
)

// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=gateways,verbs=get;list;watch
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=gateways/finalizers,verbs=update
// +kubebuilder:rbac:groups=meshd.io,resources=meshes,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=services;serviceaccounts,verbs=get;list;watch;create;update;patch;delete

// gatewayKinds are what a Gateway's proxy is made of.
var gatewayKinds = []schema.GroupVersionKind{
	appsv1.SchemeGroupVersion.WithKind("Deployment"),
	corev1.SchemeGroupVersion.WithKind("Service"),
	corev1.SchemeGroupVersion.WithKind("ServiceAccount"),
}

// GatewayDeployer deploys the proxy of each Gateway of class istio or istio-waypoint (a
// ServiceAccount, Deployment and Service owned by the Gateway, so deleting the Gateway
// deletes them) and keeps it as rendered: an edited or deleted object is put back.
// Gateways of other classes get nothing, and lose what they had if they change class.
// The proxy image and log level come from the Mesh named default.
type GatewayDeployer struct {
	// Client reads Gateways and the Mesh and writes the proxies: the manager's.
	Client client.Client
	// DiscoveryAddress is where proxies dial meshd for xDS and certificates
	// (gateway.DefaultDiscoveryAddress when empty).
	DiscoveryAddress string
	// ClusterDomain is the cluster's DNS suffix (gateway.DefaultClusterDomain when empty).
	ClusterDomain string
}

// SetupWithManager registers the deployer. The objects it owns are watched as metadata
// only: any change to one wakes its Gateway, and the apply that follows is a no-op when
// nothing meshd manages changed.
func (d *GatewayDeployer) SetupWithManager(mgr ctrl.Manager) error {
	// Status writes (the translator's) change neither generation nor metadata.
	changed := predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}, predicate.AnnotationChangedPredicate{})
	return ctrl.NewControllerManagedBy(mgr).
		Named("gateway-deployer").
		For(&gatewayv1.Gateway{}, builder.WithPredicates(changed)).
		Owns(&appsv1.Deployment{}, builder.OnlyMetadata).
		Owns(&corev1.Service{}, builder.OnlyMetadata).
		Owns(&corev1.ServiceAccount{}, builder.OnlyMetadata).
		// The Mesh's proxy image and log level go into every proxy.
		Watches(&meshv1alpha1.Mesh{}, handler.EnqueueRequestsFromMapFunc(d.deployedGateways),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(d)
}

// deployedGateways are the Gateways of the classes meshd deploys.
func (d *GatewayDeployer) deployedGateways(ctx context.Context, _ client.Object) []reconcile.Request {
	var list gatewayv1.GatewayList
	if err := d.Client.List(ctx, &list); err != nil {
		log.FromContext(ctx).Error(err, "list Gateways for a Mesh change")
		return nil
	}
	var out []reconcile.Request
	for _, gw := range list.Items {
		if gateway.Managed(gw.Spec.GatewayClassName) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&gw)})
		}
	}
	return out
}

// Reconcile renders and applies one Gateway's proxy, then deletes what the Gateway
// owned but no longer renders (after a change of class, which renames the objects, or
// to a class meshd does not deploy). A Gateway that cannot be rendered keeps what it
// has and is not retried until it changes.
func (d *GatewayDeployer) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	gw := &gatewayv1.Gateway{}
	if err := d.Client.Get(ctx, req.NamespacedName, gw); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		// Deleted. The garbage collector removes what it owned; meshd does too, for
		// API servers that run none (envtest, a bare control plane), and a proxy must
		// not outlive its Gateway.
		return ctrl.Result{}, apply.Prune(ctx, d.Client, apply.Selector{
			Kinds: gatewayKinds, Namespace: req.Namespace, Labels: map[string]string{gateway.LabelGatewayName: req.Name},
			ControllerKind: "Gateway", ControllerName: req.Name,
		})
	}
	if !gw.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	owned := apply.Selector{
		Kinds:        gatewayKinds,
		Namespace:    gw.Namespace,
		Labels:       map[string]string{gateway.LabelGatewayName: gw.Name},
		ControlledBy: gw.UID,
	}
	if !gateway.Managed(gw.Spec.GatewayClassName) {
		return ctrl.Result{}, apply.Prune(ctx, d.Client, owned)
	}
	mesh, err := meshSpec(ctx, d.Client)
	if err != nil {
		return ctrl.Result{}, err
	}
	objs, err := gateway.Render(gateway.Input{
		Gateway:          gw,
		Proxy:            mesh.Proxy,
		DiscoveryAddress: d.DiscoveryAddress,
		ClusterDomain:    d.ClusterDomain,
		TrustDomain:      mesh.TrustDomain,
	})
	if err != nil {
		return ctrl.Result{}, reconcile.TerminalError(err)
	}
	if err := apply.Apply(ctx, d.Client, FieldOwner, objs...); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, apply.Prune(ctx, d.Client, owned, objs...)
}
