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
		"Address xDS (ADS, plaintext) is served on; Istio's is 15010.")
	fs.DurationVar(&o.GracefulShutdownTimeout, "graceful-shutdown-timeout", o.GracefulShutdownTimeout,
		"How long running work gets to finish on SIGTERM.")
}
