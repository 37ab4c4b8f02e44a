package inject

import (
	"encoding/json"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// FuzzInject feeds arbitrary pods (as JSON) to injection: the webhook must answer every
// pod the API server sends, never panic, and injecting an injected pod changes nothing.
// The golden inputs seed it.
func FuzzInject(f *testing.F) {
	ins, _ := filepath.Glob("testdata/*.in.yaml")
	for _, in := range ins {
		c := loadCase(f, in)
		raw, err := json.Marshal(c.pod)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte(`{"metadata":{"annotations":{"sidecar.istio.io/proxyCPU":"x","traffic.sidecar.istio.io/includeInboundPorts":"a,b"}},"spec":{"containers":[{}]}}`))
	cfg := testConfig()
	ns := &corev1.Namespace{}
	ns.Name, ns.Labels = "shop", map[string]string{"istio-injection": "enabled"}
	f.Fuzz(func(t *testing.T, raw []byte) {
		pod := &corev1.Pod{}
		if json.Unmarshal(raw, pod) != nil {
			return
		}
		if !Decide(pod, ns, cfg).Inject {
			return
		}
		once, err := Inject(pod, ns.Name, cfg)
		if err != nil {
			return // refused with a reason: the webhook denies it
		}
		twice, err := Inject(once, ns.Name, cfg)
		if err != nil {
			t.Fatalf("injecting an injected pod failed: %v", err)
		}
		a, _ := json.Marshal(once)
		b, _ := json.Marshal(twice)
		if string(a) != string(b) {
			t.Fatalf("a second injection changed the pod:\n%s", diffLine(string(a), string(b)))
		}
	})
}
