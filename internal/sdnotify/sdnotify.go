// Package sdnotify tells systemd about a daemon's state (sd_notify): READY=1
// once it serves, STOPPING=1 when it stops. Without $NOTIFY_SOCKET it does
// nothing, so daemons call it unconditionally.
package sdnotify

import (
	"fmt"
	"net"
	"os"
)

// Notify sends a state string ("READY=1") to systemd's notification socket
// when NOTIFY_SOCKET is set; without it, it does nothing.
func Notify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:] // abstract socket
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("notify systemd: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("notify systemd: %w", err)
	}
	return nil
}
