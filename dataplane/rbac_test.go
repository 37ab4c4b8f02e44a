package dataplane

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1alpha1 "github.com/meshd-io/meshd/api/meshd/v1alpha1"
	"github.com/meshd-io/meshd/internal/testutil"
)

// TestDeployersRunWithGeneratedRBAC runs both deployers as a user holding only the
// manager's generated ClusterRole (config/rbac/role.yaml, from the +kubebuilder:rbac
// markers): their watches, reads, applies and deletions must all be allowed.
func TestDeployersRunWithGeneratedRBAC(t *testing.T) {
	admin, err := client.New(apiServer(t), client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	cfg := rest.CopyConfig(apiServer(t))
	cfg.Impersonate = rest.ImpersonationConfig{UserName: bindGeneratedRole(t, admin)}
	ztunnelNS := newNamespace(t, admin)
	c := startManagerAs(t, cfg, func(mgr ctrl.Manager) error {
		if err := (&GatewayDeployer{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
			return err
		}
		return (&ZtunnelDeployer{Client: mgr.GetClient(), Namespace: ztunnelNS}).SetupWithManager(mgr)
	})
	ctx := context.Background()
	ns := newNamespace(t, c)

	// A waypoint deployed, then pruned when its class changes.
	gw := newGateway(ns, "wp", "istio-waypoint")
	if err := c.Create(ctx, gw); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKey{Namespace: ns, Name: "wp"}
	eventually(t, func() error { return c.Get(ctx, key, &appsv1.Deployment{}) })
	gw.Spec.GatewayClassName = "other"
	if err := c.Update(ctx, gw); err != nil {
		t.Fatal(err)
	}
	gone(t, c, key, &appsv1.Deployment{})

	// ztunnel deployed, then pruned.
	spec := meshv1alpha1.MeshSpec{Ztunnel: meshv1alpha1.MeshZtunnel{Enabled: true}}
	setMesh(t, c, spec)
	zkey := client.ObjectKey{Namespace: ztunnelNS, Name: "ztunnel"}
	eventually(t, func() error { return c.Get(ctx, zkey, &appsv1.DaemonSet{}) })
	spec.Ztunnel.Enabled = false
	setMesh(t, c, spec)
	gone(t, c, zkey, &appsv1.DaemonSet{})
}

// bindGeneratedRole installs config/rbac/role.yaml under a name of the test's and binds
// a user to it, returning the user's name.
func bindGeneratedRole(t *testing.T, c client.Client) string {
	t.Helper()
	ctx := context.Background()
	docs, err := testutil.DecodeFile(filepath.Join(testutil.RepoRoot(), "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The ClusterRole: the deployers need nothing of the namespaced Role beside it.
	i := slices.IndexFunc(docs, func(d *unstructured.Unstructured) bool { return d.GetKind() == "ClusterRole" })
	if i < 0 {
		t.Fatal("config/rbac/role.yaml has no ClusterRole")
	}
	role := &rbacv1.ClusterRole{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(docs[i].Object, role); err != nil {
		t.Fatal(err)
	}
	const name = "meshd-dataplane-rbac-test"
	role.ObjectMeta = metav1.ObjectMeta{Name: name}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: name}},
	}
	for _, obj := range []client.Object{role, binding} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Delete(context.Background(), obj) })
	}
	return name
}
