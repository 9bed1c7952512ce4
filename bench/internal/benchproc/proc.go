package benchproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// Proc is a child process that runs until stopped.
type Proc struct {
	// Name names the process in errors and reports ("worker 2", "redis-server").
	Name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // Wait's error, set before done is closed
}

// Group holds the long-running children of one run; StopAll ends every one
// still running, whatever happened.
type Group struct {
	mu   sync.Mutex
	list []*Proc
}

// Start starts cmd as name, its stdout and stderr (unless set) going to logPath,
// in its own process group (SysProcAttr).
func (g *Group) Start(name string, cmd *exec.Cmd, logPath string) (*Proc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own descriptor once started
	if cmd.Stdout == nil {
		cmd.Stdout = logf
	}
	if cmd.Stderr == nil {
		cmd.Stderr = logf
	}
	cmd.SysProcAttr = SysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	g.mu.Lock()
	g.list = append(g.list, p)
	g.mu.Unlock()
	return p, nil
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether p has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the process, unless it has exited.
func (p *Proc) Signal(sig os.Signal) error {
	if p.Exited() {
		return fmt.Errorf("%s has exited", p.Name)
	}
	return p.cmd.Process.Signal(sig)
}

// Kill sends SIGKILL, as a crash would, and waits until the process is gone.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Stop sends sig, waits up to grace, then kills. It reports an exit that was
// not clean (a kill, or a non-zero status).
func (p *Proc) Stop(sig os.Signal, grace time.Duration) error {
	if p.Exited() {
		return p.ExitErr()
	}
	_ = p.cmd.Process.Signal(sig)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return p.ExitErr()
	case <-t.C:
	}
	p.Kill()
	return fmt.Errorf("%s did not stop within %v of %v; killed", p.Name, grace, sig)
}

// ExitErr is Wait's error, naming the process; nil while it runs or after a
// clean exit.
func (p *Proc) ExitErr() error {
	if p.Exited() && p.err != nil {
		return fmt.Errorf("%s: %w", p.Name, p.err)
	}
	return nil
}

// StopAll stops, at once, every child still running: SIGTERM, then SIGKILL
// after grace.
func (g *Group) StopAll(grace time.Duration) {
	g.mu.Lock()
	list := g.list
	g.list = nil
	g.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = p.Stop(syscall.SIGTERM, grace)
		}()
	}
	wg.Wait()
}

// ChildEnv is the environment of a bulkinvite child: ours, without any
// REDIS_URL, FLOWMINGO_* or BULKINVITE_* of the caller (so that nothing reaches
// a real Redis or API, nor reads a config file), plus extra.
func ChildEnv(extra map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name == "REDIS_URL" || strings.HasPrefix(name, "FLOWMINGO_") || strings.HasPrefix(name, "BULKINVITE_") {
			continue
		}
		env = append(env, kv)
	}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}

// Command is a short-lived `bin args...` (a bulkinvite command) with
// ChildEnv(env), killed when ctx ends and, on Linux, when this program dies.
func Command(ctx context.Context, bin string, env map[string]string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = ChildEnv(env)
	cmd.SysProcAttr = SysProcAttr()
	return cmd
}

// Output runs cmd and returns its standard output; a failure's error carries
// the command's first argument and its standard error.
func Output(cmd *exec.Cmd) ([]byte, error) {
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		name := ""
		if len(cmd.Args) > 1 {
			name = " " + cmd.Args[1]
		}
		return out.Bytes(), fmt.Errorf("bulkinvite%s: %w: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	return out.Bytes(), nil
}

// Finish ends a measurement command: it says on standard error how err ended the
// run (prog names the command), keeps the run's directory tmp (its processes'
// logs) after an error or when asked, else removes it, and returns the exit
// status: 1 after an error, else 0.
func Finish(prog string, err error, keep bool, tmp string) int {
	switch {
	case err != nil && errors.Is(err, context.Canceled):
		fmt.Fprintln(os.Stderr, prog+": interrupted")
	case err != nil:
		fmt.Fprintln(os.Stderr, prog+":", err)
	}
	if err != nil || keep {
		fmt.Fprintf(os.Stderr, "logs of every process are in %s (remove it when done)\n", tmp)
	} else {
		_ = os.RemoveAll(tmp)
	}
	if err != nil {
		return 1
	}
	return 0
}

// Begin starts a measurement command: go-redis's own log lines are dropped (its
// reconnect messages while a Redis is down are expected), ctx ends on SIGINT or
// SIGTERM (stop releases the signals), and tmp is a new directory for the run's
// files, named after prog.
func Begin(prog string) (ctx context.Context, stop func(), tmp string, err error) {
	redis.SetLogger(quietRedis{})
	ctx, stop = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	tmp, err = os.MkdirTemp("", "bench-"+prog+"-")
	if err != nil {
		stop()
		return nil, nil, "", err
	}
	return ctx, stop, tmp, nil
}

// quietRedis drops go-redis's own log lines.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}
