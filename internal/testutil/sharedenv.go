package testutil

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// SharedAPIServer is one real kube-apiserver and etcd for a test package, started by
// the first test that needs it, so the package's unit tests run (and `go test -run X`
// works) without envtest. Stop it from TestMain.
type SharedAPIServer struct {
	// CRDPaths lists the CRD folders to install; Scheme is the clients' scheme.
	CRDPaths func() ([]string, error)
	Scheme   *runtime.Scheme

	once sync.Once
	env  *envtest.Environment
	cfg  *rest.Config
	err  error
}

// Config returns the admin's config for the API server, starting it on first use.
// envtest's defaults run it with a service-account issuer and signing key, which the
// TokenRequest and TokenReview APIs need.
func (s *SharedAPIServer) Config(t testing.TB) *rest.Config {
	t.Helper()
	if testing.Short() {
		t.Skip("needs envtest's kube-apiserver")
	}
	s.once.Do(func() {
		assets, err := AssetsDir()
		if err != nil {
			s.err = err
			return
		}
		var paths []string
		if s.CRDPaths != nil {
			if paths, err = s.CRDPaths(); err != nil {
				s.err = err
				return
			}
		}
		s.env = &envtest.Environment{BinaryAssetsDirectory: assets, CRDDirectoryPaths: paths, ErrorIfCRDPathMissing: true, Scheme: s.Scheme}
		s.cfg, s.err = s.env.Start()
	})
	if s.err != nil {
		t.Fatal(s.err)
	}
	return s.cfg
}

// Stop stops the API server if a test started it.
func (s *SharedAPIServer) Stop() {
	if s.env != nil {
		if err := s.env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop envtest:", err)
		}
	}
}

// NewNamespace creates a namespace named after the test, unique by GenerateName.
func NewNamespace(t testing.TB, c client.Client) string {
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

// Leaked reports goroutines still running once a package's tests (and its API server)
// have stopped, other than ones client libraries leave behind themselves: klog's
// flusher (process-wide by design), work-queue loops, and apimachinery's
// watch.Filter, whose goroutine stays blocked on a send when its consumer stops
// reading (an informer that stopped); none of them is meshd's. A TestMain fails the
// package on anything else.
func Leaked() error {
	return goleak.Find(
		goleak.IgnoreTopFunction("k8s.io/klog/v2.(*flushDaemon).run.func1"),
		goleak.IgnoreAnyFunction("k8s.io/client-go/util/workqueue.(*Typed[...]).updateUnfinishedWorkLoop"),
		goleak.IgnoreAnyFunction("k8s.io/client-go/util/workqueue.(*delayingType[...]).waitingLoop"),
		goleak.IgnoreTopFunction("k8s.io/apimachinery/pkg/watch.(*filteredWatch).loop"),
	)
}

// Main runs a package's tests, then stop (its API server, its manager), then fails the
// package if goroutines are left running (see Leaked). Call it from TestMain.
func Main(m *testing.M, stop ...func()) {
	code := m.Run()
	for _, s := range stop {
		s()
	}
	if err := Leaked(); code == 0 && err != nil {
		fmt.Fprintln(os.Stderr, "goroutines left running:", err)
		code = 1
	}
	os.Exit(code)
}
