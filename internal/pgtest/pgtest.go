// Package pgtest starts a throwaway PostgreSQL cluster for tests: initdb in
// a temporary directory, the server run as an unprivileged user (PostgreSQL
// refuses to run as root) on a free loopback port, with trust
// authentication for a single user. Tests that cannot get one skip with the
// reason (Skip), so a machine without the Debian postgresql package still
// runs the rest.
//
// The server is a child of the test process that dies with it (a
// parent-death signal), so a test binary killed half way never leaves a
// server behind.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// User is the cluster's superuser; it needs no password (trust).
const User = "pathlens"

// Cluster is a running throwaway PostgreSQL cluster.
type Cluster struct {
	Dir  string // the cluster's directory: data/, the socket and server.log
	Port int    // its loopback TCP port
	bin  string
	mu   sync.Mutex
	cmd  *exec.Cmd // the running postgres; nil while stopped
	log  *os.File
	dbs  atomic.Int64
}

// bindir finds the directory of initdb and postgres: $PATHLENS_PG_BIN,
// Debian's newest /usr/lib/postgresql/N/bin, or the PATH.
func bindir() (string, error) {
	if d := os.Getenv("PATHLENS_PG_BIN"); d != "" {
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, nil
		}
	}
	p, err := exec.LookPath("postgres")
	if err != nil {
		return "", errors.New("PostgreSQL server binaries not found (install Debian's postgresql package, or set PATHLENS_PG_BIN)")
	}
	return filepath.Dir(p), nil
}

func version(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// Start creates and starts a new cluster. Stop it with Stop.
func Start() (*Cluster, error) {
	if runtime.GOOS != "linux" {
		return nil, errors.New("throwaway PostgreSQL clusters are started on Linux only")
	}
	bin, err := bindir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pathlens-pg-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, bin: bin}
	if err := c.init(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := c.StartServer(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

// cred runs cmd as nobody when the test runs as root.
func cred(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGQUIT}
	if os.Geteuid() == 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 65534, Gid: 65534}
	}
}

func (c *Cluster) init() error {
	if os.Geteuid() == 0 {
		if err := os.Chown(c.Dir, 65534, 65534); err != nil {
			return err
		}
	}
	cmd := exec.Command(filepath.Join(c.bin, "initdb"), "-D", filepath.Join(c.Dir, "data"), "-U", User,
		"--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	cred(cmd)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v: %s", err, out)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StartServer starts the cluster's server (again, after StopServer), on
// the same port when it had one, and waits until it accepts connections.
func (c *Cluster) StartServer() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd != nil {
		return nil
	}
	if c.Port == 0 {
		p, err := freePort()
		if err != nil {
			return err
		}
		c.Port = p
	}
	log, err := os.OpenFile(filepath.Join(c.Dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	// fsync off: a test cluster never outlives its machine's uptime.
	cmd := exec.Command(filepath.Join(c.bin, "postgres"), "-D", filepath.Join(c.Dir, "data"),
		"-c", "listen_addresses=127.0.0.1", "-c", "port="+strconv.Itoa(c.Port),
		"-c", "unix_socket_directories="+c.Dir, "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=200", "-c", "log_min_messages=warning")
	cmd.Stdout, cmd.Stderr = log, log
	cred(cmd)
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("postgres: %w", err)
	}
	c.cmd, c.log = cmd, log
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := pgx.Connect(context.Background(), c.DSN("postgres"))
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		if time.Now().After(deadline) {
			c.stopLocked(syscall.SIGQUIT)
			b, _ := os.ReadFile(filepath.Join(c.Dir, "server.log"))
			return fmt.Errorf("postgres did not accept connections within 30 s: %v\n%s", err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// StopServer stops the server (a fast shutdown: connections are cut), and
// keeps the data for StartServer.
func (c *Cluster) StopServer() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopLocked(syscall.SIGINT)
}

// KillServer ends the server at once, as a crash would.
func (c *Cluster) KillServer() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopLocked(syscall.SIGQUIT)
}

func (c *Cluster) stopLocked(sig syscall.Signal) error {
	if c.cmd == nil {
		return nil
	}
	c.cmd.Process.Signal(sig)
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		c.cmd.Process.Kill()
		err = <-done
	}
	c.log.Close()
	c.cmd, c.log = nil, nil
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		err = nil // a signalled postgres exits non-zero
	}
	return err
}

// DSN is the connection string of database db.
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", User, c.Port, db)
}

// CreateDB creates a new, empty database and returns its DSN.
func (c *Cluster) CreateDB(ctx context.Context) (string, error) {
	name := fmt.Sprintf("t%d_%d", os.Getpid(), c.dbs.Add(1))
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0"); err != nil {
		return "", err
	}
	return c.DSN(name), nil
}

// Stop stops the server and removes the cluster's directory.
func (c *Cluster) Stop() error {
	err := c.KillServer()
	if rerr := os.RemoveAll(c.Dir); err == nil {
		err = rerr
	}
	return err
}

var (
	shared     *Cluster
	sharedErr  error
	sharedOnce sync.Once
)

// Shared returns the test binary's one cluster, started on first use;
// TestMain must call StopShared after m.Run.
func Shared() (*Cluster, error) {
	sharedOnce.Do(func() { shared, sharedErr = Start() })
	return shared, sharedErr
}

// StopShared stops the cluster Shared started, if any.
func StopShared() {
	if shared != nil {
		shared.Stop()
	}
}

// DB returns the DSN of a new database on the shared cluster, or skips the
// test with the reason it cannot have one.
func DB(tb testing.TB) string {
	tb.Helper()
	c, err := Shared()
	if err != nil {
		tb.Skipf("no PostgreSQL: %v", err)
	}
	dsn, err := c.CreateDB(context.Background())
	if err != nil {
		tb.Fatalf("create database: %v", err)
	}
	return dsn
}
