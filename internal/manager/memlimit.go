package manager

import (
	"log/slog"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/go-logr/logr"
)

// MemoryLimitRatio is the share of the container's memory limit given to the Go
// runtime as its soft limit; the rest is for what the runtime does not count (the
// binary's pages, cgo, the kernel's buffers for 2,000 streams).
const MemoryLimitRatio = 0.9

// LimitMemory sets the Go runtime's soft memory limit to MemoryLimitRatio of the limit
// provider reports (the container's cgroup limit for the meshd command) and returns
// it (0: none set). The runtime knows nothing of the container: at GOGC 100 the heap
// grows to twice what is live before each collection, and the garbage of 2,000 proxies
// connecting at once (a restart) took RSS past 450 MB with 90 MB live. Near the soft
// limit the collector works harder instead of the process being killed; istiod sets
// its limit the same way. GOMEMLIMIT, or AUTOMEMLIMIT=off, overrides it.
func LimitMemory(provider memlimit.Provider, log logr.Logger) (int64, error) {
	return memlimit.Set(memlimit.WithRatio(MemoryLimitRatio), memlimit.WithProvider(provider),
		memlimit.WithLogger(slog.New(logr.ToSlogHandler(log.WithName("memlimit")))))
}
