package translate

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	meshv1alpha1 "github.com/meshd-io/meshd/api/meshd/v1alpha1"
	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/model"
	"github.com/meshd-io/meshd/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite the golden .out.yaml files")

// goldenOut is what a case's .out.yaml holds: the IR and each object's conditions.
type goldenOut struct {
	IR     *ir.IR                        `json:"ir"`
	Status map[string][]metav1.Condition `json:"status"`
}

// TestGolden translates testdata/<case>.in.yaml and compares with <case>.out.yaml.
func TestGolden(t *testing.T) {
	ins, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			snap := LoadSnapshot(t, in)
			got := render(t, snap)
			// Translation is deterministic and leaves its input alone.
			if again := render(t, LoadSnapshot(t, in)); string(again) != string(got) {
				t.Fatal("two translations of the same input differ")
			}
			outPath := strings.TrimSuffix(in, ".in.yaml") + ".out.yaml"
			if *update {
				if err := os.WriteFile(outPath, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(outPath)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/translate -update)", err)
			}
			if string(want) != string(got) {
				t.Errorf("%s differs from the translation; diff with -update and review:\n%s", outPath, firstDiff(string(want), string(got)))
			}
		})
	}
}

func render(t *testing.T, snap *model.Snapshot) []byte {
	t.Helper()
	out, report := Translate(snap)
	g := goldenOut{IR: out, Status: map[string][]metav1.Condition{}}
	refs := make([]ir.ConfigRef, 0, len(report.Objects))
	for ref := range report.Objects {
		refs = append(refs, ref)
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].String() < refs[j].String() })
	for _, ref := range refs {
		g.Status[ref.String()] = report.Objects[ref].Conditions()
	}
	b, err := yaml.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// LoadSnapshot reads Services, VirtualServices, DestinationRules and a Mesh from a
// multi-document YAML file. Objects without a creationTimestamp get one from their
// order in the file, so "oldest first" is what the file says.
func LoadSnapshot(t testing.TB, path string) *model.Snapshot {
	t.Helper()
	objs, err := testutil.DecodeFile(path)
	if err != nil {
		t.Fatal(err)
	}
	in := model.Inputs{}
	for i, u := range objs {
		if u.GetNamespace() == "" && u.GetKind() != "Mesh" {
			u.SetNamespace("default")
		}
		if _, ok, _ := unstructuredField(u.Object, "metadata", "creationTimestamp"); !ok {
			u.SetCreationTimestamp(metav1.Unix(int64(1_700_000_000+i), 0))
		}
		if u.GetGeneration() == 0 {
			u.SetGeneration(1)
		}
		var target any
		switch u.GetKind() {
		case "Service":
			target = &corev1.Service{}
		case "VirtualService":
			target = &networkingv1.VirtualService{}
		case "DestinationRule":
			target = &networkingv1.DestinationRule{}
		case "Mesh":
			target = &meshv1alpha1.Mesh{}
		default:
			t.Fatalf("%s: unexpected kind %s", path, u.GetKind())
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, target, true); err != nil {
			t.Fatalf("%s: %s %s: %v", path, u.GetKind(), u.GetName(), err)
		}
		switch o := target.(type) {
		case *corev1.Service:
			in.Services = append(in.Services, model.ServiceFromKube(o, model.DefaultClusterDomain))
		case *networkingv1.VirtualService:
			in.VirtualServices = append(in.VirtualServices, o)
		case *networkingv1.DestinationRule:
			in.DestinationRules = append(in.DestinationRules, o)
		case *meshv1alpha1.Mesh:
			in.Mesh = &o.Spec
		}
	}
	return model.NewSnapshot(in)
}

func unstructuredField(obj map[string]any, path ...string) (any, bool, error) {
	var cur any = obj
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false, nil
		}
		if cur, ok = m[p]; !ok || cur == nil {
			return nil, false, nil
		}
	}
	return cur, true, nil
}

func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n  want: %s\n  got:  %s", i+1, wl, gl)
		}
	}
	return ""
}
