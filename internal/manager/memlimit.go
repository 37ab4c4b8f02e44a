package manager

import (
	"log/slog"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/go-logr/logr"
)

// MemoryHeadroom is the least of a container's memory limit kept out of the Go
// runtime's soft limit, for what the runtime does not count: above all the binary's
// resident pages (meshd's binary is 90 MB, of which about 58 MB stay resident under a
// 2,000-proxy fleet), then cgo and the kernel's socket buffers. A share alone (the
// usual 90%) leaves too little of a small container: in a 300 MiB one, 270 MiB for Go
// plus 58 MB of the binary is 316 MB.
const MemoryHeadroom = 64 << 20

// LimitMemory sets the Go runtime's soft memory limit to what provider reports (the
// container's cgroup limit for the meshd command) less a tenth of it, or less
// MemoryHeadroom if that is more, and returns it (0: none set). The runtime knows
// nothing of the container: at GOGC 100 the heap grows to twice what is live before
// each collection, and the garbage of 2,000 proxies connecting at once (a restart) took
// RSS past 450 MB with 90 MB live. Near the soft limit the collector works harder
// instead of the process being killed; istiod sets its limit from the cgroup too.
// GOMEMLIMIT, or AUTOMEMLIMIT=off, overrides it.
func LimitMemory(provider memlimit.Provider, log logr.Logger) (int64, error) {
	return memlimit.Set(memlimit.WithRatio(1), memlimit.WithProvider(withHeadroom(provider)),
		memlimit.WithLogger(slog.New(logr.ToSlogHandler(log.WithName("memlimit")))))
}

// withHeadroom is provider's limit less max(10%, MemoryHeadroom), and at least half of it.
func withHeadroom(provider memlimit.Provider) memlimit.Provider {
	return func() (uint64, error) {
		limit, err := provider()
		if err != nil {
			return 0, err
		}
		keep := max(limit/10, MemoryHeadroom)
		return max(limit-min(keep, limit), limit/2), nil
	}
}
