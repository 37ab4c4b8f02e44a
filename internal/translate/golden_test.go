package translate

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

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
			snap, _ := testutil.LoadSnapshot(t, in)
			got := render(t, snap)
			// Translation is deterministic and leaves its input alone.
			if again := render(t, first(testutil.LoadSnapshot(t, in))); string(again) != string(got) {
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

func first[A, B any](a A, _ B) A { return a }
