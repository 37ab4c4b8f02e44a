package model

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ExportToAnnotation is Istio's per-Service exportTo.
const ExportToAnnotation = "networking.istio.io/exportTo"

// ServiceFromKube converts a Kubernetes Service. Headless and ExternalName services
// are converted too; their addressing is the generators' concern.
func ServiceFromKube(s *corev1.Service, clusterDomain string) *Service {
	out := &Service{
		Name: s.Name, Namespace: s.Namespace,
		Hostname:    s.Name + "." + s.Namespace + ".svc." + clusterDomain,
		ClusterIP:   s.Spec.ClusterIP,
		UseWaypoint: s.Labels[LabelUseWaypoint], UseWaypointNamespace: s.Labels[LabelUseWaypointNamespace],
	}
	if v := s.Annotations[ExportToAnnotation]; v != "" {
		for _, e := range strings.Split(v, ",") {
			if e = strings.TrimSpace(e); e != "" {
				out.ExportTo = append(out.ExportTo, e)
			}
		}
	}
	for _, p := range s.Spec.Ports {
		if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
			continue // the mesh carries TCP only
		}
		appProtocol := ""
		if p.AppProtocol != nil {
			appProtocol = *p.AppProtocol
		}
		out.Ports = append(out.Ports, ServicePort{Name: p.Name, Port: uint32(p.Port), Protocol: InferProtocol(p.Name, appProtocol)})
	}
	return out
}

// InferProtocol applies Istio's protocol selection: appProtocol first, then the port
// name's prefix before "-" (http, http2, grpc, https, tls, tcp, ...).
func InferProtocol(portName, appProtocol string) Protocol {
	if p := protocolName(appProtocol); p != ProtocolUnknown {
		return p
	}
	name, _, _ := strings.Cut(portName, "-")
	return protocolName(name)
}

func protocolName(s string) Protocol {
	switch strings.ToLower(s) {
	case "http", "http-web":
		return ProtocolHTTP
	case "http2", "h2c", "kubernetes.io/h2c":
		return ProtocolHTTP2
	case "grpc", "grpc-web":
		return ProtocolGRPC
	case "https":
		return ProtocolHTTPS
	case "tls":
		return ProtocolTLS
	case "tcp", "mongo", "mysql", "redis":
		return ProtocolTCP
	}
	return ProtocolUnknown
}

// TrimPod is the informer transform for Pods: it keeps only what discovery reads
// (identity, labels, service account, node, phase, readiness), so the cache does not
// hold every pod's full spec and status. A mesh of thousands of pods otherwise spends most of the
// control plane's memory on fields it never reads.
func TrimPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil // tombstones pass through
	}
	return &corev1.Pod{
		TypeMeta: pod.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID, ResourceVersion: pod.ResourceVersion,
			Labels: pod.Labels, CreationTimestamp: pod.CreationTimestamp, DeletionTimestamp: pod.DeletionTimestamp,
		},
		Spec: corev1.PodSpec{ServiceAccountName: pod.Spec.ServiceAccountName, NodeName: pod.Spec.NodeName, HostNetwork: pod.Spec.HostNetwork},
		Status: corev1.PodStatus{Phase: pod.Status.Phase, PodIP: pod.Status.PodIP, PodIPs: pod.Status.PodIPs,
			Conditions: readyCondition(pod.Status.Conditions)},
	}, nil
}

// readyCondition keeps only the pod's Ready condition (ambient workload health).
func readyCondition(cs []corev1.PodCondition) []corev1.PodCondition {
	for _, c := range cs {
		if c.Type == corev1.PodReady {
			return []corev1.PodCondition{{Type: c.Type, Status: c.Status}}
		}
	}
	return nil
}
