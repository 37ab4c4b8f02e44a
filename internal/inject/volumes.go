package inject

import (
	corev1 "k8s.io/api/core/v1"
)

// Volume names and mount paths are pilot-agent's: it looks for its sockets, certificates
// and token exactly there.
const (
	volWorkloadSocket   = "workload-socket"   // SDS socket the agent serves to Envoy
	volCredentialSocket = "credential-socket" // optional socket for external credentials
	volWorkloadCerts    = "workload-certs"    // file-mounted certificates, if any
	volEnvoy            = "istio-envoy"       // Envoy's bootstrap and runtime files
	volData             = "istio-data"        // agent scratch space
	volPodInfo          = "istio-podinfo"     // the pod's labels and annotations
	volToken            = "istio-token"       // the token the agent presents to the CA
	volCACert           = "istiod-ca-cert"    // the mesh's root certificate

	tokenAudience   = "istio-ca" // the CA (meshd) accepts tokens for this audience
	tokenExpiration = 43200      // 12h, Istio's default; kubelet rotates it
)

// volumes are the pod volumes the proxy mounts, in Istio's template order.
func volumes() []corev1.Volume {
	empty := func(name string) corev1.Volume {
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
	}
	return []corev1.Volume{
		empty(volWorkloadSocket),
		empty(volCredentialSocket),
		empty(volWorkloadCerts),
		// In memory: it holds the SDS channel, which must not touch the node's disk.
		{Name: volEnvoy, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
		empty(volData),
		{Name: volPodInfo, VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
			Items: []corev1.DownwardAPIVolumeFile{
				{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
				{Path: "annotations", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations"}},
			},
		}}},
		{Name: volToken, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
				Audience:          tokenAudience,
				ExpirationSeconds: ptrTo[int64](tokenExpiration),
				Path:              volToken,
			}}},
		}}},
		{Name: volCACert, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: istioCARootConfig},
		}}},
	}
}

// volumeMounts are the proxy's mounts of those volumes, in Istio's template order.
func volumeMounts() []corev1.VolumeMount {
	return []corev1.VolumeMount{
		{Name: volWorkloadSocket, MountPath: "/var/run/secrets/workload-spiffe-uds"},
		{Name: volCredentialSocket, MountPath: "/var/run/secrets/credential-uds"},
		{Name: volWorkloadCerts, MountPath: "/var/run/secrets/workload-spiffe-credentials"},
		{Name: volCACert, MountPath: "/var/run/secrets/istio"},
		{Name: volData, MountPath: "/var/lib/istio/data"},
		{Name: volEnvoy, MountPath: "/etc/istio/proxy"},
		{Name: volToken, MountPath: "/var/run/secrets/tokens"},
		{Name: volPodInfo, MountPath: "/etc/istio/pod"},
	}
}
