package meshenv

import (
	"bufio"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
)

// Memory is what the test process holds. meshd's manager runs in the test process
// (the API server and etcd do not), so this is meshd's memory plus the test's own.
type Memory struct {
	// HeapInuse is the Go heap in use right after a garbage collection: what is
	// still referenced, the figure that grows when something leaks.
	HeapInuse uint64
	// Live is the bytes of live objects the collection found: HeapInuse less the
	// free space in the spans that hold them.
	Live uint64
	// RSS is the resident set size; the Go runtime returns freed memory to the
	// system lazily, so it lags behind the heap. PeakRSS is its high-water mark
	// since the process started.
	RSS, PeakRSS uint64
}

// ReturnedRSS is the resident set size once the runtime has returned the memory it
// holds free to the system at once (as its scavenger does over minutes): what a
// process that went through a peak keeps.
func ReturnedRSS() uint64 {
	debug.FreeOSMemory()
	return rss()
}

// MeasureMemory collects garbage, then reads the heap in use and the RSS. It collects
// twice: what a sync.Pool held at the first collection (gRPC pools its message
// buffers) survives it in the pool's victim cache and would count as live.
func MeasureMemory() Memory {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(live)
	return Memory{HeapInuse: ms.HeapInuse, Live: live[0].Value.Uint64(), RSS: rss(), PeakRSS: status("VmHWM:")}
}

// rss reads VmRSS from /proc/self/status (0 where there is no /proc).
func rss() uint64 { return status("VmRSS:") }

// status reads a size in kB from /proc/self/status (0 where there is no /proc).
func status(field string) uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(v, "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
