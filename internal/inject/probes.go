package inject

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// kubeAppProbersEnv carries the original probes to the agent, keyed by the path the
// kubelet now calls (pilot-agent's status.KubeAppProberEnvName).
const kubeAppProbersEnv = "ISTIO_KUBE_APP_PROBERS"

// appProber is one original probe as pilot-agent reads it (status.Prober).
type appProber struct {
	HTTPGet        *corev1.HTTPGetAction   `json:"httpGet,omitempty"`
	TCPSocket      *corev1.TCPSocketAction `json:"tcpSocket,omitempty"`
	GRPC           *corev1.GRPCAction      `json:"grpc,omitempty"`
	TimeoutSeconds int32                   `json:"timeoutSeconds,omitempty"`
}

// rewriteProbes points the app containers' probes at the agent's status port. With
// mTLS the kubelet (which has no mesh certificate) could not reach an intercepted port
// itself, and a TCP probe would only test Envoy; the agent runs the original probe from
// inside the pod and answers on /app-health/<container>/<readyz|livez|startupz>.
func rewriteProbes(pod *corev1.Pod, s settings, proxy *corev1.Container) error {
	if !s.rewriteProbes {
		return nil
	}
	intercepted, err := interceptedInboundPort(s)
	if err != nil {
		return err
	}
	probers := map[string]appProber{}
	rewrite := func(c *corev1.Container) {
		base := "/app-health/" + c.Name + "/"
		for _, p := range []struct {
			probe **corev1.Probe
			path  string
		}{
			{&c.ReadinessProbe, base + "readyz"},
			{&c.LivenessProbe, base + "livez"},
			{&c.StartupProbe, base + "startupz"},
		} {
			orig, ok := recordProbe(*p.probe, c.Ports, intercepted)
			if !ok {
				continue
			}
			probers[p.path] = orig
			*p.probe = agentProbe(*p.probe, p.path)
		}
	}
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name != ProxyContainerName {
			rewrite(&pod.Spec.Containers[i])
		}
	}
	// Sidecar-style init containers (restartPolicy Always) run beside the app and may
	// have probes too; plain init containers cannot.
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if c.Name != ProxyContainerName && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			rewrite(c)
		}
	}
	if len(probers) == 0 {
		return nil
	}
	b, err := json.Marshal(probers) // map keys are sorted: deterministic
	if err != nil {
		return err
	}
	proxy.Env = append(proxy.Env, corev1.EnvVar{Name: kubeAppProbersEnv, Value: string(b)})
	return nil
}

// recordProbe returns the probe as the agent must run it, with a named port resolved
// against the container's ports. It reports false for probes left alone: exec probes,
// ports that cannot be resolved, and ports the sidecar does not intercept (the kubelet
// reaches those directly).
func recordProbe(p *corev1.Probe, ports []corev1.ContainerPort, intercepted func(int32) bool) (appProber, bool) {
	if p == nil {
		return appProber{}, false
	}
	out := appProber{TimeoutSeconds: p.TimeoutSeconds}
	var port *intstr.IntOrString
	switch {
	case p.HTTPGet != nil:
		out.HTTPGet = p.HTTPGet.DeepCopy()
		port = &out.HTTPGet.Port
	case p.TCPSocket != nil:
		out.TCPSocket = p.TCPSocket.DeepCopy()
		port = &out.TCPSocket.Port
	case p.GRPC != nil:
		out.GRPC = p.GRPC.DeepCopy()
		return out, intercepted(out.GRPC.Port)
	default:
		return appProber{}, false
	}
	n, ok := resolvePort(*port, ports)
	if !ok || !intercepted(n) {
		return appProber{}, false
	}
	*port = intstr.FromInt32(n)
	return out, true
}

// agentProbe is the probe the kubelet runs instead: an HTTP GET on the agent's status
// port, keeping the original's timings. HTTPS becomes HTTP: the agent speaks HTTPS to
// the app itself.
func agentProbe(p *corev1.Probe, path string) *corev1.Probe {
	out := p.DeepCopy()
	if out.HTTPGet == nil {
		out.HTTPGet = &corev1.HTTPGetAction{}
	}
	out.TCPSocket, out.GRPC = nil, nil
	out.HTTPGet.Path = path
	out.HTTPGet.Port = intstr.FromInt32(statusPort)
	if out.HTTPGet.Scheme == corev1.URISchemeHTTPS {
		out.HTTPGet.Scheme = corev1.URISchemeHTTP
	}
	return out
}

func resolvePort(p intstr.IntOrString, ports []corev1.ContainerPort) (int32, bool) {
	if p.Type == intstr.Int {
		return p.IntVal, p.IntVal > 0
	}
	for _, cp := range ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort, true
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil && n > 0 && n <= 65535 {
		return int32(n), true
	}
	return 0, false
}

// interceptedInboundPort reports whether iptables sends a port's inbound traffic to the
// proxy, from the interception mode and the include/exclude inbound port annotations.
func interceptedInboundPort(s settings) (func(int32) bool, error) {
	include, err := parsePorts(s.includeInboundPorts, true)
	if err != nil {
		return nil, err
	}
	exclude, err := parsePorts(s.excludeInboundPorts, false)
	if err != nil {
		return nil, err
	}
	all := strings.TrimSpace(s.includeInboundPorts) == "*"
	return func(p int32) bool {
		if s.interceptionMode == modeNone || slices.Contains(exclude, p) {
			return false
		}
		return all || slices.Contains(include, p)
	}, nil
}
