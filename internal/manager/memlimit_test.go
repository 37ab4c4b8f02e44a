package manager

import (
	"math"
	"os"
	"runtime/debug"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/go-logr/logr"
)

// A container's memory limit becomes the Go runtime's soft limit, less a tenth; with
// no limit, none is set.
func TestLimitMemory(t *testing.T) {
	if _, set := os.LookupEnv("GOMEMLIMIT"); set {
		t.Skip("GOMEMLIMIT is set: it overrides the container's limit")
	}
	t.Cleanup(func() { debug.SetMemoryLimit(math.MaxInt64) })
	got, err := LimitMemory(memlimit.Limit(300<<20), logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(0.9 * (300 << 20)); got != want || debug.SetMemoryLimit(-1) != want {
		t.Fatalf("300 MiB container: limit %d, runtime's %d; want %d", got, debug.SetMemoryLimit(-1), want)
	}
	if _, err := LimitMemory(func() (uint64, error) { return 0, memlimit.ErrNoLimit }, logr.Discard()); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Fatalf("no container limit: the runtime's limit is %d, want none", got)
	}
}
