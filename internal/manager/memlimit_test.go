package manager

import (
	"math"
	"os"
	"runtime/debug"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/go-logr/logr"
)

// A container's memory limit becomes the Go runtime's soft limit, less a tenth or the
// headroom for the binary's pages, whichever is more; with no limit, none is set.
func TestLimitMemory(t *testing.T) {
	if _, set := os.LookupEnv("GOMEMLIMIT"); set {
		t.Skip("GOMEMLIMIT is set: it overrides the container's limit")
	}
	t.Cleanup(func() { debug.SetMemoryLimit(math.MaxInt64) })
	for _, c := range []struct{ container, want int64 }{
		{300 << 20, 236 << 20},      // less the headroom
		{4 << 30, 4<<30 - 4<<30/10}, // less a tenth
		{100 << 20, 50 << 20},       // at least half
	} {
		got, err := LimitMemory(memlimit.Limit(uint64(c.container)), logr.Discard())
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want || debug.SetMemoryLimit(-1) != c.want {
			t.Errorf("%d MiB container: limit %d, runtime's %d; want %d", c.container>>20, got, debug.SetMemoryLimit(-1), c.want)
		}
	}
	if _, err := LimitMemory(func() (uint64, error) { return 0, memlimit.ErrNoLimit }, logr.Discard()); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Fatalf("no container limit: the runtime's limit is %d, want none", got)
	}
}
