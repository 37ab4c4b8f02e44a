package manager

import "flag"

// BindFlags registers the manager's flags on fs with opts' current values as defaults.
func (o *Options) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", o.MetricsAddr,
		"Address the Prometheus metrics endpoint binds to (istiod's monitoring port is 15014); 0 disables it.")
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", o.ProbeAddr,
		"Address the /healthz and /readyz endpoints bind to.")
	fs.BoolVar(&o.LeaderElection, "leader-elect", o.LeaderElection,
		"Elect one replica to write status; every replica still serves.")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", o.LeaderElectionNamespace,
		"Namespace of the leader-election lease.")
	fs.StringVar(&o.XDSAddr, "xds-address", o.XDSAddr,
		"Address xDS (ADS, plaintext, unauthenticated) is served on; Istio's is 15010; empty turns it off (the deployed configuration does).")
	fs.StringVar(&o.SecureXDSAddr, "secure-xds-address", o.SecureXDSAddr,
		"Address xDS and the CA's certificate service are served on over TLS (Istio's 15012); empty turns the CA off.")
	fs.StringVar(&o.CANamespace, "ca-namespace", o.CANamespace,
		"Namespace of the CA's Secret (istio-ca-secret, or a plugged-in cacerts).")
	fs.IntVar(&o.WebhookPort, "webhook-port", o.WebhookPort,
		"Port the admission webhooks (validation, injection) are served on over TLS; Istio's is 15017; 0 disables them.")
	fs.StringVar(&o.WebhookCertDir, "webhook-cert-dir", o.WebhookCertDir,
		"Directory holding the webhooks' serving certificate (tls.crt, tls.key).")
	fs.StringVar(&o.Injection.Revision, "revision", o.Injection.Revision,
		"Istio revision this control plane injects for (istio.io/rev); empty is the default revision.")
	fs.StringVar(&o.Injection.DiscoveryAddress, "injection-discovery-address", o.Injection.DiscoveryAddress,
		"Address injected sidecars dial for xDS and certificates (Istio's 15012).")
	fs.BoolVar(&o.Injection.CNIEnabled, "injection-cni", o.Injection.CNIEnabled,
		"Istio CNI sets up pod networking: inject istio-validation instead of the privileged istio-init.")
	fs.BoolVar(&o.Injection.NativeSidecars, "injection-native-sidecars", o.Injection.NativeSidecars,
		"Inject istio-proxy as a native sidecar (an init container that keeps running) by default.")
	fs.DurationVar(&o.GracefulShutdownTimeout, "graceful-shutdown-timeout", o.GracefulShutdownTimeout,
		"How long running work gets to finish on SIGTERM.")
}
