//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// kubectl runs kubectl against the current kubeconfig's cluster.
func kubectl(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("kubectl", args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), err
}

func mustKubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := kubectl(t, stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// eventually retries f until it succeeds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %v", timeout, err)
		}
		time.Sleep(2 * time.Second)
	}
}

const app = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: server-%[1]s}
spec:
  selector: {matchLabels: {app: server, version: %[1]s}}
  template:
    metadata: {labels: {app: server, version: %[1]s}}
    spec:
      containers:
      - name: app
        image: registry.k8s.io/e2e-test-images/agnhost:2.53
        args: [netexec, --http-port=8080]
        ports: [{containerPort: 8080}]
`

const client = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: client}
spec:
  selector: {matchLabels: {app: client}}
  template:
    metadata: {labels: {app: client}}
    spec:
      containers:
      - name: app
        image: curlimages/curl:8.11.1
        command: [sleep, infinity]
`

const routing = `
apiVersion: v1
kind: Service
metadata: {name: server}
spec:
  selector: {app: server}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: server}
spec:
  host: server
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: server}
spec:
  hosts: [server]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: server, subset: v2}}]
  - route: [{destination: {host: server, subset: v1}}]
`

// curl asks the server's /hostname from the client of namespace ns.
func curl(t *testing.T, ns, target string, headers ...string) (string, error) {
	args := []string{"-n", ns, "exec", "deploy/client", "-c", "app", "--", "curl", "-sf", "--max-time", "5"}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	return kubectl(t, "", append(args, target)...)
}

// TestSidecarRoutingAndMTLS: injected Envoy sidecars route by meshd's config (a header
// match to v2, the rest to v1), STRICT mTLS refuses a client without a sidecar, and a
// rolling restart of meshd loses neither config nor traffic.
func TestSidecarRoutingAndMTLS(t *testing.T) {
	requireCluster(t)
	suffix := fmt.Sprintf("%06d", rand.IntN(1_000_000))
	mesh, plain := "e2e-mesh-"+suffix, "e2e-plain-"+suffix
	mustKubectl(t, "", "create", "namespace", mesh)
	mustKubectl(t, "", "label", "namespace", mesh, "istio-injection=enabled")
	mustKubectl(t, "", "create", "namespace", plain)
	t.Cleanup(func() { _, _ = kubectl(t, "", "delete", "namespace", mesh, plain, "--wait=false") })

	mustKubectl(t, fmt.Sprintf(app, "v1")+"---"+fmt.Sprintf(app, "v2")+"---"+client+"---"+routing, "-n", mesh, "apply", "-f", "-")
	mustKubectl(t, client, "-n", plain, "apply", "-f", "-")
	for _, d := range []string{"server-v1", "server-v2", "client"} {
		mustKubectl(t, "", "-n", mesh, "rollout", "status", "deploy/"+d, "--timeout=300s")
	}
	mustKubectl(t, "", "-n", plain, "rollout", "status", "deploy/client", "--timeout=300s")
	if c := mustKubectl(t, "", "-n", mesh, "get", "pods", "-l", "app=server", "-o", "jsonpath={.items[*].spec.initContainers[*].name} {.items[*].spec.containers[*].name}"); !strings.Contains(c, "istio-proxy") {
		t.Fatalf("server pods were not injected: containers %q", c)
	}

	routes := func() error {
		if got, err := curl(t, mesh, "http://server/hostname", "end-user: jason"); err != nil || !strings.HasPrefix(got, "server-v2") {
			return fmt.Errorf("with the header: %q (%v), want server-v2", got, err)
		}
		if got, err := curl(t, mesh, "http://server/hostname"); err != nil || !strings.HasPrefix(got, "server-v1") {
			return fmt.Errorf("without it: %q (%v), want server-v1", got, err)
		}
		return nil
	}
	eventually(t, 2*time.Minute, routes)

	mustKubectl(t, `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default}
spec: {mtls: {mode: STRICT}}
`, "-n", mesh, "apply", "-f", "-")
	eventually(t, time.Minute, func() error {
		if got, err := curl(t, plain, "http://server."+mesh+"/hostname"); err == nil {
			return fmt.Errorf("a client without a sidecar reached the server under STRICT: %q", got)
		}
		return nil
	})
	eventually(t, time.Minute, routes)

	// Upgrade in place: every replica restarts; config and traffic stay.
	mustKubectl(t, "", "-n", "istio-system", "rollout", "restart", "deploy/meshd-controller")
	mustKubectl(t, "", "-n", "istio-system", "rollout", "status", "deploy/meshd-controller", "--timeout=300s")
	if st := mustKubectl(t, "", "-n", mesh, "get", "virtualservice", "server", "-o", `jsonpath={.status.conditions[?(@.type=="Accepted")].status}`); st != "True" {
		t.Errorf("after the restart the VirtualService's Accepted is %q", st)
	}
	eventually(t, 2*time.Minute, routes)
}
