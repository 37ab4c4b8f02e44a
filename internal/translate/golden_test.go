package translate

import (
	"sort"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/model"
	"github.com/meshd-io/meshd/internal/testutil"
)

// goldenOut is what a case's .out.yaml holds: the IR and each object's conditions.
type goldenOut struct {
	IR     *ir.IR                        `json:"ir"`
	Status map[string][]metav1.Condition `json:"status"`
}

// TestGolden translates testdata/<case>.in.yaml and compares with <case>.out.yaml.
func TestGolden(t *testing.T) {
	testutil.GoldenCases(t, func(t *testing.T, in string) []byte {
		snap, _ := testutil.LoadSnapshot(t, in)
		got := render(t, snap)
		// Translation is deterministic and leaves its input alone.
		if again := render(t, snap); string(again) != string(got) {
			t.Fatal("translating the same snapshot twice gives different output")
		}
		return got
	})
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
