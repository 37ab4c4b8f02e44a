//go:build e2e

package e2e

import (
	"os/exec"
	"testing"

	"sigs.k8s.io/gateway-api/conformance"
)

// requireCluster skips unless a Docker engine runs (kind needs one); the cluster
// itself comes from the current kubeconfig, as `make kind-up deploy` leaves it.
func requireCluster(t *testing.T) {
	t.Helper()
	if err := exec.Command("docker", "info").Run(); err != nil {
		t.Skipf("e2e needs a Docker engine and a kind cluster running meshd (make kind-up deploy): docker info: %v", err)
	}
}

// TestGatewayAPIConformance runs the Gateway API conformance suite against the istio
// GatewayClass. With no -supported-features flag the suite takes the features from
// the class's status, which is where meshd states what it supports.
func TestGatewayAPIConformance(t *testing.T) {
	requireCluster(t)
	opts := conformance.DefaultOptions(t)
	if opts.GatewayClassName == "" || opts.GatewayClassName == "gateway-conformance" {
		opts.GatewayClassName = "istio"
	}
	opts.CleanupBaseResources = true
	conformance.RunConformanceWithOptions(t, opts)
}
