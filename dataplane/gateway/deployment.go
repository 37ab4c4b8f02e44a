package gateway

import (
	"encoding/json"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/meshd-io/meshd/dataplane/internal/manifest"
)

// ContainerName is the proxy container, as Istio names it.
const ContainerName = "istio-proxy"

// proxyUID runs the proxy, Istio's.
const proxyUID = 1337

// Scratch volumes pilot-agent and Envoy write to, the root filesystem being read-only,
// and the pod's own labels, which the agent sends meshd as node metadata (the gateway
// is found by its gateway-name label).
const (
	volWorkloadSocket   = "workload-socket"   // the agent's SDS socket for Envoy
	volCredentialSocket = "credential-socket" // optional external credentials
	volWorkloadCerts    = "workload-certs"    // file-mounted certificates, if any
	volEnvoy            = "istio-envoy"       // Envoy's bootstrap
	volData             = "istio-data"        // the agent's scratch space
	volPodInfo          = "istio-podinfo"     // the pod's labels and annotations
)

// proxyResources are Istio's default proxy requests and limits; GOMEMLIMIT and
// GOMAXPROCS follow the limits.
var proxyResources = corev1.ResourceRequirements{
	Requests: corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("100m"),
		corev1.ResourceMemory: resource.MustParse("128Mi"),
	},
	Limits: corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("2"),
		corev1.ResourceMemory: resource.MustParse("1Gi"),
	},
}

// deployment runs the proxy. Replicas are left to the API server's default (one) so
// that kubectl scale or an autoscaler can change them, as with Istio's gateways.
func (r *rendering) deployment() *appsv1.Deployment {
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: r.meta(nil),
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: r.selector()},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: r.podLabels(), Annotations: r.podAnnotations()},
				Spec:       r.podSpec(),
			},
		},
	}
}

// podLabels: Istio's defaults, which the infrastructure labels may override, then the
// Gateway's identity, which they may not. The pod is never given a sidecar, and
// ztunnel leaves it alone: the proxy speaks mTLS and HBONE itself.
func (r *rendering) podLabels() map[string]string {
	defaults := map[string]string{
		LabelInject:       "false",
		LabelDataplane:    "none",
		LabelCanonicalSvc: r.name,
		LabelCanonicalRev: "latest",
	}
	return manifest.Merge(defaults, r.infraLabels(), r.identity())
}

// podAnnotations: the infrastructure annotations and Prometheus' scrape settings for
// the agent's merged metrics.
func (r *rendering) podAnnotations() map[string]string {
	return manifest.Merge(r.infraAnnotations(), map[string]string{
		"prometheus.io/path":   "/stats/prometheus",
		"prometheus.io/port":   strconv.Itoa(PortAgentMetrics),
		"prometheus.io/scrape": "true",
	})
}

func (r *rendering) podSpec() corev1.PodSpec {
	sc := &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	if !r.waypoint {
		// Listeners on ports below 1024 (80, 443) bind as the unprivileged proxy user.
		sc.Sysctls = []corev1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}}
	}
	return corev1.PodSpec{
		ServiceAccountName: r.name,
		SecurityContext:    sc,
		Containers:         []corev1.Container{r.container()},
		Volumes: []corev1.Volume{
			manifest.EmptyDir(volWorkloadSocket, false),
			manifest.EmptyDir(volCredentialSocket, false),
			manifest.EmptyDir(volWorkloadCerts, false),
			// In memory: the SDS channel must not touch the node's disk.
			manifest.EmptyDir(volEnvoy, true),
			manifest.EmptyDir(volData, false),
			{Name: volPodInfo, VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
				Items: []corev1.DownwardAPIVolumeFile{
					{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
					{Path: "annotations", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations"}},
				},
			}}},
			manifest.Token(),
			manifest.RootCert(),
		},
	}
}

func (r *rendering) container() corev1.Container {
	mode := "router"
	if r.waypoint {
		mode = "waypoint"
	}
	args := []string{"proxy", mode, "--domain", "$(POD_NAMESPACE).svc." + r.clusterDomain}
	if r.waypoint {
		args = append(args, "--serviceCluster", r.name+".$(POD_NAMESPACE)")
	}
	args = append(args, "--proxyLogLevel", string(r.proxy.LogLevel))

	ports := []corev1.ContainerPort{
		{Name: "metrics", ContainerPort: PortAgentMetrics, Protocol: corev1.ProtocolTCP},
		{Name: "status-port", ContainerPort: PortStatus, Protocol: corev1.ProtocolTCP},
		{Name: "http-envoy-prom", ContainerPort: PortEnvoyProm, Protocol: corev1.ProtocolTCP},
	}
	for _, p := range r.listenerPorts() {
		ports = append(ports, corev1.ContainerPort{Name: p.name, ContainerPort: p.port, Protocol: corev1.ProtocolTCP})
	}
	return corev1.Container{
		Name:           ContainerName,
		Image:          r.proxy.Image,
		Args:           args,
		Ports:          ports,
		Env:            r.env(),
		Resources:      *proxyResources.DeepCopy(),
		StartupProbe:   readyProbe(1, 1, 30),
		ReadinessProbe: readyProbe(0, 15, 4),
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			Privileged:               ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			RunAsGroup:               ptr.To[int64](proxyUID),
			RunAsNonRoot:             ptr.To(true),
			RunAsUser:                ptr.To[int64](proxyUID),
		},
		VolumeMounts: []corev1.VolumeMount{
			manifest.Mount(volWorkloadSocket, "/var/run/secrets/workload-spiffe-uds"),
			manifest.Mount(volCredentialSocket, "/var/run/secrets/credential-uds"),
			manifest.Mount(volWorkloadCerts, "/var/run/secrets/workload-spiffe-credentials"),
			manifest.Mount(manifest.RootCertVolume, manifest.RootCertMountPath),
			manifest.Mount(volData, "/var/lib/istio/data"),
			manifest.Mount(volEnvoy, "/etc/istio/proxy"),
			manifest.Mount(manifest.TokenVolume, manifest.TokenMountPath),
			manifest.Mount(volPodInfo, "/etc/istio/pod"),
		},
	}
}

// readyProbe asks the agent whether Envoy is ready, with Istio's timings.
func readyProbe(delay, period, failures int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path:   "/healthz/ready",
			Port:   intstr.FromInt32(PortStatus),
			Scheme: corev1.URISchemeHTTP,
		}},
		InitialDelaySeconds: delay,
		PeriodSeconds:       period,
		TimeoutSeconds:      1,
		SuccessThreshold:    1,
		FailureThreshold:    failures,
	}
}

// env is pilot-agent's environment, in the order of Istio's templates: where meshd is
// (PROXY_CONFIG's discoveryAddress, CA_ADDR: meshd is the CA too) and the node metadata
// describing the workload.
func (r *rendering) env() []corev1.EnvVar {
	return []corev1.EnvVar{
		manifest.Env("PILOT_CERT_PROVIDER", "istiod"), // the root comes from istio-ca-root-cert
		manifest.Env("CA_ADDR", r.discovery),
		manifest.FieldEnv("POD_NAME", "metadata.name"),
		manifest.FieldEnv("POD_NAMESPACE", "metadata.namespace"),
		manifest.FieldEnv("INSTANCE_IP", "status.podIP"),
		manifest.FieldEnv("SERVICE_ACCOUNT", "spec.serviceAccountName"),
		manifest.FieldEnv("HOST_IP", "status.hostIP"),
		manifest.ResourceEnv("ISTIO_CPU_LIMIT", "limits.cpu"),
		manifest.Env("PROXY_CONFIG", r.proxyConfig()),
		manifest.Env("ISTIO_META_POD_PORTS", "[]"),
		manifest.ResourceEnv("GOMEMLIMIT", "limits.memory"),
		manifest.ResourceEnv("GOMAXPROCS", "limits.cpu"),
		manifest.Env("ISTIO_META_CLUSTER_ID", "Kubernetes"),
		manifest.FieldEnv("ISTIO_META_NODE_NAME", "spec.nodeName"),
		manifest.Env("ISTIO_META_INTERCEPTION_MODE", "REDIRECT"),
		manifest.Env("ISTIO_META_WORKLOAD_NAME", r.name),
		manifest.Env("ISTIO_META_OWNER", "kubernetes://apis/apps/v1/namespaces/"+r.gw.Namespace+"/deployments/"+r.name),
		manifest.Env("ISTIO_META_MESH_ID", r.trustDomain),
		manifest.Env("TRUST_DOMAIN", r.trustDomain),
	}
}

// proxyConfig is PROXY_CONFIG, the ProxyConfig (protobuf JSON) the agent overlays on
// its defaults: it points the proxy at meshd instead of istiod.
func (r *rendering) proxyConfig() string {
	b, _ := json.Marshal(struct {
		DiscoveryAddress string `json:"discoveryAddress"`
	}{r.discovery}) // cannot fail: one string
	return string(b)
}
