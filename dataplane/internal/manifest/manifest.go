// Package manifest holds what meshd's dataplane renderers share: the pod pieces every
// Istio proxy expects (its CA token and root certificate, downward-API environment) and
// the conversion of rendered objects into what is applied and what golden files show.
package manifest

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// Volumes and mount paths the Istio agents (pilot-agent and ztunnel) read: the token
// they present to the CA and the mesh's root certificate, which meshd's CA publishes
// in every namespace as the istio-ca-root-cert ConfigMap.
const (
	TokenVolume       = "istio-token"
	TokenMountPath    = "/var/run/secrets/tokens"
	RootCertVolume    = "istiod-ca-cert"
	RootCertMountPath = "/var/run/secrets/istio"
	RootCertConfigMap = "istio-ca-root-cert"

	// TokenAudience is the audience meshd's CA accepts, Istio's.
	TokenAudience = "istio-ca"
	// tokenExpiration is Istio's 12 hours; the kubelet rotates the token.
	tokenExpiration = 43200
)

// Token is the projected service-account token volume the agent authenticates to the CA
// with.
func Token() corev1.Volume {
	return corev1.Volume{Name: TokenVolume, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
			Audience:          TokenAudience,
			ExpirationSeconds: ptr.To[int64](tokenExpiration),
			Path:              TokenVolume,
		}}},
	}}}
}

// RootCert is the volume of the mesh's root certificate.
func RootCert() corev1.Volume {
	return corev1.Volume{Name: RootCertVolume, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: RootCertConfigMap},
	}}}
}

// EmptyDir is a scratch volume; in memory when memory is true.
func EmptyDir(name string, memory bool) corev1.Volume {
	src := &corev1.EmptyDirVolumeSource{}
	if memory {
		src.Medium = corev1.StorageMediumMemory
	}
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: src}}
}

// Mount mounts volume at path.
func Mount(volume, path string) corev1.VolumeMount {
	return corev1.VolumeMount{Name: volume, MountPath: path}
}

// Env is a literal environment variable.
func Env(name, value string) corev1.EnvVar { return corev1.EnvVar{Name: name, Value: value} }

// FieldEnv is an environment variable from the pod's own fields (downward API).
func FieldEnv(name, fieldPath string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: fieldPath}}}
}

// ResourceEnv is an environment variable from the container's resources, e.g.
// limits.cpu, in whole units (the divisor is explicit: a zero one would be applied as
// "0").
func ResourceEnv(name, res string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{
		Resource: res, Divisor: resource.MustParse("1"),
	}}}
}

// Merge returns one map holding every entry of maps, later ones winning.
func Merge(maps ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// Sort orders objects by kind, then namespace, then name: the order Render returns.
func Sort(objs []client.Object) {
	slices.SortStableFunc(objs, func(a, b client.Object) int {
		return cmp.Or(
			cmp.Compare(a.GetObjectKind().GroupVersionKind().Kind, b.GetObjectKind().GroupVersionKind().Kind),
			cmp.Compare(a.GetNamespace(), b.GetNamespace()),
			cmp.Compare(a.GetName(), b.GetName()))
	})
}

// Unstructured is obj as it is applied: its TypeMeta must be set; status is left out,
// since an apply to the object never sets it.
func Unstructured(obj client.Object) (*unstructured.Unstructured, error) {
	if obj.GetObjectKind().GroupVersionKind().Kind == "" {
		return nil, fmt.Errorf("%T %s/%s has no apiVersion and kind", obj, obj.GetNamespace(), obj.GetName())
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	delete(m, "status")
	return &unstructured.Unstructured{Object: m}, nil
}

// YAML writes objs as one multi-document YAML stream, as they are applied: what golden
// files hold.
func YAML(objs []client.Object) ([]byte, error) {
	var buf bytes.Buffer
	for _, o := range objs {
		u, err := Unstructured(o)
		if err != nil {
			return nil, err
		}
		b, err := yaml.Marshal(u.Object)
		if err != nil {
			return nil, err
		}
		buf.WriteString("---\n")
		buf.Write(b)
	}
	return buf.Bytes(), nil
}
