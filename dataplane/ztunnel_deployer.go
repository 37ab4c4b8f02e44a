package dataplane

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	meshv1alpha1 "github.com/meshd-io/meshd/api/meshd/v1alpha1"
	"github.com/meshd-io/meshd/dataplane/apply"
	"github.com/meshd-io/meshd/dataplane/gateway"
	"github.com/meshd-io/meshd/dataplane/ztunnel"
)

// +kubebuilder:rbac:groups=meshd.io,resources=meshes,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=daemonsets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get;list;watch;create;update;patch;delete

// DefaultZtunnelNamespace is where ztunnel runs unless told otherwise: Istio's.
const DefaultZtunnelNamespace = "istio-system"

// ztunnelKinds are what ztunnel is made of.
var ztunnelKinds = []schema.GroupVersionKind{
	appsv1.SchemeGroupVersion.WithKind("DaemonSet"),
	corev1.SchemeGroupVersion.WithKind("ServiceAccount"),
}

// meshKey is the only Mesh meshd reads.
var meshKey = reconcile.Request{NamespacedName: client.ObjectKey{Name: meshv1alpha1.MeshName}}

// ZtunnelDeployer runs ztunnel while the Mesh's ztunnel.enabled is true and removes it
// (from any namespace) once it is false or the Mesh is gone; an edited or deleted
// ztunnel object is put back.
type ZtunnelDeployer struct {
	// Client reads the Mesh and writes ztunnel: the manager's.
	Client client.Client
	// Namespace ztunnel runs in (DefaultZtunnelNamespace when empty); it must exist.
	Namespace string
	// DiscoveryAddress is where ztunnel dials meshd for xDS and certificates
	// (gateway.DefaultDiscoveryAddress when empty).
	DiscoveryAddress string
}

// SetupWithManager registers the deployer. ztunnel's own objects are watched as
// metadata only, so that an edit or deletion (or one left from an earlier run) wakes it.
func (d *ZtunnelDeployer) SetupWithManager(mgr ctrl.Manager) error {
	toMesh := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{meshKey}
	})
	ours := builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
		return labels.SelectorFromSet(ztunnel.Labels).Matches(labels.Set(o.GetLabels()))
	}))
	return ctrl.NewControllerManagedBy(mgr).
		Named("ztunnel-deployer").
		For(&meshv1alpha1.Mesh{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WatchesMetadata(&appsv1.DaemonSet{}, toMesh, ours).
		WatchesMetadata(&corev1.ServiceAccount{}, toMesh, ours).
		Complete(d)
}

// Reconcile applies ztunnel as the Mesh asks, then deletes the ztunnel objects it no
// longer renders.
func (d *ZtunnelDeployer) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if req.Name != meshv1alpha1.MeshName {
		return ctrl.Result{}, nil
	}
	mesh, err := meshSpec(ctx, d.Client)
	if err != nil {
		return ctrl.Result{}, err
	}
	ns := d.Namespace
	if ns == "" {
		ns = DefaultZtunnelNamespace
	}
	addr := d.DiscoveryAddress
	if addr == "" {
		addr = gateway.DefaultDiscoveryAddress
	}
	objs := ztunnel.Render(mesh, ns, addr)
	if err := apply.Apply(ctx, d.Client, FieldOwner, objs...); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, apply.Prune(ctx, d.Client, apply.Selector{Kinds: ztunnelKinds, Labels: ztunnel.Labels}, objs...)
}
