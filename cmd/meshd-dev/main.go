// Command meshd-dev is `make dev`: it starts an embedded kube-apiserver and etcd from the
// binaries the Makefile built, with etcd's data under --dir so objects survive a
// restart, installs meshd's, Gateway API's and cert-manager's CRDs and meshd's webhook
// configurations (served by this process on 127.0.0.1 with a certificate made at start),
// writes <dir>/kubeconfig and runs the meshd manager against it until interrupted.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/meshd-io/meshd/internal/devcluster"
	"github.com/meshd-io/meshd/internal/manager"
)

func main() {
	dir := flag.String("dir", "bin/dev", "Folder for etcd's data, certificates and the kubeconfig.")
	assets := flag.String("assets", os.Getenv("KUBEBUILDER_ASSETS"), "Folder holding the kube-apiserver and etcd binaries.")
	crds := flag.String("crds", "config/crd/bases", "Comma-separated CRD files or folders to install.")
	kubectl := flag.String("kubectl", "kubectl", "The kubectl to suggest in the printed instructions.")
	thirdParty := flag.Bool("third-party-crds", true, "Also install Gateway API's and cert-manager's CRDs from the Go modules in go.mod.")
	webhooks := flag.String("webhooks", "config/webhook/manifests.yaml,config/webhook/injection.yaml", "Webhook configurations to install, served by this process on 127.0.0.1 (empty: none).")
	opts := manager.DefaultOptions()
	opts.LeaderElection = false
	opts.BindFlags(flag.CommandLine)
	zapOpts := zap.Options{Development: true}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	paths := strings.Split(*crds, ",")
	if *thirdParty {
		tp, err := devcluster.ThirdPartyCRDPaths(context.Background(), ".")
		if err != nil {
			fmt.Fprintln(os.Stderr, "meshd-dev:", err)
			os.Exit(1)
		}
		paths = append(paths, tp...)
	}
	var webhookPaths []string
	if *webhooks != "" && opts.WebhookPort != 0 {
		webhookPaths = strings.Split(*webhooks, ",")
	}
	if err := run(*dir, *assets, *kubectl, paths, webhookPaths, opts); err != nil {
		fmt.Fprintln(os.Stderr, "meshd-dev:", err)
		os.Exit(1)
	}
}

func run(dir, assets, kubectl string, crdPaths, webhookPaths []string, opts manager.Options) error {
	ctx := ctrl.SetupSignalHandler()
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	cluster, err := devcluster.Start(ctx, devcluster.Config{Dir: abs, AssetsDir: assets, CRDPaths: crdPaths,
		WebhookPaths: webhookPaths, WebhookPort: opts.WebhookPort})
	if err != nil {
		return err
	}
	if len(webhookPaths) > 0 {
		// The API server calls the webhooks on loopback with the certificate made for them.
		opts.WebhookHost, opts.WebhookPort, opts.WebhookCertDir = cluster.WebhookHost, cluster.WebhookPort, cluster.WebhookCertDir
	} else {
		opts.WebhookPort = 0
	}
	defer func() {
		fmt.Fprintln(os.Stderr, "meshd-dev: stopping kube-apiserver and etcd (data kept in", filepath.Join(abs, "etcd")+")")
		if err := cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "meshd-dev: stop:", err)
		}
	}()
	mgr, err := manager.New(cluster.RESTConfig, opts)
	if err != nil {
		return err
	}
	fmt.Printf("\nmeshd dev control plane is up. In another shell:\n\n"+
		"  export KUBECONFIG=%s\n  alias kubectl=%s\n"+
		"  kubectl apply --server-side -k config/samples/\n  kubectl get vs,dr,ap,pa -A\n\n"+
		"Ctrl-C stops everything; objects are kept for the next `make dev`.\n\n", cluster.KubeconfigPath, kubectl)
	return mgr.Start(ctx)
}
