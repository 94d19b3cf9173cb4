package devstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// proc is one child process with its log file.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error
	started time.Time
	// how it was started, for a restart
	logDir, dir string
	env, argv   []string
}

// start launches a command in its own process group, logging to
// logDir/name.log. Pdeathsig kills it if the launcher itself dies.
func start(name, logDir, dir string, env []string, argv ...string) (*proc, error) {
	logPath := filepath.Join(logDir, name+".log")
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if restarting[logPath] {
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	f, err := os.OpenFile(logPath, flags, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{}), logDir: logDir, dir: dir, env: env, argv: argv,
		started: time.Now()}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// stop asks the process group to end, then kills it after grace.
func (p *proc) stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// children that left the group's leader behind
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// tail returns the last n lines of the process's log.
func (p *proc) tail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// portOpen reports whether something accepts TCP connections on port.
func portOpen(port int) bool {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 300*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

var httpClient = &http.Client{Timeout: 3 * time.Second}

// httpOK reports whether GET url answers 2xx.
func httpOK(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 300
}

// errDied is returned when a watched process exits while waiting.
var errDied = errors.New("process exited")

// waitFor polls cond until it holds, ctx ends, timeout passes, or one of the
// watched processes exits.
func waitFor(ctx context.Context, what string, timeout time.Duration, watch []*proc, cond func(context.Context) bool) error {
	deadline := time.Now().Add(timeout)
	for {
		if cond(ctx) {
			return nil
		}
		for _, p := range watch {
			if p != nil && p.exited() {
				return fmt.Errorf("%s: %s %w (%v); last lines of %s:\n%s", what, p.name, errDied, p.err, p.logPath, p.tail(25))
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not ready after %s", what, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(150 * time.Millisecond):
		}
	}
}

// restarting marks log files a restart appends to (instead of truncating).
var restarting = map[string]bool{}

// again starts the same command once more.
func (p *proc) again() (*proc, error) {
	restarting[p.logPath] = true
	return start(p.name, p.logDir, p.dir, p.env, p.argv...)
}
