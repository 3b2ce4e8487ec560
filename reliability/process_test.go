package reliability_test

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The real binary, built once for the tests that run it as a child process.
var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

func archibaldBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "archibald-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "archibald")
		cmd := exec.Command("go", "build", "-o", binPath, "../cmd/archibald")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = &buildError{err: err, out: string(out)}
		}
	})
	if buildErr != nil {
		t.Fatalf("building the binary: %v", buildErr)
	}
	return binPath
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

// logLine is one JSON log record of the child.
type logLine map[string]any

func (l logLine) msg() string { s, _ := l["msg"].(string); return s }
func (l logLine) str(k string) string {
	s, _ := l[k].(string)
	return s
}
func (l logLine) num(k string) int {
	f, _ := l[k].(float64)
	return int(f)
}

// child is archibald serve running as a child process, logging JSON at debug level.
type child struct {
	t      *testing.T
	cmd    *exec.Cmd
	url    string
	logs   chan logLine // every record, in order
	exited chan struct{}
	mu     sync.Mutex
	tail   []string        // the last lines of stderr, for failure messages
	all    strings.Builder // everything the child wrote, stdout and stderr
}

// startChild runs the binary with args and waits until it says where it serves.
func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	cmd := exec.Command(archibaldBinary(t), append([]string{"serve", "--log-format", "json", "--log-level", "debug"}, args...)...)
	cmd.Env = append(os.Environ(), "ARCHIBALD_API_TOKEN=") // only the flags given here
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{t: t, cmd: cmd, logs: make(chan logLine, 100000), exited: make(chan struct{})}
	urls := make(chan string, 1)
	var readers sync.WaitGroup
	readers.Go(func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.mu.Lock()
			c.all.WriteString(sc.Text() + "\n")
			c.mu.Unlock()
			if rest, ok := strings.CutPrefix(sc.Text(), "Status page: "); ok {
				urls <- strings.TrimSuffix(strings.TrimSpace(rest), "/")
			}
		}
	})
	readers.Go(func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			c.mu.Lock()
			c.all.WriteString(sc.Text() + "\n")
			c.tail = append(c.tail, sc.Text())
			if len(c.tail) > 30 {
				c.tail = c.tail[1:]
			}
			c.mu.Unlock()
			var l logLine
			if json.Unmarshal(sc.Bytes(), &l) == nil {
				select {
				case c.logs <- l:
				default:
				}
			}
		}
	})
	go func() {
		readers.Wait()
		_ = cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(c.kill)
	select {
	case c.url = <-urls:
	case <-c.exited:
		t.Fatalf("archibald exited before serving:\n%s", c.stderrTail())
	case <-time.After(60 * time.Second):
		t.Fatalf("archibald did not start within 60s:\n%s", c.stderrTail())
	}
	return c
}

func (c *child) stderrTail() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.tail, "\n")
}

// waitLog returns the first record from now on that matches, failing after timeout.
func (c *child) waitLog(timeout time.Duration, what string, match func(logLine) bool) logLine {
	c.t.Helper()
	expire := time.After(timeout)
	for {
		select {
		case l := <-c.logs:
			if match(l) {
				return l
			}
		case <-c.exited:
			c.t.Fatalf("archibald exited while waiting for %s:\n%s", what, c.stderrTail())
		case <-expire:
			c.t.Fatalf("no %s within %v:\n%s", what, timeout, c.stderrTail())
		}
	}
}

// kill ends the process with SIGKILL, as a crash or a power cut would.
func (c *child) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.exited
}

// stop ends the process with SIGTERM and waits for its orderly exit.
func (c *child) stop() {
	c.t.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(60 * time.Second):
		c.t.Fatalf("archibald did not stop within 60s of SIGTERM:\n%s", c.stderrTail())
	}
	if code := c.cmd.ProcessState.ExitCode(); code != 0 {
		c.t.Fatalf("archibald exited %d after SIGTERM:\n%s", code, c.stderrTail())
	}
}

// output returns everything the child wrote so far.
func (c *child) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.all.String()
}
