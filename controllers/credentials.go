package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/controller"

	"github.com/meshd-io/meshd/internal/xds"
)

// Gateway certificates are read one Secret at a time, when a gateway proxy asks for
// one its Gateway uses (internal/manager's reader), never cached.
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get

// credentialRefresher tells the xDS server when a Secret changed, so that gateway
// proxies using it as a certificate get the new one (cert-manager renewals). It
// watches Secrets' metadata only; the server re-reads just the Secrets in use.
type credentialRefresher struct {
	xds *xds.Server
}

func (r *credentialRefresher) setup(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("credentials").
		WithOptions(controller.Options{NeedLeaderElection: ptr.To(false)}).
		For(&corev1.Secret{}, builder.OnlyMetadata).
		Complete(r)
}

func (r *credentialRefresher) Reconcile(_ context.Context, req ctrl.Request) (ctrl.Result, error) {
	r.xds.RefreshCredential(req.Namespace, req.Name)
	return ctrl.Result{}, nil
}
