package testutil

import (
	"net/http"
	"slices"
	"sync"
)

// RequestLog records the API requests a client sends that match a condition, for
// tests that check what a manager asked of the API server (a rest.Config's Wrap).
type RequestLog struct {
	mu    sync.Mutex
	seen  []string
	match func(*http.Request, *http.Response) bool
}

// NewRequestLog records the requests for which match holds.
func NewRequestLog(match func(*http.Request, *http.Response) bool) *RequestLog {
	return &RequestLog{match: match}
}

// Wrap is a rest.Config transport wrapper; every client built from the config records
// into the same log.
func (l *RequestLog) Wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := next.RoundTrip(req)
		if err == nil && l.match(req, resp) {
			l.mu.Lock()
			l.seen = append(l.seen, req.Method+" "+req.URL.Path+"?"+req.URL.RawQuery)
			l.mu.Unlock()
		}
		return resp, err
	})
}

// List returns the requests recorded so far.
func (l *RequestLog) List() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.seen)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
