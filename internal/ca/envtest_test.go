package ca

import (
	"context"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshd-io/meshd/internal/devcluster"
	"github.com/meshd-io/meshd/internal/testutil"
)

// One real kube-apiserver and etcd for the package (cert-manager's CRDs too, for the
// CertManager mode), started by the first test that needs it.
var shared = &testutil.SharedAPIServer{CRDPaths: func() ([]string, error) {
	return devcluster.ThirdPartyCRDPaths(context.Background(), testutil.RepoRoot())
}}

func TestMain(m *testing.M) { testutil.Main(m, shared.Stop) }

func apiServer(t *testing.T) *rest.Config { return shared.Config(t) }

func newClients(t *testing.T) (client.Client, kubernetes.Interface) {
	t.Helper()
	cfg := apiServer(t)
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, cs
}

func newNamespace(t *testing.T, c client.Client) string { return testutil.NewNamespace(t, c) }
