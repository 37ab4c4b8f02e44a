// Package integration runs meshd against envtest's real kube-apiserver and etcd: the
// generated CRDs (schema, CEL, served versions) and the manager's reconcilers.
package integration

import (
	"context"
	"fmt"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/meshd-io/meshd/internal/testutil"
	"github.com/meshd-io/meshd/internal/testutil/meshenv"
	"github.com/meshd-io/meshd/internal/testutil/testnet"
)

var (
	env *meshenv.Env
	// testHost is a network namespace whose non-loopback address EndpointSlices may
	// carry (the API server refuses loopback endpoint addresses).
	testHost *testnet.Host
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	var err error
	env, err = meshenv.StartEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration: start envtest:", err)
		os.Exit(1)
	}
	testHost, err = testnet.New(0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		_ = env.Stop()
		os.Exit(1)
	}
	testutil.Main(m, testHost.Close, func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "integration: stop:", err)
		}
	})
}

// newNamespace creates a namespace of its own for one test, so tests do not see each
// other's objects.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "it-"}}
	if err := env.Client.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}
