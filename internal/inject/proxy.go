package inject

import (
	"encoding/json"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// proxyContainer is istio-proxy: pilot-agent, which starts Envoy, serves it SDS and
// answers the kubelet's probes. Its environment is what pilot-agent reads to find meshd
// (PROXY_CONFIG's discoveryAddress, CA_ADDR) and to describe the workload to it (the
// ISTIO_META_* node metadata).
func proxyContainer(pod *corev1.Pod, s settings, cfg Config, w workload) *corev1.Container {
	c := &corev1.Container{
		Name:  ProxyContainerName,
		Image: s.image,
		Args: []string{
			"proxy", "sidecar",
			"--domain", "$(POD_NAMESPACE).svc." + cfg.ClusterDomain,
			"--proxyLogLevel=" + s.logLevel,
			"--proxyComponentLogLevel=" + s.componentLog,
			"--log_output_level=" + s.agentLogLevel,
		},
		// Istio's template declares only Envoy's stats port; the agent's status port and
		// Envoy's health port are declared too so they show up for tooling and
		// NetworkPolicies. Names stay short and istio-prefixed to avoid clashes with the
		// application's port names.
		Ports: []corev1.ContainerPort{
			{Name: "http-envoy-prom", ContainerPort: envoyPromPort, Protocol: corev1.ProtocolTCP},
			{Name: "istio-health", ContainerPort: healthPort, Protocol: corev1.ProtocolTCP},
			{Name: "istio-status", ContainerPort: statusPort, Protocol: corev1.ProtocolTCP},
		},
		Env:       proxyEnv(pod, s, cfg, w),
		Resources: *s.resources.DeepCopy(),
		// The kubelet holds the pod (and, for a native sidecar, the app containers)
		// until Envoy has its config; then readiness follows Envoy's.
		StartupProbe:    healthProbe(1, 600),
		ReadinessProbe:  healthProbe(15, 4),
		SecurityContext: proxySecurityContext(s),
		VolumeMounts:    volumeMounts(),
	}
	if s.native {
		c.RestartPolicy = ptrTo(corev1.ContainerRestartPolicyAlways)
		// A native sidecar outlives the app: start draining when the pod is deleted,
		// and it is stopped only once the app containers have exited.
		c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{
			Command: []string{"pilot-agent", "request", "--debug-port=" + strconv.Itoa(statusPort), "POST", "drain"},
		}}}
	}
	return c
}

func healthProbe(period, failures int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: "/healthz/ready",
			Port: intstr.FromInt32(healthPort),
		}},
		PeriodSeconds:    period,
		TimeoutSeconds:   3,
		FailureThreshold: failures,
	}
}

// proxySecurityContext runs the proxy as uid 1337 with no capabilities (iptables
// exempts that uid); TPROXY needs root with NET_ADMIN to set IP_TRANSPARENT.
func proxySecurityContext(s settings) *corev1.SecurityContext {
	sc := &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptrTo(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		Privileged:               ptrTo(false),
		ReadOnlyRootFilesystem:   ptrTo(true),
		RunAsGroup:               ptrTo[int64](proxyUID),
		RunAsNonRoot:             ptrTo(true),
		RunAsUser:                ptrTo[int64](proxyUID),
	}
	if s.interceptionMode == modeTProxy {
		sc.Capabilities.Add = []corev1.Capability{"NET_ADMIN"}
		sc.RunAsNonRoot = ptrTo(false)
		sc.RunAsUser = ptrTo[int64](0)
	}
	return sc
}

// proxyEnv is the agent's environment, in Istio's template order (stable, so the
// webhook's patches are too).
func proxyEnv(pod *corev1.Pod, s settings, cfg Config, w workload) []corev1.EnvVar {
	field := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
	}
	res := func(name, r string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: r}}}
	}
	apps := appContainers(pod)
	names := make([]string, 0, len(apps))
	for _, c := range apps {
		names = append(names, c.Name)
	}
	env := []corev1.EnvVar{
		{Name: "PILOT_CERT_PROVIDER", Value: "istiod"}, // the root cert comes from the CA's ConfigMap
		{Name: "CA_ADDR", Value: cfg.DiscoveryAddress}, // meshd is the CA too
		field("POD_NAME", "metadata.name"),
		field("POD_NAMESPACE", "metadata.namespace"),
		field("INSTANCE_IP", "status.podIP"),
		field("SERVICE_ACCOUNT", "spec.serviceAccountName"),
		field("HOST_IP", "status.hostIP"),
		res("ISTIO_CPU_LIMIT", "limits.cpu"),
		{Name: "PROXY_CONFIG", Value: proxyConfigJSON(s, cfg)},
		{Name: "ISTIO_META_POD_PORTS", Value: podPortsJSON(apps)},
		{Name: "ISTIO_META_APP_CONTAINERS", Value: strings.Join(names, ",")},
		// The agent sizes its Go runtime to the container's limits.
		res("GOMEMLIMIT", "limits.memory"),
		res("GOMAXPROCS", "limits.cpu"),
		{Name: "ISTIO_META_CLUSTER_ID", Value: cfg.ClusterID},
		field("ISTIO_META_NODE_NAME", "spec.nodeName"),
		{Name: "ISTIO_META_INTERCEPTION_MODE", Value: s.interceptionMode},
	}
	if nw := network(pod, cfg); nw != "" {
		env = append(env, corev1.EnvVar{Name: "ISTIO_META_NETWORK", Value: nw})
	}
	if w.Name != "" {
		env = append(env,
			corev1.EnvVar{Name: "ISTIO_META_WORKLOAD_NAME", Value: w.Name},
			corev1.EnvVar{Name: "ISTIO_META_OWNER", Value: w.owner()})
	}
	meshID := cfg.MeshID
	if meshID == "" {
		meshID = cfg.TrustDomain
	}
	return append(env,
		corev1.EnvVar{Name: "ISTIO_META_MESH_ID", Value: meshID},
		corev1.EnvVar{Name: "TRUST_DOMAIN", Value: cfg.TrustDomain})
}

// proxyConfigJSON is the PROXY_CONFIG the agent overlays on its mesh defaults
// (ProxyConfig in protobuf JSON). discoveryAddress is what points the sidecar at meshd
// instead of istiod.
func proxyConfigJSON(s settings, cfg Config) string {
	pc := struct {
		DiscoveryAddress string `json:"discoveryAddress"`
		InterceptionMode string `json:"interceptionMode,omitempty"`
	}{DiscoveryAddress: cfg.DiscoveryAddress}
	if s.interceptionMode != modeRedirect { // REDIRECT is the proto default, omitted as protojson does
		pc.InterceptionMode = s.interceptionMode
	}
	b, _ := json.Marshal(pc) // cannot fail: two strings
	return string(b)
}

// podPortsJSON lists the app containers' ports, which the agent reports to meshd so
// inbound listeners know each port's name (and so its protocol).
func podPortsJSON(apps []corev1.Container) string {
	ports := []corev1.ContainerPort{}
	for _, c := range apps {
		ports = append(ports, c.Ports...)
	}
	b, _ := json.Marshal(ports) // cannot fail: plain struct
	return string(b)
}

// network is the pod's network: its topology.istio.io/network label, else the mesh's.
func network(pod *corev1.Pod, cfg Config) string {
	if nw, ok := pod.Labels[labelNetwork]; ok {
		return nw
	}
	return cfg.Network
}
