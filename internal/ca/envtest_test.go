package ca

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/meshd-io/meshd/internal/devcluster"
	"github.com/meshd-io/meshd/internal/testutil"
)

// One real kube-apiserver and etcd for the package, started by the first test that
// needs it, so the unit tests run (and `go test -run Sign` works) without envtest.
var (
	envOnce sync.Once
	env     *envtest.Environment
	envCfg  *rest.Config
	envErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if env != nil {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop envtest:", err)
		}
	}
	os.Exit(code)
}

// apiServer returns a config for the shared API server. envtest's defaults already run
// it with a service-account issuer and signing key (--service-account-issuer,
// --service-account-key-file, --service-account-signing-key-file), which is all the
// TokenRequest and TokenReview APIs need.
func apiServer(t *testing.T) *rest.Config {
	t.Helper()
	if testing.Short() {
		t.Skip("needs envtest's kube-apiserver")
	}
	envOnce.Do(func() {
		assets, err := testutil.AssetsDir()
		if err != nil {
			envErr = err
			return
		}
		// cert-manager's CRDs too, for the CertManager mode.
		thirdParty, err := devcluster.ThirdPartyCRDPaths(context.Background(), testutil.RepoRoot())
		if err != nil {
			envErr = err
			return
		}
		env = &envtest.Environment{BinaryAssetsDirectory: assets, CRDDirectoryPaths: thirdParty}
		envCfg, envErr = env.Start()
	})
	if envErr != nil {
		t.Fatal(envErr)
	}
	return envCfg
}

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

// newNamespace creates a namespace named after the test, unique by GenerateName.
func newNamespace(t *testing.T, c client.Client) string {
	t.Helper()
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 50 {
		name = name[:50]
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: strings.Trim(name, "-") + "-"}}
	if err := c.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}
