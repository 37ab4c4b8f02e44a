package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/meshd-io/meshd/internal/testutil"
)

// TestDeployManifestsAccepted renders config/default with kustomize (the one built into
// kubectl) and has the real API server accept every object with a server-side dry run.
func TestDeployManifestsAccepted(t *testing.T) {
	kubectl, err := testutil.Kubectl()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := writeKubeconfig(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "istio-system"}}
	if err := env.Client.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	rendered := run(t, kubectl, nil, "kustomize", filepath.Join(testutil.RepoRoot(), "config", "default"))
	objs, err := testutil.Decode([]byte(rendered))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.GetKind()]++
	}
	for _, k := range []string{"CustomResourceDefinition", "Deployment", "ClusterRole", "ClusterRoleBinding", "ServiceAccount", "Role", "RoleBinding",
		"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "Service", "Issuer", "Certificate",
		"PodDisruptionBudget", "NetworkPolicy", "Namespace"} {
		if kinds[k] == 0 {
			t.Errorf("config/default renders no %s (got %v)", k, kinds)
		}
	}
	// The deployed configuration serves xDS only where proxies authenticate (15012).
	for _, o := range objs {
		switch o.GetKind() {
		case "Deployment":
			args, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			if !strings.Contains(fmt.Sprint(args), "--xds-address= ") && !strings.Contains(fmt.Sprint(args), "--xds-address=]") {
				t.Errorf("the manager Deployment does not turn plaintext xDS off (--xds-address=): %v", args)
			}
		case "Service":
			if strings.Contains(fmt.Sprint(o.Object["spec"]), "15010") {
				t.Errorf("Service %s exposes plaintext xDS (15010)", o.GetName())
			}
		}
	}
	if kinds["CustomResourceDefinition"] != 6 {
		t.Errorf("config/default renders %d CRDs, want 6", kinds["CustomResourceDefinition"])
	}
	out := run(t, kubectl, []byte(rendered), "--kubeconfig", kubeconfig, "apply", "--server-side", "--force-conflicts",
		"--field-manager=meshd-deploy-check", "--dry-run=server", "-f", "-")
	if n := strings.Count(out, "(server dry run)"); n != len(objs) {
		t.Errorf("dry run applied %d of %d objects:\n%s", n, len(objs), out)
	}
}

// TestMonitoringOptionRenders: the ServiceMonitor option renders config/default plus a
// ServiceMonitor that selects the metrics Service of meshd's namespace.
func TestMonitoringOptionRenders(t *testing.T) {
	kubectl, err := testutil.Kubectl()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := testutil.Decode([]byte(run(t, kubectl, nil, "kustomize", filepath.Join(testutil.RepoRoot(), "config", "default-with-monitoring"))))
	if err != nil {
		t.Fatal(err)
	}
	var monitor, metrics bool
	for _, o := range objs {
		switch {
		case o.GetKind() == "ServiceMonitor":
			monitor = o.GetNamespace() == "istio-system"
		case o.GetKind() == "Service" && o.GetName() == "meshd-metrics":
			metrics = o.GetLabels()["app.kubernetes.io/component"] == "metrics"
		}
	}
	if !monitor || !metrics {
		t.Errorf("config/default-with-monitoring: ServiceMonitor in istio-system %v, metrics Service %v", monitor, metrics)
	}
}

// run runs a command and returns its stdout followed by its stderr.
func run(t *testing.T, bin string, stdin []byte, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(bin), strings.Join(args, " "), err, out, stderr.String())
	}
	// stderr carries kubectl's warnings.
	return string(out) + stderr.String()
}

// writeKubeconfig writes an admin kubeconfig for the test API server.
func writeKubeconfig(t *testing.T) string {
	t.Helper()
	cfg := env.Config
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	return path
}
