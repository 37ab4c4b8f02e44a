// Package injection is the mutating admission webhook that adds Istio's sidecar to
// pods: it reads the pod's namespace and the Mesh settings, lets internal/inject decide
// and mutate (pure), and answers with the JSON patch from the original pod to the
// injected one. Which pods reach it is narrowed first by the webhook configuration's
// selectors (config/webhook/injection.yaml), as Istio's are.
package injection

import (
	"context"
	"encoding/json"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	meshv1alpha1 "github.com/meshd-io/meshd/api/meshd/v1alpha1"
	"github.com/meshd-io/meshd/internal/inject"
)

// Path is where the API server sends pod admission reviews.
const Path = "/inject"

// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=meshd.io,resources=meshes,verbs=get;list;watch

// Handler injects sidecars.
type Handler struct {
	// Client reads namespaces and the Mesh (from the manager's cache).
	Client client.Reader
	// Base is the deployment's part of the injection config (revision, discovery
	// address, CNI, cluster domain); the Mesh resource supplies the rest.
	Base inject.Config
}

// Handle implements admission.Handler.
func (h *Handler) Handle(ctx context.Context, req admission.Request) admission.Response {
	pod := &corev1.Pod{}
	if err := json.Unmarshal(req.Object.Raw, pod); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if pod.Namespace == "" {
		pod.Namespace = req.Namespace // pods created with generateName carry none yet
	}
	ns := &corev1.Namespace{}
	if err := h.Client.Get(ctx, client.ObjectKey{Name: req.Namespace}, ns); err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	cfg, err := h.config(ctx)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	d := inject.Decide(pod, ns, cfg)
	if !d.Inject {
		return admission.Allowed("not injected: " + d.Reason)
	}
	if pod.Spec.ServiceAccountName == "" {
		// The API server's ServiceAccount admission sets this before webhooks run; where
		// it is off, the projected istio-token volume would make the pod invalid.
		pod.Spec.ServiceAccountName = "default"
	}
	injected, err := inject.Inject(pod, req.Namespace, cfg)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	raw, err := json.Marshal(injected)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	return admission.PatchResponseFromRaw(req.Object.Raw, raw)
}

// config merges the Mesh resource's proxy settings (defaults when it is absent) into
// the deployment's.
func (h *Handler) config(ctx context.Context) (inject.Config, error) {
	mesh := &meshv1alpha1.Mesh{}
	err := h.Client.Get(ctx, client.ObjectKey{Name: meshv1alpha1.MeshName}, mesh)
	if err != nil && !apierrors.IsNotFound(err) {
		return inject.Config{}, err
	}
	spec := mesh.Spec.WithDefaults()
	cfg := h.Base
	cfg.ProxyImage = spec.Proxy.Image
	cfg.ProxyLogLevel = string(spec.Proxy.LogLevel)
	cfg.TrustDomain = spec.TrustDomain
	return cfg, nil
}
