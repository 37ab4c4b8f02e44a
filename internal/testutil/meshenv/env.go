// Package meshenv starts meshd as the integration tests meet it: a real kube-apiserver
// and etcd with meshd's CRDs, and the meshd manager (with its xDS server) running
// against them.
package meshenv

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/meshd-io/meshd/internal/devcluster"
	"github.com/meshd-io/meshd/internal/manager"
	"github.com/meshd-io/meshd/internal/testutil"
	"github.com/meshd-io/meshd/internal/xds"
)

// Env is a real kube-apiserver and etcd with meshd's CRDs installed and the meshd
// manager running against them.
type Env struct {
	envtest *envtest.Environment
	xds     *xds.Server
	cancel  context.CancelFunc
	done    chan error
	Config  *rest.Config
	Client  client.Client
	// XDSAddr is meshd's xDS address (an ephemeral loopback port); SecureXDSAddr its
	// TLS port for xDS and the CA.
	XDSAddr       string
	SecureXDSAddr string
	// Manager is the running manager, once started.
	Manager *manager.Meshd
}

// StartEnv starts the API server, installs config/crd/bases and runs the manager with
// ephemeral ports (go test runs packages in parallel).
func StartEnv() (*Env, error) {
	e, err := StartAPIServer()
	if err != nil {
		return nil, err
	}
	opts := TestOptions()
	e.ServeWebhooks(&opts)
	if err := e.StartManager(e.Config, opts); err != nil {
		_ = e.envtest.Stop()
		return nil, err
	}
	return e, nil
}

// StartAPIServer starts the API server and etcd with meshd's CRDs, Gateway API's and
// cert-manager's, and meshd's webhook configurations (served once a manager runs),
// without a manager.
func StartAPIServer() (*Env, error) {
	assets, err := testutil.AssetsDir()
	if err != nil {
		return nil, err
	}
	// Gateway API's and cert-manager's CRDs too, as a cluster running meshd has them.
	thirdParty, err := devcluster.ThirdPartyCRDPaths(context.Background(), testutil.RepoRoot())
	if err != nil {
		return nil, err
	}
	te := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     append([]string{filepath.Join(testutil.RepoRoot(), "config", "crd", "bases")}, thirdParty...),
		ErrorIfCRDPathMissing: true,
		Scheme:                manager.NewScheme(),
		// meshd's webhook configurations, pointed by envtest at the manager's webhook
		// server on loopback with a CA of its own: the API server calls them for real.
		WebhookInstallOptions: envtest.WebhookInstallOptions{
			Paths: []string{
				filepath.Join(testutil.RepoRoot(), "config", "webhook", "manifests.yaml"),
				filepath.Join(testutil.RepoRoot(), "config", "webhook", "injection.yaml"),
			},
		},
	}
	// Room for thousands of Services (envtest's default range holds 254), as the
	// fleet benchmarks need.
	te.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", "10.0.0.0/16")
	cfg, err := te.Start()
	if err != nil {
		return nil, err
	}
	e := &Env{envtest: te, Config: cfg, done: make(chan error, 1), cancel: func() {}}
	// The CA keeps its Secret in istio-system, which a real cluster has before meshd.
	if err := devcluster.EnsureNamespace(cfg, "istio-system"); err != nil {
		_ = te.Stop()
		return nil, err
	}
	// A client that reads straight from the API server: tests check what is stored.
	e.Client, err = client.New(cfg, client.Options{Scheme: te.Scheme})
	if err != nil {
		_ = te.Stop()
		return nil, err
	}
	return e, nil
}

// RemoveWebhookConfigurations deletes the installed webhook configurations, for tests
// whose managers serve no webhooks (several replicas cannot all bind envtest's port):
// the API server would otherwise refuse every object they cover.
func (e *Env) RemoveWebhookConfigurations(ctx context.Context) error {
	for _, l := range []client.ObjectList{&admissionv1.ValidatingWebhookConfigurationList{}, &admissionv1.MutatingWebhookConfigurationList{}} {
		if err := e.Client.List(ctx, l); err != nil {
			return err
		}
		items, err := meta.ExtractList(l)
		if err != nil {
			return err
		}
		for _, o := range items {
			if err := e.Client.Delete(ctx, o.(client.Object)); err != nil {
				return err
			}
		}
	}
	return nil
}

// StartBare starts an API server for one test, without webhook configurations (for
// managers that serve none), and stops it when the test ends: register it before
// anything that must stop first, since cleanups run last-in first-out.
func StartBare(t testing.TB) *Env {
	t.Helper()
	e, err := StartAPIServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Stop() })
	if err := e.RemoveWebhookConfigurations(context.Background()); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestOptions are the manager's options for tests: ephemeral loopback ports, metrics
// and probes off, webhooks off until set.
func TestOptions() manager.Options {
	opts := manager.DefaultOptions()
	opts.MetricsAddr, opts.ProbeAddr, opts.XDSAddr, opts.SecureXDSAddr = "0", "0", "127.0.0.1:0", "127.0.0.1:0"
	opts.WebhookPort = 0
	opts.GracefulShutdownTimeout = 5 * time.Second
	return opts
}

// ServeWebhooks points the manager's webhook server where the installed webhook
// configurations send the API server.
func (e *Env) ServeWebhooks(opts *manager.Options) {
	wh := e.envtest.WebhookInstallOptions
	opts.WebhookHost, opts.WebhookPort, opts.WebhookCertDir = wh.LocalServingHost, wh.LocalServingPort, wh.LocalServingCertDir
}

// StartManager runs a meshd manager against the API server with cfg (the admin's, or
// an impersonating one) until Stop.
func (e *Env) StartManager(cfg *rest.Config, opts manager.Options) error {
	mgr, err := manager.New(cfg, opts)
	if err != nil {
		return err
	}
	if mgr.XDSAddr != nil { // nil with the plaintext port off
		e.XDSAddr = mgr.XDSAddr.String()
	}
	if mgr.SecureXDSAddr != nil { // nil with the CA off
		e.SecureXDSAddr = mgr.SecureXDSAddr.String()
	}
	e.xds = mgr.XDS
	e.Manager = mgr
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go func() { e.done <- mgr.Start(ctx) }()
	return nil
}

// Stop stops the manager, then the API server and etcd.
func (e *Env) Stop() error {
	e.cancel()
	var errs []error
	if e.Manager != nil {
		select {
		case err := <-e.done:
			errs = append(errs, err)
		case <-time.After(30 * time.Second):
			errs = append(errs, errors.New("manager did not stop within 30s"))
		}
	}
	errs = append(errs, e.envtest.Stop())
	return errors.Join(errs...)
}

// XDSProxies lists the proxies connected to meshd's xDS server.
func (e *Env) XDSProxies() []xds.ProxyState { return e.xds.Tracker().Proxies() }
