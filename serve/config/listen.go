package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pathlens/pathlens/internal/optparse"
	"github.com/pathlens/pathlens/probe/token"
)

// CheckListen validates a listen address: host:port with a numeric port,
// and a loopback host unless a token protects the server (hasToken).
// serve applies it to --listen too.
func CheckListen(addr string, hasToken bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port (e.g. %s)", addr, DefaultListen)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	if !hasToken && !isLoopback(host) {
		return fmt.Errorf("binding %s beyond loopback needs auth.token_file", addr)
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// readToken reads the bearer token: one line, no spaces. Its content never
// appears in an error.
func readToken(path string) (string, error) {
	b, err := optparse.ReadSmallFile(path, maxTokenSize)
	if err != nil {
		if strings.Contains(err.Error(), "is larger than") {
			return "", fmt.Errorf("%s is larger than %d KiB; it must hold only the token", path, maxTokenSize>>10)
		}
		return "", err
	}
	return token.FromFile(path, b)
}
