// Package launch starts the project's launcher (cmd/devstack) for the test
// suites and the bench: built once into a folder, run on its own data
// directory and port offset, ready when its stack.json appears, and
// stopped with SIGTERM (SIGKILL after a minute).
package launch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Build compiles cmd/devstack of the repository at root into dir.
func Build(root, dir string) (string, error) {
	launcher := filepath.Join(dir, "devstack")
	cmd := exec.Command("go", "build", "-o", launcher, "./cmd/devstack")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build launcher: %v\n%s", err, out)
	}
	return launcher, nil
}

// Stack is a launcher that is running.
type Stack struct {
	cmd    *exec.Cmd
	exited chan error
}

// Start runs launcher with args in root, its output to out, and waits up to
// wait for <dataDir>/run/stack.json, which it decodes into info. The
// launcher dies with the calling process (SIGTERM).
func Start(root, launcher string, args, env []string, out io.Writer, dataDir string, wait time.Duration, info any) (*Stack, error) {
	cmd := exec.Command(launcher, args...)
	cmd.Dir = root
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start launcher: %w", err)
	}
	s := &Stack{cmd: cmd, exited: make(chan error, 1)}
	go func() { s.exited <- cmd.Wait() }()
	deadline := time.Now().Add(wait)
	for {
		if b, err := os.ReadFile(filepath.Join(dataDir, "run", "stack.json")); err == nil && json.Unmarshal(b, info) == nil {
			return s, nil
		}
		select {
		case err := <-s.exited:
			return nil, fmt.Errorf("launcher exited before the stack was ready (%v)%s", err, ErrorLines(dataDir, 10))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = s.Stop()
			return nil, fmt.Errorf("stack not ready in %s%s", wait, ErrorLines(dataDir, 10))
		}
	}
}

// Stop ends the launcher, which stops everything it started.
func (s *Stack) Stop() error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return nil
	case <-time.After(60 * time.Second):
		_ = s.cmd.Process.Kill()
		return fmt.Errorf("launcher did not stop within 60s")
	}
}

// Buffer is an io.Writer safe for the launcher's output and a reader.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Tail is the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ErrorLines is the last n error lines of each app's log under
// <dataDir>/logs (apps log JSON with "level":"ERROR"), headed by the log's
// name, so a stack that failed to start says why after its folder is gone.
func ErrorLines(dataDir string, n int) string {
	logs, _ := filepath.Glob(filepath.Join(dataDir, "logs", "*.log"))
	var b strings.Builder
	for _, path := range logs {
		raw, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		var hits []string
		for _, line := range strings.Split(string(raw), "\n") {
			if strings.Contains(line, `"level":"ERROR"`) || strings.Contains(line, "level=error") || strings.Contains(line, "level=fatal") {
				hits = append(hits, line)
			}
		}
		if len(hits) == 0 {
			continue
		}
		if len(hits) > n {
			hits = hits[len(hits)-n:]
		}
		fmt.Fprintf(&b, "\n--- %s (last %d error lines)\n%s", filepath.Base(path), len(hits), strings.Join(hits, "\n"))
	}
	return b.String()
}
