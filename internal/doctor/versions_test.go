package doctor_test

import (
	"context"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/internal/doctor"
	"github.com/bulkinvite/bulkinvite/internal/presence"
	"github.com/bulkinvite/bulkinvite/internal/store"
)

// The child process's settings: set, the test binary is a worker process.
const (
	childRedis   = "BULKINVITE_TEST_DOCTOR_REDIS"
	childVersion = "BULKINVITE_TEST_DOCTOR_VERSION"
)

// childEvery is how often the child refreshes its version: its entry lapses
// presence.TTLFactor times that after it is killed.
const childEvery = 200 * time.Millisecond

// TestHelperWorkerProcess is not a test. Run by startWorker with childRedis
// set, it is a worker process: an asynq server taking every queue, and its
// version published as bulkinvite worker publishes it, until SIGTERM or its
// stdin ends.
func TestHelperWorkerProcess(t *testing.T) {
	addr := os.Getenv(childRedis)
	if addr == "" {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	srv := serveEveryQueue(t, rdb, 1)
	stopPublishing := presence.NewPublisher(rdb, store.DefaultPrefix, presence.Config{Every: childEvery, Version: os.Getenv(childVersion)}).Start()
	<-ctx.Done()
	stopPublishing()
	srv.Shutdown()
	os.Exit(0)
}

// startWorker runs a worker process publishing version against the Redis at
// addr; it is killed when the test ends, if it still runs.
func startWorker(t *testing.T, addr, version string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWorkerProcess$")
	cmd.Env = append(os.Environ(), childRedis+"="+addr, childVersion+"="+version)
	stdin, err := cmd.StdinPipe() // held open: the child ends with us
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		<-exited
	})
	return cmd
}

// TestWorkerVersions: doctor shows each worker's version, warns of two
// versions running and of a worker older than itself; a worker stopped
// gracefully takes its entry with it, a killed one's lapses.
func TestWorkerVersions(t *testing.T) {
	t.Parallel()
	srv := good(t)
	ctx := t.Context()
	apiURL, client := vendor(t)
	host, _ := os.Hostname()
	workersCheck := func() doctor.Check {
		rep := doctor.Run(ctx, doctor.Config{RedisURL: srv.URL(), APIURL: apiURL, HTTPClient: client, Version: "v1.4.0"}, connect(t, srv.URL(), 0))
		return byName(rep)["workers"]
	}
	// waitWorkers runs doctor until its workers check holds every one of want.
	waitWorkers := func(want ...string) doctor.Check {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second) // asynq's heartbeat: every 5 s
		for {
			c := workersCheck()
			held := true
			for _, w := range want {
				held = held && strings.Contains(c.Detail, w)
			}
			if held {
				return c
			}
			if time.Now().After(deadline) {
				t.Fatalf("workers: %+v, want %q", c, want)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	name := func(cmd *exec.Cmd) string { return host + " pid " + strconv.Itoa(cmd.Process.Pid) }

	upgraded := startWorker(t, srv.Addr(), "v1.4.0")
	c := waitWorkers("1 running", name(upgraded)+" (active, concurrency 1, since ")
	if c.Status != doctor.OK || !strings.Contains(c.Detail, "version v1.4.0") {
		t.Fatalf("workers, one of doctor's version: %+v, want ok with version v1.4.0", c)
	}

	old := startWorker(t, srv.Addr(), "v1.3.2")
	c = waitWorkers("2 running", "version v1.3.2")
	for _, want := range []string{"2 versions, v1.3.2 (1), v1.4.0 (1)", "rolling upgrade", name(old) + " runs v1.3.2, older than this doctor's v1.4.0"} {
		if c.Status != doctor.Warn || !strings.Contains(c.Detail, want) {
			t.Errorf("workers, two versions: %+v, want a warning with %q", c, want)
		}
	}
	if !strings.Contains(c.Fix, "finish the upgrade") || !strings.Contains(c.Fix, "upgrade the workers") {
		t.Errorf("workers fix: %q, want the upgrade's", c.Fix)
	}

	oldProc := presence.Proc{Host: host, PID: old.Process.Pid}
	if err := old.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	c = waitWorkers("1 running")
	if c.Status != doctor.OK || strings.Contains(c.Detail, "v1.3.2") {
		t.Errorf("workers after the old one stopped: %+v, want ok with v1.4.0 alone", c)
	}
	if got, err := presence.Lookup(ctx, srv.Client(), store.DefaultPrefix, []presence.Proc{oldProc}); err != nil || len(got) != 0 {
		t.Errorf("the stopped worker's entry: %v (%v), want none", got, err)
	}

	// Killed: asynq keeps its server for a while; its version lapses sooner.
	upProc := presence.Proc{Host: host, PID: upgraded.Process.Pid}
	if err := upgraded.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	deadline := killed.Add(10 * time.Second)
	for {
		got, err := presence.Lookup(ctx, srv.Client(), store.DefaultPrefix, []presence.Proc{upProc})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a killed worker's entry is still there after 10s: %v", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if d := time.Since(killed); d > presence.TTLFactor*childEvery+2*time.Second {
		t.Errorf("the killed worker's entry lapsed after %s, want within its TTL", d)
	}
}
