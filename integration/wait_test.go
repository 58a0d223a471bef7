package integration

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe to read while a process writes to it,
// which can be waited on for a line.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	written chan struct{} // closed (and replaced) by every Write
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.written != nil {
		close(s.written)
		s.written = nil
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits until the output contains substr and reports whether it
// did within d. It wakes on each write, not on a timer.
func (s *syncBuffer) waitFor(substr string, d time.Duration) bool {
	timeout := time.NewTimer(d)
	defer timeout.Stop()
	for {
		s.mu.Lock()
		found := strings.Contains(s.b.String(), substr)
		if s.written == nil {
			s.written = make(chan struct{})
		}
		written := s.written
		s.mu.Unlock()
		if found {
			return true
		}
		select {
		case <-written:
		case <-timeout.C:
			return false
		}
	}
}

// waitUntil polls cond, every few milliseconds, until it holds or d has
// passed; it reports whether it held. For conditions nothing announces,
// such as a symlink in the mount that a pull moves.
func waitUntil(t testing.TB, d time.Duration, cond func() bool) bool {
	t.Helper()
	for deadline := time.Now().Add(d); ; time.Sleep(5 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}
