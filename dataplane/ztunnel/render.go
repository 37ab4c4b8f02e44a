// Package ztunnel renders ztunnel, ambient mode's node proxy, as Istio's ztunnel chart
// (manifests/charts/ztunnel) lays it out with its default values: a ServiceAccount and
// a DaemonSet running on every Linux node, dialing meshd for xDS and certificates.
// Render is PURE.
//
// Left out on purpose: the chart's revisions, multi-network and multicluster settings,
// resource quotas, network policies and pod monitors, and extra volumes.
package ztunnel

import (
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1alpha1 "github.com/meshd-io/meshd/api/meshd/v1alpha1"
	"github.com/meshd-io/meshd/dataplane/internal/manifest"
)

// Name of the ServiceAccount and the DaemonSet, Istio's: meshd's CA lets this
// identity ask for the certificates of the pods on its node.
const Name = "ztunnel"

// Labels holds the labels of what Render returns, by which meshd finds them again to
// delete them once ztunnel is turned off.
var Labels = map[string]string{
	"app.kubernetes.io/name":       Name,
	"app.kubernetes.io/managed-by": "meshd",
}

const (
	portStats  = 15020
	portStatus = 15021
	// terminationGrace is how long the kubelet waits for ztunnel to drain; it drains
	// for one second less.
	terminationGrace = 30
	volSockets       = "cni-ztunnel-sock-dir"
	volTmp           = "tmp"
)

// Render returns ztunnel's ServiceAccount and DaemonSet in namespace, with TypeMeta set
// and sorted by kind, when mesh.Ztunnel.Enabled; nothing otherwise. mesh is taken as
// given: pass it through MeshSpec.WithDefaults. discoveryAddress is meshd's xDS and CA
// address (Istio's 15012).
func Render(mesh meshv1alpha1.MeshSpec, namespace, discoveryAddress string) []client.Object {
	if !mesh.Ztunnel.Enabled {
		return []client.Object{}
	}
	objs := []client.Object{
		daemonSet(mesh, namespace, discoveryAddress),
		&corev1.ServiceAccount{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
			ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: namespace, Labels: manifest.Merge(Labels)},
		},
	}
	manifest.Sort(objs)
	return objs
}

func daemonSet(mesh meshv1alpha1.MeshSpec, namespace, discoveryAddress string) *appsv1.DaemonSet {
	selector := map[string]string{"app": Name}
	return &appsv1.DaemonSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "DaemonSet"},
		ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: namespace, Labels: manifest.Merge(Labels)},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			// A node never goes without ztunnel while it is replaced: the new pod starts
			// before the old one stops.
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{
				Type: appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{
					MaxSurge:       ptr.To(intstr.FromInt32(1)),
					MaxUnavailable: ptr.To(intstr.FromInt32(0)),
				},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					// ztunnel is never captured by itself nor given a sidecar.
					Labels: manifest.Merge(Labels, selector, map[string]string{
						"sidecar.istio.io/inject": "false",
						"istio.io/dataplane-mode": "none",
					}),
					Annotations: map[string]string{
						"sidecar.istio.io/inject": "false",
						"prometheus.io/port":      strconv.Itoa(portStats),
						"prometheus.io/scrape":    "true",
					},
				},
				Spec: podSpec(mesh, discoveryAddress),
			},
		},
	}
}

func podSpec(mesh meshv1alpha1.MeshSpec, discoveryAddress string) corev1.PodSpec {
	return corev1.PodSpec{
		ServiceAccountName: Name,
		NodeSelector:       map[string]string{"kubernetes.io/os": "linux"},
		// Every node, tainted or not, needs its node proxy.
		Tolerations: []corev1.Toleration{
			{Effect: corev1.TaintEffectNoSchedule, Operator: corev1.TolerationOpExists},
			{Key: "CriticalAddonsOnly", Operator: corev1.TolerationOpExists},
			{Effect: corev1.TaintEffectNoExecute, Operator: corev1.TolerationOpExists},
		},
		PriorityClassName:             "system-node-critical",
		TerminationGracePeriodSeconds: ptr.To[int64](terminationGrace),
		Containers:                    []corev1.Container{container(mesh, discoveryAddress)},
		Volumes: []corev1.Volume{
			manifest.Token(),
			manifest.RootCert(),
			// istio-cni hands ztunnel each pod's network namespace over this socket.
			{Name: volSockets, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
				Path: "/var/run/ztunnel", Type: ptr.To(corev1.HostPathDirectoryOrCreate),
			}}},
			// The root filesystem is read-only; pprof writes here.
			manifest.EmptyDir(volTmp, false),
		},
	}
}

func container(mesh meshv1alpha1.MeshSpec, discoveryAddress string) corev1.Container {
	return corev1.Container{
		Name:  "istio-proxy",
		Image: mesh.Ztunnel.Image,
		Args:  []string{"proxy", "ztunnel"},
		Ports: []corev1.ContainerPort{{Name: "ztunnel-stats", ContainerPort: portStats, Protocol: corev1.ProtocolTCP}},
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("200m"),
			corev1.ResourceMemory: resource.MustParse("512Mi"),
		}},
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: "/healthz/ready", Port: intstr.FromInt32(portStatus), Scheme: corev1.URISchemeHTTP,
		}}},
		// What ztunnel does in each pod's network namespace needs NET_ADMIN (transparent
		// sockets), SYS_ADMIN (setns) and NET_RAW; everything else is dropped. SYS_ADMIN
		// implies privilege escalation, which must therefore be allowed.
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(true),
			Privileged:               ptr.To(false),
			Capabilities: &corev1.Capabilities{
				Drop: []corev1.Capability{"ALL"},
				Add:  []corev1.Capability{"NET_ADMIN", "SYS_ADMIN", "NET_RAW"},
			},
			ReadOnlyRootFilesystem: ptr.To(true),
			RunAsGroup:             ptr.To[int64](1337),
			RunAsNonRoot:           ptr.To(false),
			RunAsUser:              ptr.To[int64](0),
		},
		Env: []corev1.EnvVar{
			manifest.Env("CA_ADDRESS", discoveryAddress),
			manifest.Env("XDS_ADDRESS", discoveryAddress),
			manifest.Env("TRUST_DOMAIN", mesh.TrustDomain),
			manifest.Env("RUST_LOG", "info"),
			manifest.Env("RUST_BACKTRACE", "1"),
			manifest.Env("ISTIO_META_CLUSTER_ID", "Kubernetes"),
			manifest.Env("INPOD_ENABLED", "true"),
			manifest.Env("TERMINATION_GRACE_PERIOD_SECONDS", strconv.Itoa(terminationGrace)),
			manifest.FieldEnv("POD_NAME", "metadata.name"),
			manifest.FieldEnv("POD_NAMESPACE", "metadata.namespace"),
			manifest.FieldEnv("NODE_NAME", "spec.nodeName"),
			manifest.FieldEnv("INSTANCE_IP", "status.podIP"),
			manifest.FieldEnv("SERVICE_ACCOUNT", "spec.serviceAccountName"),
			manifest.ResourceEnv("ZTUNNEL_CPU_LIMIT", "limits.cpu"),
		},
		VolumeMounts: []corev1.VolumeMount{
			manifest.Mount(manifest.RootCertVolume, manifest.RootCertMountPath),
			manifest.Mount(manifest.TokenVolume, manifest.TokenMountPath),
			manifest.Mount(volSockets, "/var/run/ztunnel"),
			manifest.Mount(volTmp, "/tmp"),
		},
	}
}
