package inject

import (
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// workload is the object that owns the pod, guessed from the pod alone as Istio's
// GetDeployMetaFromPod does (the injector never reads owners from the API server). It
// names the proxy's node metadata (WORKLOAD_NAME, OWNER) and the canonical service.
type workload struct {
	Name, Namespace  string
	Kind, APIVersion string
}

// cronJobName matches the "-<8 to 10 digit timestamp>" a CronJob appends to its Jobs.
var cronJobName = regexp.MustCompile(`^(.+)-\d{8,10}$`)

func workloadOf(pod *corev1.Pod, namespace string) workload {
	w := workload{Name: pod.Name, Namespace: namespace, Kind: "Pod", APIVersion: "v1"}
	if w.Namespace == "" {
		w.Namespace = "default"
	}
	// Only a generated name means a controller made the pod.
	if pod.GenerateName != "" {
		for _, ref := range pod.OwnerReferences {
			if ref.Controller == nil || !*ref.Controller {
				continue
			}
			w.Name, w.Kind, w.APIVersion = ref.Name, ref.Kind, ref.APIVersion
			hash := pod.Labels["pod-template-hash"]
			switch {
			case ref.Kind == "ReplicaSet" && hash != "" && strings.HasSuffix(ref.Name, hash):
				// A Deployment's ReplicaSet is "<deployment>-<pod-template-hash>".
				w.Name, w.Kind = strings.TrimSuffix(ref.Name, "-"+hash), "Deployment"
			case ref.Kind == "ReplicationController" && pod.Labels["deploymentconfig"] != "":
				w.Name, w.Kind = pod.Labels["deploymentconfig"], "DeploymentConfig" // OpenShift
			case ref.Kind == "Job":
				if m := cronJobName.FindStringSubmatch(ref.Name); m != nil {
					w.Name, w.Kind, w.APIVersion = m[1], "CronJob", "batch/v1"
				}
			}
			break
		}
		if w.Name == "" {
			// No controller yet: the generated name's stem is the best guess left
			// (Istio would leave the name empty here).
			w.Name = strings.TrimRight(pod.GenerateName, "-")
		}
	}
	return w
}

// owner is the OWNER node metadata: the workload as a Kubernetes API path.
func (w workload) owner() string {
	return "kubernetes://apis/" + w.APIVersion + "/namespaces/" + w.Namespace + "/" +
		strings.ToLower(w.Kind) + "s/" + w.Name
}
