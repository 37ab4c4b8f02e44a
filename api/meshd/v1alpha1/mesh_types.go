/*
Copyright 2026 The meshd Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	typev1beta1 "github.com/meshd-io/meshd/api/type/v1beta1"
)

// MeshName is the name of the only Mesh object meshd reads.
const MeshName = "default"

// Defaults meshd applies when a field of the Mesh is unset or no Mesh exists. The
// +kubebuilder:default markers below repeat these values: keep them in sync.
const (
	DefaultTrustDomain           = "cluster.local"
	DefaultRootNamespace         = "istio-system"
	DefaultCAMode                = CAModeEmbedded
	DefaultWorkloadCertTTL       = 24 * time.Hour
	DefaultRootCertTTL           = 87600 * time.Hour
	DefaultCertManagerGroup      = "cert-manager.io"
	DefaultCertManagerIssuerKind = IssuerKindIssuer
	DefaultProxyImage            = "docker.io/istio/proxyv2:1.28.0"
	DefaultProxyLogLevel         = ProxyLogLevelWarning
	DefaultZtunnelImage          = "docker.io/istio/ztunnel:1.28.0"
)

// CAMode selects where workload certificates come from.
// +kubebuilder:validation:Enum=Embedded;CertManager
type CAMode string

const (
	// CAModeEmbedded makes meshd sign workload certificates with its own root CA.
	CAModeEmbedded CAMode = "Embedded"
	// CAModeCertManager makes meshd request workload certificates from a cert-manager issuer.
	CAModeCertManager CAMode = "CertManager"
)

// IssuerKind is the kind of a cert-manager issuer.
// +kubebuilder:validation:Enum=Issuer;ClusterIssuer
type IssuerKind string

const (
	// IssuerKindIssuer is a namespaced cert-manager Issuer (in the root namespace).
	IssuerKindIssuer IssuerKind = "Issuer"
	// IssuerKindClusterIssuer is a cert-manager ClusterIssuer.
	IssuerKindClusterIssuer IssuerKind = "ClusterIssuer"
)

// ProxyLogLevel is an Envoy log level.
// +kubebuilder:validation:Enum=trace;debug;info;warning;error;critical;off
type ProxyLogLevel string

const (
	ProxyLogLevelTrace    ProxyLogLevel = "trace"
	ProxyLogLevelDebug    ProxyLogLevel = "debug"
	ProxyLogLevelInfo     ProxyLogLevel = "info"
	ProxyLogLevelWarning  ProxyLogLevel = "warning"
	ProxyLogLevelError    ProxyLogLevel = "error"
	ProxyLogLevelCritical ProxyLogLevel = "critical"
	ProxyLogLevelOff      ProxyLogLevel = "off"
)

// MeshSpec is the mesh-wide configuration.
type MeshSpec struct {
	// TrustDomain is the SPIFFE trust domain of workload identities.
	// +optional
	// +kubebuilder:default="cluster.local"
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-_a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-_a-z0-9]*[a-z0-9])?)*$`
	TrustDomain string `json:"trustDomain,omitempty"`

	// RootNamespace holds mesh-wide policies and the CA material.
	// +optional
	// +kubebuilder:default="istio-system"
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	RootNamespace string `json:"rootNamespace,omitempty"`

	// CA configures the certificate authority of workload certificates.
	// +optional
	// +kubebuilder:default={}
	CA MeshCA `json:"ca,omitzero"`

	// Proxy configures the sidecar and gateway proxies.
	// +optional
	// +kubebuilder:default={}
	Proxy MeshProxy `json:"proxy,omitzero"`

	// Ztunnel configures the ambient-mode node proxy.
	// +optional
	// +kubebuilder:default={}
	Ztunnel MeshZtunnel `json:"ztunnel,omitzero"`

	// ExtensionProviders are the external authorizers AuthorizationPolicy CUSTOM
	// actions name in provider.name.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	ExtensionProviders []MeshExtensionProvider `json:"extensionProviders,omitempty"`

	// OutboundTrafficPolicy is what sidecars do with traffic to destinations they do
	// not know, unless their Sidecar says otherwise (Istio's
	// meshConfig.outboundTrafficPolicy).
	// +optional
	OutboundTrafficPolicy *MeshOutboundTrafficPolicy `json:"outboundTrafficPolicy,omitempty"`
}

// MeshOutboundTrafficPolicy is the mesh's default for unknown destinations.
type MeshOutboundTrafficPolicy struct {
	// Mode is ALLOW_ANY (pass unknown traffic through, the mesh's default when no
	// policy is set) or REGISTRY_ONLY (answer unknown HTTP hosts with 502 and drop
	// other unknown connections; a policy without mode is REGISTRY_ONLY, as Istio's).
	// +optional
	// +kubebuilder:validation:Enum=ALLOW_ANY;REGISTRY_ONLY
	Mode string `json:"mode,omitempty"`
}

// MeshCA configures the certificate authority.
// +kubebuilder:validation:XValidation:rule="!has(self.mode) || self.mode != 'CertManager' || has(self.certManager)",message="certManager is required when mode is CertManager",fieldPath=".certManager",reason=FieldValueRequired
// +kubebuilder:validation:XValidation:rule="!has(self.certManager) || (has(self.mode) && self.mode == 'CertManager')",message="certManager may only be set when mode is CertManager",fieldPath=".certManager"
type MeshCA struct {
	// Mode is Embedded (meshd's own CA) or CertManager.
	// +optional
	// +kubebuilder:default=Embedded
	Mode CAMode `json:"mode,omitempty"`

	// CertManager configures the issuer used in CertManager mode.
	// +optional
	CertManager *MeshCertManager `json:"certManager,omitempty"`

	// WorkloadCertTTL is the lifetime of workload certificates.
	// +optional
	// +kubebuilder:default="24h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="workloadCertTTL must be a positive duration such as 24h"
	WorkloadCertTTL metav1.Duration `json:"workloadCertTTL,omitzero"`

	// RootCertTTL is the lifetime of the embedded root certificate.
	// +optional
	// +kubebuilder:default="87600h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="rootCertTTL must be a positive duration such as 87600h"
	RootCertTTL metav1.Duration `json:"rootCertTTL,omitzero"`
}

// MeshCertManager configures cert-manager as the CA.
type MeshCertManager struct {
	// IssuerRef is the cert-manager issuer that signs workload certificates.
	IssuerRef IssuerReference `json:"issuerRef"`
}

// IssuerReference names a cert-manager Issuer or ClusterIssuer.
type IssuerReference struct {
	// Name of the issuer.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Kind is Issuer (in the root namespace) or ClusterIssuer.
	// +optional
	// +kubebuilder:default=Issuer
	Kind IssuerKind `json:"kind,omitempty"`

	// Group is the API group of the issuer.
	// +optional
	// +kubebuilder:default="cert-manager.io"
	// +kubebuilder:validation:MaxLength=253
	Group string `json:"group,omitempty"`
}

// MeshProxy configures the Envoy proxies meshd injects.
type MeshProxy struct {
	// Image is the proxy container image.
	// +optional
	// +kubebuilder:default="docker.io/istio/proxyv2:1.28.0"
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image,omitempty"`

	// LogLevel is the Envoy log level.
	// +optional
	// +kubebuilder:default=warning
	LogLevel ProxyLogLevel `json:"logLevel,omitempty"`
}

// MeshZtunnel configures ztunnel, the ambient-mode node proxy.
type MeshZtunnel struct {
	// Enabled deploys ztunnel and turns on ambient mode.
	// +optional
	// +kubebuilder:default=false
	Enabled bool `json:"enabled,omitempty"`

	// Image is the ztunnel container image.
	// +optional
	// +kubebuilder:default="docker.io/istio/ztunnel:1.28.0"
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image,omitempty"`
}

// MeshExtensionProvider is an external authorization service (Istio
// MeshConfig.ExtensionProvider). Exactly one of envoyExtAuthzGrpc and
// envoyExtAuthzHttp is set.
// +kubebuilder:validation:XValidation:rule="has(self.envoyExtAuthzGrpc) != has(self.envoyExtAuthzHttp)",message="exactly one of envoyExtAuthzGrpc or envoyExtAuthzHttp must be set"
type MeshExtensionProvider struct {
	// Name is what AuthorizationPolicy provider.name refers to.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// EnvoyExtAuthzGrpc is an Envoy ext_authz gRPC service.
	// +optional
	EnvoyExtAuthzGrpc *EnvoyExtAuthzGrpcProvider `json:"envoyExtAuthzGrpc,omitempty"`

	// EnvoyExtAuthzHTTP is an Envoy ext_authz HTTP service.
	// +optional
	EnvoyExtAuthzHTTP *EnvoyExtAuthzHTTPProvider `json:"envoyExtAuthzHttp,omitempty"`
}

// EnvoyExtAuthzGrpcProvider is an ext_authz service speaking the Envoy gRPC
// authorization API.
type EnvoyExtAuthzGrpcProvider struct {
	// Service is the authorizer's host, e.g. "ext-authz.foo.svc.cluster.local" or
	// "foo/ext-authz.foo.svc.cluster.local".
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Service string `json:"service"`

	// Port of the service.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`

	// Timeout of a check request; Envoy's default (200ms) when unset.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="timeout must be a positive duration such as 500ms"
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// FailOpen allows requests when the authorizer is unreachable or fails.
	// +optional
	FailOpen bool `json:"failOpen,omitempty"`
}

// EnvoyExtAuthzHTTPProvider is an ext_authz service checked with plain HTTP requests.
type EnvoyExtAuthzHTTPProvider struct {
	// Service is the authorizer's host, e.g. "ext-authz.foo.svc.cluster.local" or
	// "foo/ext-authz.foo.svc.cluster.local".
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Service string `json:"service"`

	// Port of the service.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`

	// Timeout of a check request; Envoy's default (200ms) when unset.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="timeout must be a positive duration such as 500ms"
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// FailOpen allows requests when the authorizer is unreachable or fails.
	// +optional
	FailOpen bool `json:"failOpen,omitempty"`

	// PathPrefix is prepended to the original request path in the check request.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="self.size() == 0 || self.startsWith('/')",message="pathPrefix must start with /"
	PathPrefix string `json:"pathPrefix,omitempty"`

	// IncludeRequestHeadersInCheck lists the request headers sent to the authorizer.
	// +optional
	IncludeRequestHeadersInCheck []string `json:"includeRequestHeadersInCheck,omitempty"`

	// HeadersToUpstreamOnAllow lists the authorizer's response headers added to the
	// upstream request when allowed.
	// +optional
	HeadersToUpstreamOnAllow []string `json:"headersToUpstreamOnAllow,omitempty"`

	// HeadersToDownstreamOnDeny lists the authorizer's response headers returned to
	// the client when denied.
	// +optional
	HeadersToDownstreamOnDeny []string `json:"headersToDownstreamOnDeny,omitempty"`
}

// Mesh is the mesh-wide configuration of meshd. Only the object named "default" is
// allowed; without it meshd uses DefaultMeshSpec().
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,categories=meshd
// +kubebuilder:printcolumn:name="TrustDomain",type=string,JSONPath=`.spec.trustDomain`
// +kubebuilder:printcolumn:name="RootNamespace",type=string,JSONPath=`.spec.rootNamespace`
// +kubebuilder:printcolumn:name="CA",type=string,JSONPath=`.spec.ca.mode`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name == 'default'",message="the Mesh must be named default"
type Mesh struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the mesh configuration.
	// +optional
	// +kubebuilder:default={}
	Spec MeshSpec `json:"spec"`
	// Status is what meshd observed about the Mesh.
	// +optional
	Status typev1beta1.ConfigStatus `json:"status,omitempty"`
}

// MeshList contains a list of Mesh.
// +kubebuilder:object:root=true
type MeshList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Mesh `json:"items"`
}

// DefaultMeshSpec returns the configuration meshd runs with when no Mesh exists.
func DefaultMeshSpec() MeshSpec {
	return (*MeshSpec)(nil).WithDefaults()
}

// WithDefaults returns a copy of s with every unset field set to its default, the
// same values the API server fills in. s may be nil.
func (s *MeshSpec) WithDefaults() MeshSpec {
	out := MeshSpec{}
	if s != nil {
		s.DeepCopyInto(&out)
	}
	if out.TrustDomain == "" {
		out.TrustDomain = DefaultTrustDomain
	}
	if out.RootNamespace == "" {
		out.RootNamespace = DefaultRootNamespace
	}
	if out.CA.Mode == "" {
		out.CA.Mode = DefaultCAMode
	}
	if out.CA.WorkloadCertTTL.Duration == 0 {
		out.CA.WorkloadCertTTL.Duration = DefaultWorkloadCertTTL
	}
	if out.CA.RootCertTTL.Duration == 0 {
		out.CA.RootCertTTL.Duration = DefaultRootCertTTL
	}
	if cm := out.CA.CertManager; cm != nil {
		if cm.IssuerRef.Kind == "" {
			cm.IssuerRef.Kind = DefaultCertManagerIssuerKind
		}
		if cm.IssuerRef.Group == "" {
			cm.IssuerRef.Group = DefaultCertManagerGroup
		}
	}
	if out.Proxy.Image == "" {
		out.Proxy.Image = DefaultProxyImage
	}
	if out.Proxy.LogLevel == "" {
		out.Proxy.LogLevel = DefaultProxyLogLevel
	}
	if out.Ztunnel.Image == "" {
		out.Ztunnel.Image = DefaultZtunnelImage
	}
	return out
}

func init() {
	SchemeBuilder.Register(&Mesh{}, &MeshList{})
}
