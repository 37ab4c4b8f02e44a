// Package testnet gives integration tests a test host of their own: a network
// namespace joined to this one by a veth pair, with a private address. Backends listen
// there, so EndpointSlices can carry a real, non-loopback address (the API server
// refuses loopback endpoint addresses) while all traffic stays on this machine, between
// namespaces the test made. It needs root and iproute2's ip.
package testnet

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Host is a network namespace reachable at HostIP from the test's namespace.
type Host struct {
	name    string
	hostDev string
	// HostIP is the address inside the namespace; PeerIP is this side of the link.
	HostIP, PeerIP string
}

// New creates the namespace and link. index picks a distinct /30 so that several test
// processes can each have one (10.213.<index/64>.<(index%64)*4>/30).
func New(index int) (*Host, error) {
	pid := os.Getpid()
	h := &Host{name: fmt.Sprintf("meshd-test-%d-%d", pid, index), hostDev: fmt.Sprintf("mt%dh%d", pid%100000, index)}
	third, fourth := (index/64)%256, (index%64)*4
	h.PeerIP = fmt.Sprintf("10.213.%d.%d", third, fourth+1)
	h.HostIP = fmt.Sprintf("10.213.%d.%d", third, fourth+2)
	nsDev := h.hostDev + "n"
	steps := [][]string{
		{"netns", "add", h.name},
		{"link", "add", h.hostDev, "type", "veth", "peer", "name", nsDev},
		{"link", "set", nsDev, "netns", h.name},
		{"addr", "add", h.PeerIP + "/30", "dev", h.hostDev},
		{"link", "set", h.hostDev, "up"},
		{"netns", "exec", h.name, "ip", "addr", "add", h.HostIP + "/30", "dev", nsDev},
		{"netns", "exec", h.name, "ip", "link", "set", nsDev, "up"},
		{"netns", "exec", h.name, "ip", "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			h.Close()
			return nil, fmt.Errorf("testnet: ip %s: %v: %s (tests with a test host need root and iproute2)", strings.Join(s, " "), err, out)
		}
	}
	return h, nil
}

// Listen opens a TCP listener inside the namespace on HostIP. The socket is created
// on a thread switched into the namespace; it stays there after the thread switches
// back, so the rest of the process serves it normally. The switch runs on a goroutine
// of its own: should switching back fail, that goroutine exits with its thread locked,
// and Go discards the thread rather than reuse it in the wrong namespace.
func (h *Host) Listen() (net.Listener, error) {
	type result struct {
		l   net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: err}
			return
		}
		defer self.Close()
		target, err := os.Open("/run/netns/" + h.name)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: err}
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("testnet: enter %s: %w", h.name, err)}
			return
		}
		l, lerr := net.Listen("tcp", net.JoinHostPort(h.HostIP, "0"))
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{l: l, err: lerr}
			return // thread stays locked and dies with the goroutine
		}
		runtime.UnlockOSThread()
		ch <- result{l: l, err: lerr}
	}()
	r := <-ch
	return r.l, r.err
}

// Close removes the namespace; the veth pair goes with it.
func (h *Host) Close() {
	_ = exec.Command("ip", "netns", "del", h.name).Run()
	_ = exec.Command("ip", "link", "del", h.hostDev).Run()
}
