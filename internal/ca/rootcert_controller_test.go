package ca

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/meshd-io/meshd/internal/testutil"
)

func TestRootCertPublisher(t *testing.T) {
	c, _ := newClients(t)
	cfg := apiServer(t)
	a, err := LoadOrCreate(context.Background(), c, newNamespace(t, c), Options{})
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 clientgoscheme.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		t.Fatal(err)
	}
	pub := &RootCertPublisher{Client: mgr.GetClient(), RootPEM: a.RootPEM}
	if err := pub.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})

	root := string(a.RootPEM())
	published := func(ns string) func() error {
		return func() error {
			cm := &corev1.ConfigMap{}
			if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: RootCertConfigMap}, cm); err != nil {
				return err
			}
			if cm.Data[RootCertKey] != root {
				return fmt.Errorf("%s/%s holds %q, not the root", ns, RootCertConfigMap, cm.Data[RootCertKey])
			}
			if cm.Labels["istio.io/config"] != "true" {
				return fmt.Errorf("labels %v lack istio.io/config", cm.Labels)
			}
			return nil
		}
	}

	// Namespaces that existed before the manager started, and one created after.
	testutil.Eventually(t, 10*time.Second, published("default"))
	testutil.Eventually(t, 10*time.Second, published("kube-system"))
	ns := newNamespace(t, c)
	testutil.Eventually(t, 10*time.Second, published(ns))

	// Deleted: restored.
	cm := &corev1.ConfigMap{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: RootCertConfigMap}, cm); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, cm); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		again := &corev1.ConfigMap{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(cm), again); err != nil {
			return err
		}
		if again.UID == cm.UID {
			return errors.New("not deleted yet")
		}
		return published(ns)()
	})

	// Edited: restored.
	if err := c.Get(ctx, client.ObjectKeyFromObject(cm), cm); err != nil {
		t.Fatal(err)
	}
	cm.Data[RootCertKey] = "tampered"
	if err := c.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, published(ns))

	// Namespaces Istio never meshes get nothing.
	if _, err := pub.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Name: "kube-public"}}); err != nil {
		t.Fatal(err)
	}
	err = c.Get(ctx, types.NamespacedName{Namespace: "kube-public", Name: RootCertConfigMap}, &corev1.ConfigMap{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("kube-public: %v, want NotFound", err)
	}

	// A terminating namespace is left alone (envtest runs no namespace controller, so
	// a deleted namespace stays Terminating).
	doomed := newNamespace(t, c)
	testutil.Eventually(t, 10*time.Second, published(doomed))
	if err := c.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: doomed}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: RootCertConfigMap, Namespace: doomed}}); err != nil {
		t.Fatal(err)
	}
	direct := &RootCertPublisher{Client: c, RootPEM: a.RootPEM}
	if _, err := direct.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Name: doomed}}); err != nil {
		t.Fatalf("terminating namespace: %v", err)
	}
	err = c.Get(ctx, types.NamespacedName{Namespace: doomed, Name: RootCertConfigMap}, &corev1.ConfigMap{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("terminating namespace: %v, want NotFound", err)
	}
	// A namespace that does not exist is not an error either.
	if _, err := direct.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Name: "no-such-namespace"}}); err != nil {
		t.Fatalf("missing namespace: %v", err)
	}
}
