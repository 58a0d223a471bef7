package main

import (
	"fmt"
	"net"
	"os"
	"strings"
)

// notifier speaks systemd's readiness protocol (sd_notify(3)): each state
// change is one datagram of "KEY=VALUE" lines sent to the unix socket named
// by $NOTIFY_SOCKET (a leading '@' names an abstract socket, which Go's
// net package maps itself). Without $NOTIFY_SOCKET it does nothing, so a
// mount outside systemd pays nothing.
type notifier struct {
	conn *net.UnixConn // nil: not under a Type=notify unit
}

// newNotifier connects to $NOTIFY_SOCKET when it is set; a socket that
// cannot be reached is reported, and the mount goes on without it.
func newNotifier() (*notifier, error) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return &notifier{}, nil
	}
	if !strings.HasPrefix(path, "/") && !strings.HasPrefix(path, "@") {
		return &notifier{}, fmt.Errorf("NOTIFY_SOCKET=%s: not a unix socket path", path)
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return &notifier{}, fmt.Errorf("connect to NOTIFY_SOCKET %s: %w", path, err)
	}
	return &notifier{conn: conn}, nil
}

// notify sends one state change, such as "READY=1" or "STATUS=…".
func (n *notifier) notify(state string) error {
	if n.conn == nil {
		return nil
	}
	if _, err := n.conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify %q: %w", state, err)
	}
	return nil
}

// status sends STATUS=, the one line systemctl status shows; newlines
// would end the field, so they become spaces.
func (n *notifier) status(format string, args ...any) error {
	return n.notify("STATUS=" + strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", " "))
}

func (n *notifier) close() {
	if n.conn != nil {
		n.conn.Close()
	}
}
