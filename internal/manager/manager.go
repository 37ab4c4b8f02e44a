// Package manager assembles meshd's controller-runtime manager: the scheme, the
// reconcilers, health checks and metrics. cmd/meshd, cmd/meshd-dev and the integration
// tests all build the manager here so they run the same thing.
package manager

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	meshv1alpha1 "github.com/meshd-io/meshd/api/meshd/v1alpha1"
	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
	securityv1 "github.com/meshd-io/meshd/api/security/v1"
	"github.com/meshd-io/meshd/controllers"
	"github.com/meshd-io/meshd/dataplane"
	"github.com/meshd-io/meshd/internal/inject"
	"github.com/meshd-io/meshd/internal/model"
	"github.com/meshd-io/meshd/internal/xds"
	"github.com/meshd-io/meshd/webhooks/injection"
	"github.com/meshd-io/meshd/webhooks/validation"
)

// Options are the manager's settings; the defaults follow Istio's ports.
type Options struct {
	// MetricsAddr serves Prometheus metrics (istiod's monitoring port is 15014);
	// "0" turns it off.
	MetricsAddr string
	// ProbeAddr serves /healthz and /readyz.
	ProbeAddr string
	// LeaderElection makes one replica the status writer.
	LeaderElection bool
	// LeaderElectionNamespace holds the lease; the in-cluster namespace when empty.
	LeaderElectionNamespace string
	// SeveralInProcess lets more than one manager run in one process (tests of replicas):
	// controller-runtime otherwise refuses a second controller of the same name.
	SeveralInProcess bool
	// LeaseDuration is how long a lost leader keeps the lease (controller-runtime's 15 s
	// when zero); the other replicas renew and retry at fixed fractions of it.
	LeaseDuration time.Duration
	// GracefulShutdownTimeout bounds how long runnables get to stop.
	GracefulShutdownTimeout time.Duration
	// XDSAddr serves xDS (ADS) in plaintext: Istio's 15010; "" turns it off.
	XDSAddr string
	// WebhookHost and WebhookPort serve the admission webhooks over TLS (Istio's 15017;
	// 0 turns them off) with tls.crt and tls.key from WebhookCertDir.
	WebhookHost    string
	WebhookPort    int
	WebhookCertDir string
	// SecureXDSAddr serves xDS and the CA's certificate service over TLS (Istio's 15012;
	// "" turns the CA off). CANamespace holds the CA's Secret (istio-ca-secret or a
	// plugged-in cacerts).
	SecureXDSAddr string
	CANamespace   string
	// Injection is the deployment's part of sidecar injection: revision, the address
	// injected proxies dial for xDS and certificates, CNI, native sidecars.
	Injection inject.Config
}

// DefaultOptions are the flags' defaults.
func DefaultOptions() Options {
	return Options{
		MetricsAddr:             ":15014",
		ProbeAddr:               ":8080",
		LeaderElectionNamespace: "istio-system",
		GracefulShutdownTimeout: 30 * time.Second,
		XDSAddr:                 ":15010",
		SecureXDSAddr:           ":15012",
		CANamespace:             "istio-system",
		WebhookPort:             15017,
		// Where cert-manager's Secret is mounted in the deployed configuration.
		WebhookCertDir: "/etc/meshd/webhook-certs",
		Injection: inject.Config{
			// The Service in config/manager in front of every replica's 15012.
			DiscoveryAddress: "meshd-xds.istio-system.svc:15012",
			ClusterDomain:    "cluster.local",
			ClusterID:        "Kubernetes",
		},
	}
}

// LeaderElectionID names the lease the status-writing replica holds.
const LeaderElectionID = "meshd-leader.meshd.io"

// NewScheme returns a scheme with the Kubernetes built-ins and meshd's API groups.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(networkingv1.AddToScheme(s))
	utilruntime.Must(securityv1.AddToScheme(s))
	utilruntime.Must(meshv1alpha1.AddToScheme(s))
	// cert-manager's CertificateRequest, for the CA's CertManager mode.
	utilruntime.Must(certmanagerv1.AddToScheme(s))
	utilruntime.Must(gatewayv1.Install(s))
	return s
}

// Meshd is a built control plane: the manager with every reconciler, and the xDS
// server it feeds.
type Meshd struct {
	ctrl.Manager
	XDS *xds.Server
	// XDSAddr is the address plaintext xDS is served on (the port is known even for
	// ":0"); nil when it is off.
	XDSAddr net.Addr
	// SecureXDSAddr serves xDS and the CA over TLS (nil when the CA is off).
	SecureXDSAddr net.Addr
}

// New builds the manager with every reconciler registered and binds the xDS port; the
// caller runs Start, which serves xDS once the first config is translated.
func New(cfg *rest.Config, opts Options) (*Meshd, error) {
	scheme := NewScheme()
	timeout := opts.GracefulShutdownTimeout
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		Metrics:                       metricsserver.Options{BindAddress: opts.MetricsAddr},
		HealthProbeBindAddress:        opts.ProbeAddr,
		LeaderElection:                opts.LeaderElection,
		LeaderElectionID:              LeaderElectionID,
		LeaderElectionNamespace:       opts.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 durationOrNil(opts.LeaseDuration),
		RenewDeadline:                 durationOrNil(opts.LeaseDuration * 2 / 3),
		RetryPeriod:                   durationOrNil(opts.LeaseDuration / 5),
		GracefulShutdownTimeout:       &timeout,
		Controller:                    config.Controller{SkipNameValidation: &opts.SeveralInProcess},
		WebhookServer: webhook.NewServer(webhook.Options{
			Host: opts.WebhookHost, Port: opts.WebhookPort, CertDir: opts.WebhookCertDir,
			TLSOpts: []func(*tls.Config){func(c *tls.Config) { c.MinVersion = tls.VersionTLS12 }},
		}),
		Cache: cache.Options{
			// Managed fields are never read, and pods are trimmed to what discovery
			// reads: most of an informer cache's memory otherwise.
			DefaultTransform: cache.TransformStripManagedFields(),
			ByObject:         map[client.Object]cache.ByObject{&corev1.Pod{}: {Transform: model.TrimPod}},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("create manager: %w", err)
	}
	if opts.WebhookPort != 0 {
		mgr.GetWebhookServer().Register(validation.Path, &webhook.Admission{Handler: validation.Handler{}})
		mgr.GetWebhookServer().Register(injection.Path, &webhook.Admission{Handler: &injection.Handler{Client: mgr.GetClient(), Base: opts.Injection}})
	}
	xdsServer := xds.NewServer(ctrl.Log.WithName("xds"))
	if err := controllers.SetupAll(mgr, xdsServer); err != nil {
		return nil, err
	}
	// Gateways' and ztunnel's proxies, deployed by the leader.
	if err := (&dataplane.GatewayDeployer{Client: mgr.GetClient(), DiscoveryAddress: opts.Injection.DiscoveryAddress,
		ClusterDomain: opts.Injection.ClusterDomain}).SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if err := (&dataplane.ZtunnelDeployer{Client: mgr.GetClient(), Namespace: opts.CANamespace,
		DiscoveryAddress: opts.Injection.DiscoveryAddress}).SetupWithManager(mgr); err != nil {
		return nil, err
	}
	// Every replica serves xDS, leader or not. The plaintext port is optional: the
	// deployed configuration serves only the authenticated one.
	var plainAddr net.Addr
	if opts.XDSAddr != "" {
		lis, err := net.Listen("tcp", opts.XDSAddr)
		if err != nil {
			return nil, fmt.Errorf("xDS address %s: %w", opts.XDSAddr, err)
		}
		plainAddr = lis.Addr()
		if err := mgr.Add(nonLeaderRunnable(func(ctx context.Context) error { return xdsServer.Serve(ctx, lis) })); err != nil {
			return nil, err
		}
	}
	var secureAddr net.Addr
	if opts.SecureXDSAddr != "" {
		if secureAddr, err = setupCA(mgr, cfg, opts, xdsServer); err != nil {
			return nil, err
		}
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	if opts.WebhookPort != 0 {
		if err := mgr.AddReadyzCheck("webhooks", mgr.GetWebhookServer().StartedChecker()); err != nil {
			return nil, err
		}
	}
	// Ready once the informer caches have synced: nothing is decided on a partial view.
	if err := mgr.AddReadyzCheck("readyz", func(req *http.Request) error {
		if !mgr.GetCache().WaitForCacheSync(req.Context()) {
			return fmt.Errorf("informer caches not synced")
		}
		select {
		case <-xdsServer.Ready():
			return nil
		default:
			return fmt.Errorf("first xDS config not built yet")
		}
	}); err != nil {
		return nil, err
	}
	return &Meshd{Manager: mgr, XDS: xdsServer, XDSAddr: plainAddr, SecureXDSAddr: secureAddr}, nil
}

// nonLeaderRunnable runs on every replica, not only the elected one.
type nonLeaderRunnable func(ctx context.Context) error

func (f nonLeaderRunnable) Start(ctx context.Context) error { return f(ctx) }
func (f nonLeaderRunnable) NeedLeaderElection() bool        { return false }

// durationOrNil leaves a zero duration to controller-runtime's default.
func durationOrNil(d time.Duration) *time.Duration {
	if d <= 0 {
		return nil
	}
	return &d
}
