// Package devcluster runs the embedded control plane that `make dev` and the dev-path
// integration test share: etcd and kube-apiserver started from the binaries the Makefile
// built (envtest's process management), with etcd's data kept in a folder so objects
// survive a restart, and meshd's, Gateway API's and cert-manager's CRDs installed.
package devcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Config says where the control plane keeps its state and what it installs.
type Config struct {
	// Dir holds etcd's data (kept across restarts), the API server's certificates
	// (made anew at each start) and the admin kubeconfig.
	Dir string
	// AssetsDir holds the kube-apiserver and etcd binaries (KUBEBUILDER_ASSETS).
	AssetsDir string
	// CRDPaths are files or folders of CRD manifests to install (server-side).
	CRDPaths []string
	// StartTimeout bounds the start of each process; envtest's default when zero.
	StartTimeout time.Duration
	// WebhookPaths are webhook configuration manifests to install, pointed at
	// 127.0.0.1:WebhookPort with a CA made at start (in Dir/webhook-certs).
	WebhookPaths []string
	WebhookPort  int
}

// Cluster is a running embedded control plane.
type Cluster struct {
	env *envtest.Environment
	// RESTConfig reaches the API server as a cluster administrator.
	RESTConfig *rest.Config
	// KubeconfigPath is the admin kubeconfig written for kubectl.
	KubeconfigPath string
	// WebhookHost, WebhookPort and WebhookCertDir are where the API server expects
	// the webhooks and the serving certificate they must present.
	WebhookHost    string
	WebhookPort    int
	WebhookCertDir string
}

// Start stops whatever an earlier, crashed run left behind in cfg.Dir, then starts etcd
// and kube-apiserver, installs the CRDs and writes the kubeconfig.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.Dir == "" || cfg.AssetsDir == "" {
		return nil, errors.New("devcluster: Dir and AssetsDir are required")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(cfg.AssetsDir, bin)); err != nil {
			return nil, fmt.Errorf("devcluster: %s not found in %s (run `make envtest`): %w", bin, cfg.AssetsDir, err)
		}
	}
	// A crashed run leaves etcd holding its data folder's lock; a new etcd would then
	// wait on it forever. Processes are recognised by the folder in their command line.
	if err := stopStale(ctx, dir); err != nil {
		return nil, err
	}
	pki := filepath.Join(dir, "pki")
	// envtest keeps an existing serving certificate but then forgets its CA, so the
	// certificates are made anew at every start; only etcd's data persists.
	if err := os.RemoveAll(pki); err != nil {
		return nil, err
	}
	for _, d := range []string{filepath.Join(dir, "etcd"), pki} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, err
		}
	}

	env := &envtest.Environment{
		BinaryAssetsDirectory:    cfg.AssetsDir,
		CRDDirectoryPaths:        cfg.CRDPaths,
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: cfg.StartTimeout,
	}
	if len(cfg.WebhookPaths) > 0 {
		certs := filepath.Join(dir, "webhook-certs")
		if err := os.RemoveAll(certs); err != nil {
			return nil, err
		}
		env.WebhookInstallOptions = envtest.WebhookInstallOptions{
			Paths: cfg.WebhookPaths, LocalServingHost: "127.0.0.1", LocalServingPort: cfg.WebhookPort,
			LocalServingCertDir: certs,
		}
	}
	env.ControlPlane.Etcd = &envtest.Etcd{DataDir: filepath.Join(dir, "etcd")}
	env.ControlPlane.APIServer = &envtest.APIServer{CertDir: pki}
	rc, err := env.Start()
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("devcluster: start control plane: %w", err)
	}
	wh := env.WebhookInstallOptions
	// meshd's CA keeps its Secret in istio-system, which a real cluster has before meshd.
	if err := EnsureNamespace(rc, "istio-system"); err != nil {
		_ = env.Stop()
		return nil, err
	}
	c := &Cluster{env: env, RESTConfig: rc, KubeconfigPath: filepath.Join(dir, "kubeconfig"),
		WebhookHost: wh.LocalServingHost, WebhookPort: wh.LocalServingPort, WebhookCertDir: wh.LocalServingCertDir}
	if err := os.WriteFile(c.KubeconfigPath, env.KubeConfig, 0o600); err != nil {
		_ = env.Stop()
		return nil, err
	}
	return c, nil
}

// Stop stops kube-apiserver and etcd gracefully; etcd's data stays.
func (c *Cluster) Stop() error {
	return c.env.Stop()
}

// EnsureNamespace creates a namespace unless it exists.
func EnsureNamespace(cfg *rest.Config, name string) error {
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := c.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("devcluster: create namespace %s: %w", name, err)
	}
	return nil
}
