// Package devpath tests `make dev` as a user meets it: the meshd-dev binary starts an
// embedded kube-apiserver and etcd, installs the CRDs and runs the manager; kubectl
// applies Istio-documentation manifests and meshd's samples; objects survive a restart
// and a crash.
package devpath

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshd-io/meshd/internal/testutil"
)

type devProcess struct {
	cmd       *exec.Cmd
	exited    chan error
	probeAddr string
	out       *bytes.Buffer
}

type devEnv struct {
	t          *testing.T
	bin        string // the meshd-dev binary
	dir        string // --dir: etcd data, certificates, kubeconfig
	assets     string
	kubectlBin string
	// webhookPort is where this run's webhooks listen (not 15017: tests run in parallel).
	webhookPort string
}

func TestDevControlPlane(t *testing.T) {
	if testing.Short() {
		t.Skip("starts several control planes")
	}
	assets, err := testutil.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	kubectl, err := testutil.Kubectl()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	e := &devEnv{t: t, bin: filepath.Join(tmp, "meshd-dev"), dir: filepath.Join(tmp, "dev"), assets: assets, kubectlBin: kubectl}
	_, e.webhookPort, _ = strings.Cut(freeAddr(t), ":")
	build := exec.Command("go", "build", "-o", e.bin, "./cmd/meshd-dev")
	build.Dir = testutil.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build meshd-dev: %v\n%s", err, out)
	}
	t.Cleanup(e.killLeftovers)

	// First start: apply Istio's documentation manifests and meshd's samples.
	p := e.start()
	e.kubectl("apply", "--server-side", "-f", filepath.Join(testutil.RepoRoot(), "test", "integration", "testdata", "istio-docs"))
	e.kubectl("apply", "--server-side", "-k", filepath.Join(testutil.RepoRoot(), "config", "samples"))
	for _, o := range []struct{ ns, obj string }{
		{"bookinfo", "virtualservice/reviews"},
		{"bookinfo", "virtualservice/ratings"},
		{"bookinfo", "virtualservice/details"},
		{"bookinfo", "destinationrule/ratings"},
		{"bookinfo", "destinationrule/details"},
		{"istio-system", "peerauthentication/default"},
		{"bookinfo", "authorizationpolicy/deny-admin"},
		{"default", "authorizationpolicy/productpage-deny-admin"},
		{"default", "peerauthentication/productpage-metrics"},
		{"default", "virtualservice/reviews"}, // the sample
	} {
		e.waitAccepted(o.obj, "-n", o.ns)
	}
	e.waitAccepted("mesh/default") // cluster-scoped

	// What a user types: short names, every namespace, the Accepted column.
	table := e.kubectl("get", "vs,dr,ap,pa", "-A")
	for _, want := range []string{"ACCEPTED", "reviews", "deny-admin", "STRICT", "PERMISSIVE", "DENY", "True"} {
		if !strings.Contains(table, want) {
			t.Errorf("kubectl get vs,dr,ap,pa -A does not show %q:\n%s", want, table)
		}
	}
	// The fault delay written as v1alpha3 in the docs reads back as v1, unchanged.
	delay := e.kubectl("get", "virtualservices.v1.networking.istio.io", "ratings", "-n", "bookinfo",
		"-o", "jsonpath={.apiVersion} {.spec.http[0].fault.delay.fixedDelay} {.spec.http[0].match[0].headers.end-user.exact}")
	if delay != "networking.istio.io/v1 7s jason" {
		t.Errorf("ratings read back as %q", delay)
	}
	// The validation webhook refuses what Istio would, naming the field.
	refused := e.kubectlFails([]byte(`
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {name: ratings-dup, namespace: bookinfo}
spec:
  host: ratings
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v1, labels: {version: v2}}
`), "apply", "--server-side", "-f", "-")
	if !strings.Contains(refused, `admission webhook "validation.istio.io" denied the request`) || !strings.Contains(refused, "spec.subsets[1].name") {
		t.Errorf("invalid DestinationRule not refused by the webhook: %s", refused)
	}
	// Gateway API's and cert-manager's CRDs are there too.
	e.kubectl("get", "crd", "gateways.gateway.networking.k8s.io", "httproutes.gateway.networking.k8s.io",
		"tlsroutes.gateway.networking.k8s.io", "certificates.cert-manager.io", "issuers.cert-manager.io")

	// Ctrl-C stops every process it started; the data stays.
	e.stop(p, syscall.SIGINT)
	if left := e.leftovers(); len(left) > 0 {
		t.Fatalf("processes still running after Ctrl-C: %v", left)
	}
	p = e.start()
	if got := e.kubectl("get", "vs", "reviews", "-n", "bookinfo", "-o", "jsonpath={.spec.hosts[0]}"); got != "reviews" {
		t.Fatalf("after a restart the reviews VirtualService reads %q", got)
	}

	// A crash (SIGKILL) leaves etcd and kube-apiserver behind; the next start recovers.
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	if len(e.leftovers()) == 0 {
		t.Log("no orphans after the crash; the recovery path is not exercised")
	}
	p = e.start()
	if got := e.kubectl("get", "pa", "default", "-n", "istio-system", "-o", "jsonpath={.spec.mtls.mode}"); got != "STRICT" {
		t.Fatalf("after crash recovery the mesh-wide PeerAuthentication reads %q", got)
	}
	e.kubectl("delete", "vs", "reviews", "-n", "bookinfo")
	e.stop(p, syscall.SIGTERM)
}

// start runs meshd-dev and waits until the manager reports ready.
func (e *devEnv) start() *devProcess {
	e.t.Helper()
	p := &devProcess{probeAddr: freeAddr(e.t), out: &bytes.Buffer{}}
	p.cmd = exec.Command(e.bin, "--dir="+e.dir, "--assets="+e.assets,
		"--crds="+filepath.Join(testutil.RepoRoot(), "config", "crd", "bases"),
		"--metrics-bind-address=0", "--health-probe-bind-address="+p.probeAddr, "--xds-address=127.0.0.1:0", "--secure-xds-address=127.0.0.1:0",
		"--webhooks="+filepath.Join(testutil.RepoRoot(), "config", "webhook", "manifests.yaml")+","+
			filepath.Join(testutil.RepoRoot(), "config", "webhook", "injection.yaml"),
		"--webhook-port="+e.webhookPort)
	p.cmd.Dir = testutil.RepoRoot()
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	p.exited = make(chan error, 1)
	go func() { p.exited <- p.cmd.Wait() }()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		select {
		case err := <-p.exited:
			e.t.Fatalf("meshd-dev exited early: %v\n%s", err, p.out)
		default:
		}
		resp, err := http.Get("http://" + p.probeAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("meshd-dev not ready within 2m\n%s", p.out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stop signals meshd-dev and waits for it to exit cleanly.
func (e *devEnv) stop(p *devProcess, sig syscall.Signal) {
	e.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		e.t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			e.t.Fatalf("meshd-dev exited with %v after %s\n%s", err, sig, p.out)
		}
	case <-time.After(time.Minute):
		e.t.Fatalf("meshd-dev did not exit within 1m of %s\n%s", sig, p.out)
	}
}

// kubectl runs the kubectl the Makefile built against the dev kubeconfig.
func (e *devEnv) kubectl(args ...string) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.kubectlBin, append([]string{"--kubeconfig", filepath.Join(e.dir, "kubeconfig")}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		e.t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// waitAccepted waits until meshd reports Accepted=True on an object; extra holds
// kubectl arguments such as "-n", namespace.
func (e *devEnv) waitAccepted(obj string, extra ...string) {
	e.t.Helper()
	testutil.Eventually(e.t, 30*time.Second, func() error {
		args := append([]string{"get", obj, "-o", `jsonpath={.status.conditions[?(@.type=="Accepted")].status}`}, extra...)
		if got := e.kubectl(args...); got != "True" {
			return fmt.Errorf("%s %v: Accepted=%q", obj, extra, got)
		}
		return nil
	})
}

// leftovers lists processes whose command line names the dev folder.
func (e *devEnv) leftovers() []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, ent := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte(e.dir)) {
			continue
		}
		stat, _ := os.ReadFile(filepath.Join("/proc", ent.Name(), "stat"))
		if bytes.Contains(stat, []byte(") Z ")) {
			continue // a zombie: already exited
		}
		out = append(out, ent.Name()+": "+string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
	}
	return out
}

// killLeftovers makes sure a failed test leaves no etcd or kube-apiserver running.
func (e *devEnv) killLeftovers() {
	for _, l := range e.leftovers() {
		var pid int
		if _, err := fmt.Sscanf(l, "%d:", &pid); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// kubectlFails runs kubectl with stdin, expects it to fail and returns its output.
func (e *devEnv) kubectlFails(stdin []byte, args ...string) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.kubectlBin, append([]string{"--kubeconfig", filepath.Join(e.dir, "kubeconfig")}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err == nil {
		e.t.Fatalf("kubectl %s succeeded, want a refusal:\n%s", strings.Join(args, " "), out)
	}
	return string(out)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
