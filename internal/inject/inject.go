package inject

import (
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// Config is what injection needs from the mesh and meshd's deployment.
type Config struct {
	ProxyImage                 string // istio proxyv2 image, from the Mesh resource (api/meshd/v1alpha1 DefaultProxyImage)
	ProxyLogLevel              string // e.g. "warning"
	Revision                   string // meshd's revision; "" is the default revision
	DiscoveryAddress           string // meshd's xDS+CA address as the agent dials it, e.g. "meshd.istio-system.svc:15012"
	TrustDomain                string // "cluster.local"
	ClusterDomain              string // "cluster.local"
	MeshID, ClusterID, Network string // optional, default "" / "Kubernetes"
	CNIEnabled                 bool   // Istio CNI installed: no istio-init, istio-validation init container instead
	NativeSidecars             bool   // default for native sidecar (init container with restartPolicy Always)
}

// Names Istio gives to what it injects; pilot-agent, istioctl and kubectl users rely on them.
const (
	ProxyContainerName      = "istio-proxy"
	InitContainerName       = "istio-init"
	ValidationContainerName = "istio-validation"
)

// Istio's fixed sidecar ports.
const (
	outboundPort  = 15001 // iptables redirects outbound traffic here
	inboundPort   = 15006 // ... and inbound traffic here
	statusPort    = 15020 // pilot-agent: merged metrics, app probes, drain
	healthPort    = 15021 // Envoy's readiness listener
	envoyPromPort = 15090 // Envoy's own Prometheus stats
	proxyUID      = 1337  // iptables exempts traffic from this uid (the proxy's own)
)

// Istio's defaults for what Config leaves empty.
const (
	defaultClusterID  = "Kubernetes"
	defaultDomain     = "cluster.local"
	defaultLogLevel   = "warning"
	defaultRevision   = "default"
	istioCARootConfig = "istio-ca-root-cert" // the ConfigMap the CA publishes to every namespace
)

// withDefaults fills what Config leaves empty the way Istio's values do.
func (c Config) withDefaults() Config {
	if c.ProxyLogLevel == "" {
		c.ProxyLogLevel = defaultLogLevel
	}
	if c.TrustDomain == "" {
		c.TrustDomain = defaultDomain
	}
	if c.ClusterDomain == "" {
		c.ClusterDomain = defaultDomain
	}
	if c.ClusterID == "" {
		c.ClusterID = defaultClusterID
	}
	return c
}

// revisionName is the revision as Istio writes it in labels and status: "" is "default".
func (c Config) revisionName() string {
	if c.Revision == "" {
		return defaultRevision
	}
	return c.Revision
}

// Inject returns a mutated deep copy of pod; the input is not modified. It is
// idempotent: Inject(Inject(p)) adds nothing. namespace is the pod's namespace (the
// admission request's, since a pod created from a template may not carry one yet).
func Inject(pod *corev1.Pod, namespace string, cfg Config) (*corev1.Pod, error) {
	if pod == nil {
		return nil, errors.New("inject: nil pod")
	}
	out := pod.DeepCopy()
	if injected, _ := alreadyInjected(pod); injected {
		return out, nil
	}
	cfg = cfg.withDefaults()
	if cfg.DiscoveryAddress == "" {
		return nil, errors.New("inject: no discovery address configured")
	}
	s, err := resolveSettings(pod, cfg)
	if err != nil {
		return nil, fmt.Errorf("inject: %w", err)
	}
	if namespace == "" {
		namespace = pod.Namespace
	}
	w := workloadOf(pod, namespace)

	// Everything is computed from the original pod (as Istio's template reads the pod
	// before the merge), then applied to the copy.
	proxy := proxyContainer(pod, s, cfg, w)
	if err := rewriteProbes(out, s, proxy); err != nil {
		return nil, fmt.Errorf("inject: %w", err)
	}
	applyPrometheusMerge(out, proxy)

	var injectedInits []corev1.Container
	if s.interceptionMode != modeNone {
		injectedInits = append(injectedInits, initContainer(s, cfg))
	}
	status := injectionStatus{Revision: cfg.revisionName()}
	for _, c := range injectedInits {
		status.InitContainers = append(status.InitContainers, c.Name)
	}
	if s.native {
		status.InitContainers = append(status.InitContainers, proxy.Name)
	} else {
		status.Containers = []string{proxy.Name}
	}
	vols := volumes()
	for _, v := range vols {
		status.Volumes = append(status.Volumes, v.Name)
	}

	if err := checkNameClashes(pod, injectedInits, vols); err != nil {
		return nil, fmt.Errorf("inject: %w", err)
	}
	placeContainers(out, injectedInits, *proxy, s.native)
	out.Spec.Volumes = append(out.Spec.Volumes, vols...)
	applyMetadata(out, pod, s, cfg, w, status)
	return out, nil
}

// placeContainers orders containers as Istio's reorderPod does. With a native sidecar:
// istio-init/istio-validation, then istio-proxy, then the pod's own init containers, so
// those already have the mesh. Otherwise istio-validation comes first (it blocks until
// CNI has set up the pod), istio-init last (so earlier init containers are not caught
// by iptables without a proxy), and istio-proxy after the app containers (so kubectl
// exec and logs default to the app).
func placeContainers(pod *corev1.Pod, inits []corev1.Container, proxy corev1.Container, native bool) {
	user := pod.Spec.InitContainers
	var ordered []corev1.Container
	switch {
	case native:
		ordered = append(append(append(ordered, inits...), proxy), user...)
	case len(inits) == 1 && inits[0].Name == ValidationContainerName:
		ordered = append(append(ordered, inits...), user...)
	default:
		ordered = append(append(ordered, user...), inits...)
	}
	if len(ordered) > 0 {
		pod.Spec.InitContainers = ordered
	}
	if !native {
		pod.Spec.Containers = append(pod.Spec.Containers, proxy)
	}
}

// checkNameClashes refuses a pod that already uses a name injection needs: two
// containers or volumes of one name make the pod invalid, and merging into the user's
// (as Istio's strategic merge would) could mix two volume sources.
func checkNameClashes(pod *corev1.Pod, inits []corev1.Container, vols []corev1.Volume) error {
	used := map[string]bool{}
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			used[c.Name] = true
		}
	}
	for _, c := range inits {
		if used[c.Name] {
			return fmt.Errorf("pod already has a container named %s", c.Name)
		}
	}
	for _, u := range pod.Spec.Volumes {
		for _, v := range vols {
			if u.Name == v.Name {
				return fmt.Errorf("pod already has a volume named %s", v.Name)
			}
		}
	}
	return nil
}

// alreadyInjected reports whether the pod carries Istio's injection status or an
// istio-proxy container (injected by another injector, or declared by the user).
func alreadyInjected(pod *corev1.Pod) (bool, string) {
	if _, ok := pod.Annotations[annotationStatus]; ok {
		return true, "already injected (" + annotationStatus + " is set)"
	}
	for _, cs := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for _, c := range cs {
			if c.Name == ProxyContainerName {
				return true, "already has an " + ProxyContainerName + " container"
			}
		}
	}
	return false, ""
}

// appContainers are the pod's containers other than the proxy, in order.
func appContainers(pod *corev1.Pod) []corev1.Container {
	var out []corev1.Container
	for _, c := range pod.Spec.Containers {
		if c.Name != ProxyContainerName {
			out = append(out, c)
		}
	}
	return out
}

// ptrTo returns a pointer to a copy of v (optional API fields are pointers).
func ptrTo[T any](v T) *T { return &v }
