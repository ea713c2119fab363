// Package testproc runs the real servers that integration tests need (etcd,
// Redis, a container registry...) as child processes on loopback, and stops them
// when the test ends. The servers come from Debian packages that ./bazelw
// installs; a missing one fails the test, naming the package, never skips it.
// Launch and LaunchService are the same without a test, for tools that run
// servers (tools/devstack).
package testproc

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// Binary returns the path of a server program, failing the test with the Debian
// package to install when it is missing.
func Binary(t testing.TB, name, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install the Debian package %s (./bazelw does on first run): %v", name, debianPackage, err)
	}
	return path
}

// FreeAddr returns a loopback host:port nothing listens on right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	addr, err := PickAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// PickAddr returns a loopback host:port nothing listens on right now, for a
// server that a child process starts next. An ephemeral port (a listen on port
// 0) is the kernel's to give to the next outgoing connection as soon as it is
// closed, and under load one did before the server bound it ("address already
// in use"). So the port comes from below the ephemeral range
// (net.ipv4.ip_local_port_range), which connections never take, and it is
// reserved for the life of this process (reservePort), so neither this process
// nor another test's picks it again.
func PickAddr() (string, error) {
	reservedMu.Lock()
	defer reservedMu.Unlock()
	if low := ephemeralLow(); low > minPort+1000 {
		for range 100 {
			port := minPort + rand.IntN(low-minPort)
			if reserved[port] != nil {
				continue
			}
			lock, err := reservePort(port)
			if err != nil {
				continue // another test process has it
			}
			lis, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				lock.Close()
				continue // taken
			}
			lis.Close()
			reserved[port] = lock
			return lis.Addr().String(), nil
		}
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer lis.Close()
	return lis.Addr().String(), nil
}

// minPort is the lowest port PickAddr picks: above the well-known and most
// registered servers' ports.
const minPort = 10000

var (
	reservedMu sync.Mutex
	reserved   = map[int]io.Closer{} // port: its reservation, held until exit
)

// reservePort claims port among all the processes on this machine that use
// testproc: Bazel runs test binaries side by side, and two of them could give
// the same free port to their servers, one of which would then fail to bind.
// The claim is a Linux abstract Unix socket, named after the port: it needs no
// file, only one process can bind a name, and the kernel drops it when the
// process exits, however it exits. Elsewhere there is no claim, only this
// process's own list.
func reservePort(port int) (io.Closer, error) {
	if runtime.GOOS != "linux" {
		return io.NopCloser(nil), nil
	}
	return net.Listen("unix", reservationName(port))
}

// reservationName is the abstract socket name ("@" is the leading NUL byte)
// that reserves port.
func reservationName(port int) string {
	return fmt.Sprintf("@monoreel-testproc-port-%d", port)
}

// ephemeralLow returns the first port of the kernel's ephemeral range, or 0 when
// it cannot be read (then PickAddr takes an ephemeral port). It is read once:
// the range does not change under a running test.
var ephemeralLow = sync.OnceValue(func() int {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	var low, high int
	if _, err := fmt.Sscan(string(data), &low, &high); err != nil {
		return 0
	}
	return low
})

// Process is a running server.
type Process struct {
	cmd     *exec.Cmd
	exited  chan error
	once    sync.Once
	logPath string
}

// Stop kills the server and waits for it to exit. It is safe to call twice.
func (p *Process) Stop() {
	p.once.Do(func() {
		p.cmd.Process.Kill()
		err := <-p.exited
		p.exited <- err
	})
}

// Start runs binary with args (its output in a log file under t.TempDir()),
// waits up to 30s for ready to return nil, and stops it when the test ends.
func Start(t testing.TB, binary string, args []string, ready func() error) *Process {
	t.Helper()
	p, err := Launch(binary, args, filepath.Join(t.TempDir(), filepath.Base(binary)+".log"), ready)
	if p != nil {
		t.Cleanup(p.Stop)
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Launch runs binary with args, its output in the file logPath, and waits up to
// 30s for ready to return nil. The caller stops it; on an error it is stopped
// already (the error has the end of its log).
func Launch(binary string, args []string, logPath string, ready func() error) (*Process, error) {
	logs, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		logs.Close()
		return nil, fmt.Errorf("starting %s: %v", binary, err)
	}
	exited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		logs.Close()
		exited <- err
	}()
	p := &Process{cmd: cmd, exited: exited, logPath: logPath}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := ready()
		if err == nil {
			return p, nil
		}
		select {
		case exitErr := <-exited:
			exited <- exitErr
			return nil, fmt.Errorf("%s exited before it was ready (%v):\n%s", binary, exitErr, tail(logPath))
		default:
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("%s not ready after 30s: %v\n%s", binary, err, tail(logPath))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tail returns the end of a log file, for failure messages.
func tail(path string) string {
	data, _ := os.ReadFile(path)
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return fmt.Sprintf("--- %s ---\n%s", path, data)
}
