package devcluster

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"

	// The CRDs installed come from these modules; importing their API packages keeps
	// the modules (at the versions meshd's Go types use) in go.mod.
	_ "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	_ "sigs.k8s.io/gateway-api/apis/v1"
)

// thirdPartyCRDs are the CRD folders, inside the Go modules meshd builds against, that a
// cluster running meshd has: Gateway API's standard channel (which includes TCPRoute
// and TLSRoute from v1.5 on) and cert-manager's.
var thirdPartyCRDs = []struct{ module, folder string }{
	{"sigs.k8s.io/gateway-api", "config/crd/standard"},
	{"github.com/cert-manager/cert-manager", "deploy/crds"},
}

// ThirdPartyCRDPaths resolves the Gateway API and cert-manager CRD folders from the
// versions in go.mod (so they always match the Go types meshd uses), downloading the
// modules if needed. moduleRoot is the folder holding meshd's go.mod.
func ThirdPartyCRDPaths(ctx context.Context, moduleRoot string) ([]string, error) {
	var out []string
	for _, tp := range thirdPartyCRDs {
		cmd := exec.CommandContext(ctx, "go", "list", "-mod=mod", "-m", "-f", "{{.Dir}}", tp.module)
		cmd.Dir = moduleRoot
		b, err := cmd.Output()
		dir := strings.TrimSpace(string(b))
		if err != nil || dir == "" {
			dl := exec.CommandContext(ctx, "go", "mod", "download", tp.module)
			dl.Dir = moduleRoot
			if out, err := dl.CombinedOutput(); err != nil {
				return nil, fmt.Errorf("download %s: %v: %s", tp.module, err, out)
			}
			if b, err = cmd.Output(); err != nil {
				return nil, fmt.Errorf("locate %s: %w", tp.module, err)
			}
			dir = strings.TrimSpace(string(b))
		}
		out = append(out, filepath.Join(dir, tp.folder))
	}
	return out, nil
}
