package dataplane

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	meshv1alpha1 "github.com/meshd-io/meshd/api/meshd/v1alpha1"
	"github.com/meshd-io/meshd/internal/devcluster"
	"github.com/meshd-io/meshd/internal/testutil"
)

// One real kube-apiserver and etcd for the package, with meshd's and Gateway API's CRDs,
// started by the first test that needs it.
var (
	scheme = newScheme()
	shared = &testutil.SharedAPIServer{Scheme: scheme, CRDPaths: func() ([]string, error) {
		thirdParty, err := devcluster.ThirdPartyCRDPaths(context.Background(), testutil.RepoRoot())
		return append([]string{filepath.Join(testutil.RepoRoot(), "config", "crd", "bases")}, thirdParty...), err
	}}
)

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(gatewayv1.Install(s))
	utilruntime.Must(meshv1alpha1.AddToScheme(s))
	return s
}

func TestMain(m *testing.M) { testutil.Main(m, shared.Stop) }

func apiServer(t *testing.T) *rest.Config { return shared.Config(t) }

// startManager runs a manager with what setup registers until the test ends, and
// returns a client that reads straight from the API server.
func startManager(t *testing.T, setup func(ctrl.Manager) error) client.Client {
	t.Helper()
	return startManagerAs(t, apiServer(t), setup)
}

// startManagerAs is startManager with the manager's requests made with cfg; the
// returned client is the admin's.
func startManagerAs(t *testing.T, cfg *rest.Config, setup func(ctrl.Manager) error) client.Client {
	t.Helper()
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// go test -count=N builds the same controllers again in one process.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := setup(mgr); err != nil {
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
	c, err := client.New(apiServer(t), client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newNamespace(t *testing.T, c client.Client) string { return testutil.NewNamespace(t, c) }

// setMesh creates or replaces the spec of the Mesh named default, deleted when the test
// ends.
func setMesh(t *testing.T, c client.Client, spec meshv1alpha1.MeshSpec) {
	t.Helper()
	ctx := context.Background()
	mesh := &meshv1alpha1.Mesh{ObjectMeta: metav1.ObjectMeta{Name: meshv1alpha1.MeshName}}
	err := c.Get(ctx, client.ObjectKeyFromObject(mesh), mesh)
	switch {
	case err == nil:
		mesh.Spec = spec
		err = c.Update(ctx, mesh)
	case client.IgnoreNotFound(err) == nil:
		mesh.Spec = spec
		err = c.Create(ctx, mesh)
		t.Cleanup(func() {
			if err := c.Delete(context.Background(), mesh); client.IgnoreNotFound(err) != nil {
				t.Errorf("delete Mesh: %v", err)
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
}

func eventually(t *testing.T, f func() error) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, f)
}

// recreated deletes obj and waits for the deployer to create it again.
func recreated(t *testing.T, c client.Client, obj client.Object) {
	t.Helper()
	ctx := context.Background()
	if err := c.Delete(ctx, obj); err != nil {
		t.Fatal(err)
	}
	again := obj.DeepCopyObject().(client.Object)
	eventually(t, func() error {
		if err := c.Get(ctx, client.ObjectKeyFromObject(obj), again); err != nil {
			return err
		}
		if again.GetUID() == obj.GetUID() {
			return errors.New("not deleted yet")
		}
		return nil
	})
}

// gone waits until no object of the kinds of objs is left at key.
func gone(t *testing.T, c client.Client, key client.ObjectKey, objs ...client.Object) {
	t.Helper()
	eventually(t, func() error {
		for _, obj := range objs {
			if err := c.Get(context.Background(), key, obj); !apierrors.IsNotFound(err) {
				return fmt.Errorf("%T %s: %v, want it deleted", obj, key, err)
			}
		}
		return nil
	})
}
