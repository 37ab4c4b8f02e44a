package inject

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Annotations and labels injection writes (or reads back).
const (
	annotationStatus           = "sidecar.istio.io/status"
	annotationRevision         = "istio.io/rev"
	annotationDefaultContainer = "kubectl.kubernetes.io/default-container"
	annotationDefaultLogs      = "kubectl.kubernetes.io/default-logs-container"
	annotationMergeMetrics     = "prometheus.istio.io/merge-metrics"

	labelTLSMode           = "security.istio.io/tlsMode"
	labelCanonicalName     = "service.istio.io/canonical-name"
	labelCanonicalRevision = "service.istio.io/canonical-revision"
	labelNetwork           = "topology.istio.io/network"

	// prometheusAnnotationsEnv hands the app's own scrape settings to the agent, which
	// scrapes the app there and serves both sets of metrics on :15020/stats/prometheus.
	prometheusAnnotationsEnv = "ISTIO_PROMETHEUS_ANNOTATIONS"
	mergedMetricsPath        = "/stats/prometheus"
)

// injectionStatus is the sidecar.istio.io/status annotation: what was injected, so
// tools (and re-injection) can tell injected parts from the user's.
type injectionStatus struct {
	InitContainers   []string `json:"initContainers"`
	Containers       []string `json:"containers"`
	Volumes          []string `json:"volumes"`
	ImagePullSecrets []string `json:"imagePullSecrets"`
	Revision         string   `json:"revision"`
}

// applyMetadata sets the annotations and labels of Istio's template on out, reading the
// user's values from orig.
func applyMetadata(out, orig *corev1.Pod, s settings, cfg Config, w workload, status injectionStatus) {
	if out.Annotations == nil {
		out.Annotations = map[string]string{}
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	a, l := out.Annotations, out.Labels

	a[annotationRevision] = cfg.revisionName()
	// kubectl exec/logs should land in the app, not the proxy.
	if apps := appContainers(orig); len(apps) > 0 {
		setDefault(a, annotationDefaultLogs, apps[0].Name)
		setDefault(a, annotationDefaultContainer, apps[0].Name)
	}
	if cfg.CNIEnabled {
		// The CNI plugin has no template: it programs iptables from these annotations.
		a[annotationInterceptionMode] = s.interceptionMode
		if s.includeOutboundIPRanges != "" {
			a[annotationIncludeOutCIDRs] = s.includeOutboundIPRanges
		}
		if s.excludeOutboundIPRanges != "" {
			a[annotationExcludeOutCIDRs] = s.excludeOutboundIPRanges
		}
		a[annotationIncludeInPorts] = s.includeInboundPorts
		a[annotationExcludeInPorts] = s.excludedInboundPorts()
	}
	b, _ := json.Marshal(status) // cannot fail: strings only
	a[annotationStatus] = string(b)

	setDefault(l, labelTLSMode, "istio") // peers may send mTLS to this pod
	l[labelCanonicalName] = canonicalName(orig, w)
	l[labelCanonicalRevision] = canonicalRevision(orig)
	if nw := network(orig, cfg); nw != "" {
		l[labelNetwork] = nw
	}
}

// canonicalName names the service in telemetry: the user's label, else the usual app
// labels, else the workload (a valid label value: at most 63 characters).
func canonicalName(pod *corev1.Pod, w workload) string {
	name := firstLabel(pod, labelCanonicalName, "app.kubernetes.io/name", "app")
	if name == "" {
		name = w.Name
	}
	if len(name) > 63 {
		name = name[:63]
	}
	return strings.TrimRight(name, "-")
}

func canonicalRevision(pod *corev1.Pod) string {
	if v := firstLabel(pod, labelCanonicalRevision, "app.kubernetes.io/version", "version"); v != "" {
		return v
	}
	return "latest"
}

func firstLabel(pod *corev1.Pod, keys ...string) string {
	for _, k := range keys {
		if v := pod.Labels[k]; v != "" {
			return v
		}
	}
	return ""
}

func setDefault(m map[string]string, k, v string) {
	if _, ok := m[k]; !ok {
		m[k] = v
	}
}

// applyPrometheusMerge points Prometheus' pod annotations at the agent's merged metrics
// endpoint, handing the app's own settings to the agent, as Istio's metrics merging
// does. It stays out when the user turned scraping or merging off, or when the
// annotations already point at the agent.
func applyPrometheusMerge(pod *corev1.Pod, proxy *corev1.Container) {
	a := pod.Annotations
	if v, ok := a[annotationMergeMetrics]; ok {
		if merge, err := strconv.ParseBool(v); err == nil && !merge {
			return
		}
	}
	// Prometheus reads prometheus.io/scrape, prometheus-io/scrape, ... alike.
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic when several spellings are present
	var scrape struct {
		Scrape string `json:"scrape"`
		Path   string `json:"path"`
		Port   string `json:"port"`
	}
	var found []string
	for _, k := range keys {
		switch sanitizeLabelName(k) {
		case "prometheus_io_scrape":
			scrape.Scrape = a[k]
		case "prometheus_io_path":
			scrape.Path = a[k]
		case "prometheus_io_port":
			scrape.Port = a[k]
		default:
			continue
		}
		found = append(found, k)
	}
	if on, err := strconv.ParseBool(scrape.Scrape); err == nil && !on {
		return
	}
	target := strconv.Itoa(statusPort)
	if scrape.Port == target {
		return
	}
	if len(found) > 0 {
		b, _ := json.Marshal(scrape) // cannot fail: strings only
		proxy.Env = append(proxy.Env, corev1.EnvVar{Name: prometheusAnnotationsEnv, Value: string(b)})
	}
	if a == nil {
		a = map[string]string{}
		pod.Annotations = a
	}
	// Drop every spelling first: with two, Prometheus would pick one at random.
	for _, k := range found {
		delete(a, k)
	}
	a["prometheus.io/scrape"] = "true"
	a["prometheus.io/port"] = target
	a["prometheus.io/path"] = mergedMetricsPath
}

// sanitizeLabelName maps an annotation name to the label name Prometheus derives from
// it: anything outside [a-zA-Z0-9_] becomes '_'.
func sanitizeLabelName(k string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			return r
		}
		return '_'
	}, k)
}
