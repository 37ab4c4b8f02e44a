package inject

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshd-io/meshd/internal/testutil"
)

// testConfig is what meshd's deployment would pass; a case's `# config:` line overrides it.
func testConfig() Config {
	return Config{
		ProxyImage:       "docker.io/istio/proxyv2:1.28.0",
		ProxyLogLevel:    "warning",
		DiscoveryAddress: "meshd.istio-system.svc:15012",
		TrustDomain:      "cluster.local",
		ClusterDomain:    "cluster.local",
	}
}

// goldenCase is one testdata/<case>.in.yaml: an optional `# config: {...}` line (a YAML
// flow mapping of Config fields, matched case-insensitively, e.g. {nativeSidecars: true}),
// an optional Namespace document, and the Pod.
type goldenCase struct {
	cfg Config
	ns  *corev1.Namespace
	pod *corev1.Pod
}

func loadCase(t testing.TB, path string) goldenCase {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c := goldenCase{cfg: testConfig()}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "# config:"); ok {
			if err := yaml.UnmarshalStrict([]byte(rest), &c.cfg); err != nil {
				t.Fatalf("%s: config line: %v", path, err)
			}
		}
	}
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		switch tm.Kind {
		case "Namespace":
			c.ns = &corev1.Namespace{}
			err = yaml.UnmarshalStrict([]byte(doc), c.ns)
		case "Pod":
			c.pod = &corev1.Pod{}
			err = yaml.UnmarshalStrict([]byte(doc), c.pod)
		case "":
			continue // comments only
		default:
			t.Fatalf("%s: unexpected kind %q", path, tm.Kind)
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	if c.pod == nil {
		t.Fatalf("%s: no Pod", path)
	}
	return c
}

// namespace is what the webhook passes: the request's namespace.
func (c goldenCase) namespace() string {
	if c.ns != nil {
		return c.ns.Name
	}
	if c.pod.Namespace != "" {
		return c.pod.Namespace
	}
	return "default"
}

func marshal(t *testing.T, pod *corev1.Pod) []byte {
	t.Helper()
	b, err := yaml.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGolden injects testdata/<case>.in.yaml and compares with <case>.out.yaml (the
// injected pod, after a comment with Decide's answer when the case has a namespace);
// -update rewrites them.
func TestGolden(t *testing.T) {
	testutil.GoldenCases(t, func(t *testing.T, in string) []byte {
		c := loadCase(t, in)
		before := marshal(t, c.pod)
		out, err := Inject(c.pod, c.namespace(), c.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if string(marshal(t, c.pod)) != string(before) {
			t.Error("Inject modified its input")
		}
		got := marshal(t, out)
		if c.ns != nil {
			// With a namespace the case also records Decide's answer.
			d := Decide(c.pod, c.ns, c.cfg)
			got = append([]byte(fmt.Sprintf("# Decide: inject=%t: %s\n", d.Inject, d.Reason)), got...)
		}
		return got
	})
}

// TestIdempotent checks Inject(Inject(p)) == Inject(p) for every golden input, and that
// Decide refuses an injected pod.
func TestIdempotent(t *testing.T) {
	ins, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range ins {
		t.Run(strings.TrimSuffix(filepath.Base(in), ".in.yaml"), func(t *testing.T) {
			c := loadCase(t, in)
			once, err := Inject(c.pod, c.namespace(), c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			twice, err := Inject(once, c.namespace(), c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := marshal(t, once), marshal(t, twice); string(a) != string(b) {
				t.Errorf("second injection changed the pod:\n%s", diffLine(string(a), string(b)))
			}
			if d := Decide(once, c.ns, c.cfg); d.Inject {
				t.Errorf("Decide wants to inject an injected pod: %s", d.Reason)
			}
		})
	}
}

func diffLine(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d: %q != %q", i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("lengths %d != %d", len(al), len(bl))
}
