package gatewaygen

import (
	"testing"

	"github.com/meshd-io/meshd/internal/testutil/xdsgolden"
)

// TestGolden generates the config of each Gateway's proxies in testdata/<case>.in.yaml
// and compares it with <case>.out.yaml.
func TestGolden(t *testing.T) {
	xdsgolden.RunGateways(t, Generate)
}
