package ca

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;patch

// RootCertConfigMap is the ConfigMap Istio's injector mounts into every proxy (and
// ztunnel reads) for the mesh's roots, under RootCertKey.
const RootCertConfigMap = "istio-ca-root-cert"

// rootCertFieldOwner is the server-side-apply manager of the ConfigMap's fields.
const rootCertFieldOwner = "meshd-ca"

// ignoredNamespaces never run meshed pods, as in istiod; kube-system is kept because
// ztunnel may be deployed there.
var ignoredNamespaces = map[string]bool{
	"kube-public":        true,
	"kube-node-lease":    true,
	"local-path-storage": true,
}

// RootCertPublisher keeps the istio-ca-root-cert ConfigMap, holding RootPEM, in every
// active namespace: it is created with each namespace and restored whenever someone
// edits or deletes it.
type RootCertPublisher struct {
	Client  client.Client
	RootPEM func() []byte
}

// SetupWithManager registers the publisher. Requests are namespace names.
func (r *RootCertPublisher) SetupWithManager(mgr ctrl.Manager) error {
	toNamespace := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: o.GetNamespace()}}}
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("rootcert").
		For(&corev1.Namespace{}).
		// Metadata only: the watch exists to notice edits and deletions, and a full
		// ConfigMap informer would cache every ConfigMap of the cluster.
		Watches(&corev1.ConfigMap{}, toNamespace, builder.OnlyMetadata,
			builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
				return o.GetName() == RootCertConfigMap
			}))).
		Complete(r)
}

// Reconcile applies the ConfigMap to one namespace. Applying an unchanged ConfigMap
// is a no-op on the server (no new resourceVersion, so no new event).
func (r *RootCertPublisher) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if ignoredNamespaces[req.Name] {
		return ctrl.Result{}, nil
	}
	ns := &corev1.Namespace{}
	if err := r.Client.Get(ctx, client.ObjectKey{Name: req.Name}, ns); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !ns.DeletionTimestamp.IsZero() || ns.Status.Phase == corev1.NamespaceTerminating {
		return ctrl.Result{}, nil
	}
	root := r.RootPEM()
	if len(root) == 0 {
		return ctrl.Result{}, errors.New("no root certificate to publish")
	}
	cm := corev1ac.ConfigMap(RootCertConfigMap, ns.Name).
		// istiod's label on the ConfigMap, which Istio tooling selects on.
		WithLabels(map[string]string{"istio.io/config": "true"}).
		WithData(map[string]string{RootCertKey: string(root)})
	err := r.Client.Apply(ctx, cm, client.FieldOwner(rootCertFieldOwner), client.ForceOwnership)
	if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		// The namespace began terminating after we read it.
		return ctrl.Result{}, nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	log.FromContext(ctx).V(1).Info("root certificate published", "namespace", ns.Name)
	return ctrl.Result{}, nil
}
