package translate

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/testutil/randommesh"
)

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestIncrementalMatchesFull: after every random edit, incremental translation gives
// exactly what full translation gives (IR and every object's report), while it
// actually translates only part of the mesh most of the time.
func TestIncrementalMatchesFull(t *testing.T) {
	for seed := range uint64(20) {
		m := randommesh.New(seed)
		x := &Incremental{}
		restricted := 0
		for step := range 150 {
			snap := m.Snapshot()
			before := x.out
			got, gotReport := x.Translate(snap)
			want, wantReport := Translate(snap)
			if g, w := asJSON(t, got), asJSON(t, want); g != w {
				t.Fatalf("seed %d step %d: incremental IR differs from full translation:\n got %s\nwant %s", seed, step, g, w)
			}
			if !reflect.DeepEqual(gotReport, wantReport) {
				t.Fatalf("seed %d step %d: incremental report differs from full translation:\n got %s\nwant %s", seed, step, asJSON(t, gotReport), asJSON(t, wantReport))
			}
			if before != nil && shares(before, got) {
				restricted++
			}
			m.Edit()
		}
		if restricted < 30 {
			t.Errorf("seed %d: only %d of 150 translations carried services over", seed, restricted)
		}
	}
}

// shares reports whether two IRs share some service.
func shares(a, b *ir.IR) bool {
	prev := map[*ir.Service]bool{}
	for _, s := range a.Services {
		prev[s] = true
	}
	for _, s := range b.Services {
		if prev[s] {
			return true
		}
	}
	return false
}
