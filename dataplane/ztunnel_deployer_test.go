package dataplane

import (
	"context"
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1alpha1 "github.com/meshd-io/meshd/api/meshd/v1alpha1"
)

func TestZtunnelDeployer(t *testing.T) {
	ns := ""
	c := startManager(t, func(mgr ctrl.Manager) error {
		// The namespace must exist before ztunnel is applied into it; the client
		// writes straight to the API server before the manager starts.
		direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme()})
		if err != nil {
			return err
		}
		ns = newNamespace(t, direct)
		return (&ZtunnelDeployer{Client: mgr.GetClient(), Namespace: ns}).SetupWithManager(mgr)
	})
	ctx := context.Background()
	key := client.ObjectKey{Namespace: ns, Name: "ztunnel"}

	// Off by default: nothing.
	if err := c.Get(ctx, key, &appsv1.DaemonSet{}); !apierrors.IsNotFound(err) {
		t.Fatalf("ztunnel before the Mesh turned it on: %v", err)
	}

	// On: the DaemonSet and its ServiceAccount, with the Mesh's image.
	spec := meshv1alpha1.MeshSpec{Ztunnel: meshv1alpha1.MeshZtunnel{Enabled: true, Image: "example.com/istio/ztunnel:next"}}
	setMesh(t, c, spec)
	ds := &appsv1.DaemonSet{}
	eventually(t, func() error {
		if err := c.Get(ctx, key, &corev1.ServiceAccount{}); err != nil {
			return err
		}
		if err := c.Get(ctx, key, ds); err != nil {
			return err
		}
		if img := ds.Spec.Template.Spec.Containers[0].Image; img != spec.Ztunnel.Image {
			return fmt.Errorf("image %s, want %s", img, spec.Ztunnel.Image)
		}
		return nil
	})

	// Deleted by hand: created again.
	recreated(t, c, ds)

	// Off again: removed.
	spec.Ztunnel.Enabled = false
	setMesh(t, c, spec)
	gone(t, c, key, &appsv1.DaemonSet{}, &corev1.ServiceAccount{})
}
