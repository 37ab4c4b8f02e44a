package inject

import (
	corev1 "k8s.io/api/core/v1"
)

// Labels that select pods for injection.
const (
	labelInjection   = "istio-injection"         // namespace: enabled | disabled
	labelRevision    = "istio.io/rev"            // namespace or pod: a revision (or tag)
	labelInject      = "sidecar.istio.io/inject" // pod: true | false
	labelDataplane   = "istio.io/dataplane-mode" // pod or namespace: ambient | none
	annotationInject = "sidecar.istio.io/inject" // pod, deprecated: the label wins
	dataplaneAmbient = "ambient"
	injectionEnabled = "enabled"
	injectValueFalse = "false"
	injectValueTrue  = "true"
	systemNamespace  = "kube-system"
	publicNamespace  = "kube-public"
)

// Decision says whether a pod is injected and why (for logs and tests).
type Decision struct {
	Inject bool
	Reason string
}

// Decide applies Istio's rules: first the four selectors of Istio's injection webhook
// configuration (revisionLabelPreference "namespace", Istio's default), which the API
// server would apply before calling the webhook, then the injector's own checks (policy
// "enabled"). Applying the selectors here too keeps the answer right whatever selectors
// the webhook configuration was installed with. ns may be nil (no labels).
func Decide(pod *corev1.Pod, ns *corev1.Namespace, cfg Config) Decision {
	if pod == nil {
		return Decision{Reason: "no pod"}
	}
	if done, why := alreadyInjected(pod); done {
		return Decision{Reason: why}
	}
	// iptables in a host-network pod would rewrite the node's rules.
	if pod.Spec.HostNetwork {
		return Decision{Reason: "pod uses the host network"}
	}
	nsName, nsLabels := pod.Namespace, map[string]string(nil)
	if ns != nil {
		nsLabels = ns.Labels
		if ns.Name != "" {
			nsName = ns.Name
		}
	}
	if nsName == systemNamespace || nsName == publicNamespace {
		return Decision{Reason: "namespace " + nsName + " is never injected"}
	}
	// meshd leaves ambient pods to ztunnel; a pod opts out of its namespace's ambient
	// mode with its own istio.io/dataplane-mode label.
	if mode, ok := pod.Labels[labelDataplane]; ok {
		if mode == dataplaneAmbient {
			return Decision{Reason: "pod is in ambient mode (" + labelDataplane + "=ambient)"}
		}
	} else if nsLabels[labelDataplane] == dataplaneAmbient {
		return Decision{Reason: "namespace is in ambient mode (" + labelDataplane + "=ambient)"}
	}

	d := selected(pod.Labels, nsLabels, cfg)
	// The injector still honours the deprecated annotation, which selectors cannot see.
	if d.Inject && !hasLabel(pod.Labels, labelInject) && pod.Annotations[annotationInject] == injectValueFalse {
		return Decision{Reason: "pod annotation " + annotationInject + "=false"}
	}
	return d
}

// selected evaluates Istio's webhook selectors for this revision:
//   - namespace.*      (default revision) ns istio-injection=enabled, pod inject!=false
//   - rev.namespace.*  ns istio.io/rev=<rev>, no istio-injection, pod inject!=false
//   - rev.object.*     ns has neither label, pod istio.io/rev=<rev>, pod inject!=false
//   - object.*         (default revision) ns has neither label, pod inject=true, no pod rev
//
// A namespace label therefore always wins over the pod's istio.io/rev.
func selected(podLabels, nsLabels map[string]string, cfg Config) Decision {
	rev := cfg.revisionName()
	isDefault := rev == defaultRevision
	podInject, podRev := podLabels[labelInject], podLabels[labelRevision]
	if hasLabel(podLabels, labelInject) && podInject == injectValueFalse {
		return Decision{Reason: "pod label " + labelInject + "=false"}
	}
	if v, ok := nsLabels[labelInjection]; ok {
		switch {
		case v != injectionEnabled:
			return Decision{Reason: "namespace label " + labelInjection + "=" + v}
		case !isDefault:
			return Decision{Reason: "namespace label " + labelInjection + "=enabled selects the default revision, not " + rev}
		}
		return Decision{Inject: true, Reason: "namespace label " + labelInjection + "=enabled"}
	}
	if v, ok := nsLabels[labelRevision]; ok {
		if v != rev {
			return Decision{Reason: "namespace label " + labelRevision + "=" + v + " selects another revision than " + rev}
		}
		return Decision{Inject: true, Reason: "namespace label " + labelRevision + "=" + v}
	}
	if hasLabel(podLabels, labelRevision) {
		if podRev != rev {
			return Decision{Reason: "pod label " + labelRevision + "=" + podRev + " selects another revision than " + rev}
		}
		return Decision{Inject: true, Reason: "pod label " + labelRevision + "=" + podRev}
	}
	if podInject == injectValueTrue {
		if !isDefault {
			return Decision{Reason: "pod label " + labelInject + "=true selects the default revision, not " + rev}
		}
		return Decision{Inject: true, Reason: "pod label " + labelInject + "=true"}
	}
	return Decision{Reason: "neither the namespace nor the pod asks for injection"}
}

func hasLabel(labels map[string]string, k string) bool {
	_, ok := labels[k]
	return ok
}
