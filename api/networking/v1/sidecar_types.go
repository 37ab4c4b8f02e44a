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

package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	typev1beta1 "github.com/meshd-io/meshd/api/type/v1beta1"
)

// CaptureMode says how traffic to a listener is expected to be captured.
// +kubebuilder:validation:Enum=DEFAULT;IPTABLES;NONE
type CaptureMode string

const (
	// CaptureModeDefault uses the environment's capture mode.
	CaptureModeDefault CaptureMode = "DEFAULT"
	// CaptureModeIPTables captures traffic with iptables redirection.
	CaptureModeIPTables CaptureMode = "IPTABLES"
	// CaptureModeNone does not capture traffic: the application talks to the listener directly.
	CaptureModeNone CaptureMode = "NONE"
)

// OutboundTrafficMode says what a sidecar does with traffic to destinations it does not know.
// +kubebuilder:validation:Enum=REGISTRY_ONLY;ALLOW_ANY
type OutboundTrafficMode string

const (
	// OutboundRegistryOnly blocks traffic to hosts outside the sidecar's service registry.
	OutboundRegistryOnly OutboundTrafficMode = "REGISTRY_ONLY"
	// OutboundAllowAny passes traffic to unknown destinations through.
	OutboundAllowAny OutboundTrafficMode = "ALLOW_ANY"
)

// ServerTLSMode is how a listener terminates TLS.
// +kubebuilder:validation:Enum=PASSTHROUGH;SIMPLE;MUTUAL;AUTO_PASSTHROUGH;ISTIO_MUTUAL;OPTIONAL_MUTUAL
type ServerTLSMode string

// SidecarSpec is Istio's Sidecar: the ingress and egress traffic a workload's sidecar
// handles, and the part of the mesh it needs to know about.
type SidecarSpec struct {
	// Criteria used to select the specific set of pods/VMs on which this Sidecar
	// configuration should be applied. Without it, the Sidecar applies to every
	// workload of its namespace (or, in the root namespace, of namespaces with none).
	// +optional
	WorkloadSelector *WorkloadSelector `json:"workloadSelector,omitempty"`
	// Ingress specifies the configuration of the sidecar for processing inbound
	// traffic to the attached workload instance.
	// +optional
	// +kubebuilder:validation:MaxItems=1024
	Ingress []IstioIngressListener `json:"ingress,omitempty"`
	// Egress specifies the configuration of the sidecar for processing outbound
	// traffic from the attached workload instance to other services in the mesh.
	// +optional
	// +kubebuilder:validation:MaxItems=1024
	Egress []IstioEgressListener `json:"egress,omitempty"`
	// Settings controlling the volume of connections Envoy will accept from the network.
	// +optional
	InboundConnectionPool *ConnectionPoolSettings `json:"inboundConnectionPool,omitempty"`
	// Configuration for the outbound traffic policy.
	// +optional
	OutboundTrafficPolicy *OutboundTrafficPolicy `json:"outboundTrafficPolicy,omitempty"`
}

// WorkloadSelector selects the pods a Sidecar applies to by label. Unlike the
// selector of DestinationRule and the security kinds (matchLabels), networking's own
// selector names its map labels.
type WorkloadSelector struct {
	// One or more labels that indicate a specific set of pods/VMs on which the
	// configuration should be applied. The scope of label search is restricted to the
	// configuration namespace in which the resource is present.
	// +optional
	// +kubebuilder:validation:MaxProperties=256
	// +kubebuilder:validation:XValidation:rule="self.all(key, !key.contains('*'))",message="wildcard not allowed in label key match"
	// +kubebuilder:validation:XValidation:rule="self.all(key, key.size() != 0)",message="key must not be empty"
	Labels map[string]string `json:"labels,omitempty"`
}

// IstioIngressListener describes the properties of an inbound traffic listener on the
// sidecar proxy attached to a workload instance.
type IstioIngressListener struct {
	// The port associated with the listener.
	Port *SidecarPort `json:"port"`
	// The IP (IPv4 or IPv6) to which the listener should be bound.
	// +optional
	Bind string `json:"bind,omitempty"`
	// The captureMode option dictates how traffic to the listener is expected to be captured.
	// +optional
	CaptureMode CaptureMode `json:"captureMode,omitempty"`
	// The IP endpoint or Unix domain socket to which traffic should be forwarded to.
	// +optional
	DefaultEndpoint string `json:"defaultEndpoint,omitempty"`
	// Set of TLS related options that will enable TLS termination on the sidecar for
	// requests originating from outside the mesh.
	// +optional
	TLS *ServerTLSSettings `json:"tls,omitempty"`
	// Settings controlling the volume of connections Envoy will accept from the network.
	// +optional
	ConnectionPool *ConnectionPoolSettings `json:"connectionPool,omitempty"`
}

// IstioEgressListener describes the properties of an outbound traffic listener on the
// sidecar proxy attached to a workload instance.
type IstioEgressListener struct {
	// The port associated with the listener. Without it, the listener is the catch-all
	// one: it covers every port no other egress listener names.
	// +optional
	Port *SidecarPort `json:"port,omitempty"`
	// The IP (IPv4 or IPv6) or the Unix domain socket to which the listener should be bound to.
	// +optional
	Bind string `json:"bind,omitempty"`
	// When the bind address is an IP, the captureMode option dictates how traffic to
	// the listener is expected to be captured.
	// +optional
	CaptureMode CaptureMode `json:"captureMode,omitempty"`
	// One or more service hosts exposed by the listener in `namespace/dnsName` format.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=4096
	Hosts []string `json:"hosts"`
}

// SidecarPort describes the properties of a specific port of a service.
type SidecarPort struct {
	// A valid non-negative integer port number.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=""
	Number uint32 `json:"number,omitempty"`
	// The protocol exposed on the port.
	// +optional
	Protocol string `json:"protocol,omitempty"`
	// Label assigned to the port.
	// +optional
	Name string `json:"name,omitempty"`
	// Has no effect in the Sidecar API.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=""
	TargetPort uint32 `json:"targetPort,omitempty"`
}

// OutboundTrafficPolicy sets the default behavior of the sidecar for handling
// outbound traffic from the application.
type OutboundTrafficPolicy struct {
	// +optional
	Mode OutboundTrafficMode `json:"mode,omitempty"`
	// Specifies the details of the egress proxy to which unknown traffic should be
	// forwarded to from the sidecar; only with mode ALLOW_ANY.
	// +optional
	EgressProxy *Destination `json:"egressProxy,omitempty"`
}

// ServerTLSSettings are the TLS settings of a listener that terminates TLS.
type ServerTLSSettings struct {
	// If set to true, the load balancer will send a 301 redirect for all http connections.
	// +optional
	HTTPSRedirect bool `json:"httpsRedirect,omitempty"`
	// Indicates whether connections to this port should be secured using TLS.
	// +optional
	Mode ServerTLSMode `json:"mode,omitempty"`
	// REQUIRED if mode is SIMPLE or MUTUAL: the path to the file holding the server-side TLS certificate.
	// +optional
	ServerCertificate string `json:"serverCertificate,omitempty"`
	// REQUIRED if mode is SIMPLE or MUTUAL: the path to the file holding the server's private key.
	// +optional
	PrivateKey string `json:"privateKey,omitempty"`
	// REQUIRED if mode is MUTUAL or OPTIONAL_MUTUAL: the path to a file containing
	// certificate authority certificates to use in verifying a presented client side certificate.
	// +optional
	CaCertificates string `json:"caCertificates,omitempty"`
	// The path to the certificate revocation list (CRL) used to verify client certificates.
	// +optional
	CaCrl string `json:"caCrl,omitempty"`
	// For gateways only: the name of the secret that holds the TLS certs.
	// +optional
	CredentialName string `json:"credentialName,omitempty"`
	// A list of alternate names to verify the subject identity in the certificate presented by the client.
	// +optional
	SubjectAltNames []string `json:"subjectAltNames,omitempty"`
	// An optional list of base64-encoded SHA-256 hashes of the SPKIs of authorized client certificates.
	// +optional
	VerifyCertificateSpki []string `json:"verifyCertificateSpki,omitempty"`
	// An optional list of hex-encoded SHA-256 hashes of the authorized client certificates.
	// +optional
	VerifyCertificateHash []string `json:"verifyCertificateHash,omitempty"`
	// Minimum TLS protocol version.
	// +optional
	// +kubebuilder:validation:Enum=TLS_AUTO;TLSV1_0;TLSV1_1;TLSV1_2;TLSV1_3
	MinProtocolVersion string `json:"minProtocolVersion,omitempty"`
	// Maximum TLS protocol version.
	// +optional
	// +kubebuilder:validation:Enum=TLS_AUTO;TLSV1_0;TLSV1_1;TLSV1_2;TLSV1_3
	MaxProtocolVersion string `json:"maxProtocolVersion,omitempty"`
	// If specified, only support the specified cipher list.
	// +optional
	CipherSuites []string `json:"cipherSuites,omitempty"`
}

// Sidecar is networking.istio.io's Sidecar: which inbound and outbound traffic a
// workload's sidecar handles, and which services it is configured to reach.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:resource:categories=istio-io;networking-istio-io
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`,description="Whether meshd accepted the object"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Sidecar struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec holds the sidecar's scope.
	// +optional
	Spec SidecarSpec `json:"spec"`
	// Status is what meshd observed about the object.
	// +optional
	Status typev1beta1.ConfigStatus `json:"status,omitempty"`
}

// SidecarList is a list of Sidecars.
// +kubebuilder:object:root=true
type SidecarList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the Sidecars in the list.
	Items []Sidecar `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Sidecar{}, &SidecarList{})
}
