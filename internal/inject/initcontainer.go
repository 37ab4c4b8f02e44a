package inject

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// initContainer is istio-init, which runs istio-iptables to send the pod's traffic
// through the proxy; or, with Istio CNI (which programs the rules itself, from the pod's
// annotations), istio-validation, which only checks that the rules are in place and so
// needs no privileges.
func initContainer(s settings, cfg Config) corev1.Container {
	c := corev1.Container{
		Name:      InitContainerName,
		Image:     s.image,
		Args:      iptablesArgs(s, cfg.CNIEnabled),
		Resources: *s.resources.DeepCopy(),
		SecurityContext: &corev1.SecurityContext{
			// iptables needs root with NET_ADMIN and NET_RAW, and writes to the filesystem.
			AllowPrivilegeEscalation: ptrTo(false),
			Privileged:               ptrTo(false),
			Capabilities: &corev1.Capabilities{
				Add:  []corev1.Capability{"NET_ADMIN", "NET_RAW"},
				Drop: []corev1.Capability{"ALL"},
			},
			ReadOnlyRootFilesystem: ptrTo(false),
			RunAsGroup:             ptrTo[int64](0),
			RunAsNonRoot:           ptrTo(false),
			RunAsUser:              ptrTo[int64](0),
		},
	}
	if cfg.CNIEnabled {
		c.Name = ValidationContainerName
		// Validation runs as the proxy's user, so it is checked the way real traffic is.
		c.SecurityContext.Capabilities.Add = nil
		c.SecurityContext.ReadOnlyRootFilesystem = ptrTo(true)
		c.SecurityContext.RunAsGroup = ptrTo[int64](proxyUID)
		c.SecurityContext.RunAsNonRoot = ptrTo(true)
		c.SecurityContext.RunAsUser = ptrTo[int64](proxyUID)
	}
	return c
}

// iptablesArgs are istio-iptables' arguments, in the order Istio's template writes them.
// -d always exempts Envoy's metrics and health ports and the agent's status port.
func iptablesArgs(s settings, cni bool) []string {
	args := []string{
		"istio-iptables",
		"-p", strconv.Itoa(outboundPort),
		"-z", strconv.Itoa(inboundPort),
		"-u", strconv.Itoa(proxyUID),
		"-m", s.interceptionMode,
		"-i", s.includeOutboundIPRanges,
		"-x", s.excludeOutboundIPRanges,
		"-b", s.includeInboundPorts,
		"-d", strconv.Itoa(envoyPromPort) + "," + strconv.Itoa(healthPort) + "," + s.excludedInboundPorts(),
	}
	if s.includeOutboundPorts != "" {
		args = append(args, "-q", s.includeOutboundPorts)
	}
	if s.excludeOutboundPorts != "" {
		args = append(args, "-o", s.excludeOutboundPorts)
	}
	if s.rerouteInterfaces != "" {
		args = append(args, "-k", s.rerouteInterfaces)
	}
	if s.excludeInterfaces != "" {
		args = append(args, "-c", s.excludeInterfaces)
	}
	args = append(args, "--log_output_level="+s.agentLogLevel)
	if cni {
		args = append(args, "--run-validation", "--skip-rule-apply")
	}
	return args
}
