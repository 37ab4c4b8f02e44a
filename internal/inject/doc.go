// Package inject mutates a Pod the way Istio's sidecar injector does, so that workloads
// come up with Istio-compatible sidecars (pilot-agent + Envoy from the proxyv2 image)
// that dial meshd for xDS and certificates. It is PURE: no client, no I/O, no clock.
// The admission adapter (webhooks/injection) reads the namespace and the Mesh, calls
// Decide and Inject, and turns the result into a JSON patch.
//
// The output follows Istio's injection template (manifests/charts/istio-control/
// istio-discovery/files/injection-template.yaml) and post-processing (pkg/kube/inject)
// as of Istio 1.28, with Istio's default values: same container, volume, port, env and
// annotation names, so pilot-agent, istioctl, Kiali and Prometheus see what they expect.
//
// Left out on purpose, with why:
//   - Per-pod ProxyConfig (proxy.istio.io/config) and ProxyConfig resources, and with
//     them holdApplicationUntilProxyStarts (postStart "pilot-agent wait"): meshd has no
//     ProxyConfig API yet; native sidecars already order start-up.
//   - Custom templates (inject.istio.io/templates, the gateway and grpc-agent
//     templates) and container overrides (a pod that declares its own istio-proxy
//     container, sidecar.istio.io/proxyOverrides): one fixed form keeps the output
//     predictable. A pod that already has an istio-proxy container is treated as injected.
//   - Re-injection (stripping an earlier injection and injecting again): an injected pod
//     is returned unchanged, which is what makes Inject idempotent.
//   - The enable-core-dump init container and sidecar.istio.io/enableCoreDump: it is
//     privileged and a debugging aid.
//   - sidecar.istio.io/userVolume, userVolumeMount, bootstrapOverride,
//     proxyImageType, capNetBindService, status.sidecar.istio.io/port and the
//     readiness.status.sidecar.istio.io/* tuning: rarely used, each one more surface
//     to validate; Istio's defaults (status port 15020, probe timings) are used.
//   - Rewriting lifecycle handlers (preStop/postStart httpGet) to the agent: recent
//     Istio only; probes are rewritten.
//   - Global knobs of Istio's values that are off by default there: imagePullPolicy,
//     imagePullSecrets, seccompProfile, privileged proxy, log_as_json, stsPort,
//     outlierLogPath, native nftables, compliance policy, fsGroup (legacy), multus
//     (k8s.v1.cni.cncf.io/networks), GKE workload certificates, lightstep and mTLS
//     cert mounts, Datadog env, proxyMetadata env and the DNS proxy.
//   - neverInjectSelector/alwaysInjectSelector, injection policy "disabled",
//     enableNamespacesByDefault and revisionLabelPreference=pod: Decide implements
//     Istio's default webhook selectors and policy "enabled" only.
//   - Cluster and network overrides from the webhook URL path (/inject/cluster/X/net/Y):
//     Config carries them instead.
//   - Ambient: Istio still injects a sidecar into a pod of an ambient namespace; meshd
//     leaves such pods to ztunnel (see Decide).
package inject
