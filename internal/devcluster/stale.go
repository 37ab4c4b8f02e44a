package devcluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// stopStale terminates processes other than this one (and its ancestors) whose command
// line names dir: the etcd, kube-apiserver and dev manager of an earlier run that did
// not shut down. SIGTERM first, SIGKILL after a grace period, so a second `make dev`
// after a crash recovers instead of hanging on etcd's data lock or a taken port.
func stopStale(ctx context.Context, dir string) error {
	pids := staleProcesses(dir)
	if len(pids) == 0 {
		return nil
	}
	for _, pid := range pids {
		fmt.Fprintf(os.Stderr, "devcluster: stopping process %d left by an earlier run in %s\n", pid, dir)
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if len(staleProcesses(dir)) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	for _, pid := range staleProcesses(dir) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	time.Sleep(200 * time.Millisecond)
	if left := staleProcesses(dir); len(left) > 0 {
		return fmt.Errorf("devcluster: processes %v still use %s", left, dir)
	}
	return nil
}

// ownProcess names the programs a dev control plane runs.
var ownProcess = map[string]bool{"etcd": true, "kube-apiserver": true, "meshd-dev": true}

func staleProcesses(dir string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	protected := ancestors()
	needle := []byte(dir + string(filepath.Separator))
	exact := []byte(dir)
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || protected[pid] {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || isZombie(pid) {
			continue
		}
		args := bytes.Split(cmdline, []byte{0})
		// Only the control plane's own processes: a kubectl or an editor with a file
		// of the folder open is left alone.
		if !ownProcess[filepath.Base(string(args[0]))] {
			continue
		}
		for _, arg := range args[1:] {
			// An argument names dir when it is dir, lies under it, or is a flag whose
			// value does (--data-dir=/x/etcd).
			if bytes.Equal(arg, exact) || bytes.Contains(arg, needle) || bytes.HasSuffix(arg, append([]byte("="), exact...)) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// ancestors returns this process and its parents, which must never be stopped (make
// itself names the folder in its command line when it runs `make dev`).
func ancestors() map[int]bool {
	out := map[int]bool{}
	for pid := os.Getpid(); pid > 1 && !out[pid]; {
		out[pid] = true
		stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			break
		}
		// The field after the parenthesised command name is the state, then the ppid.
		rest := stat[bytes.LastIndexByte(stat, ')')+1:]
		fields := bytes.Fields(rest)
		if len(fields) < 2 {
			break
		}
		pid, _ = strconv.Atoi(string(fields[1]))
	}
	return out
}

func isZombie(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true
	}
	rest := stat[bytes.LastIndexByte(stat, ')')+1:]
	fields := bytes.Fields(rest)
	return len(fields) > 0 && string(fields[0]) == "Z"
}
