package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
)

// Fixed settings of every run.
const (
	interviewSet = sandbox.DemoInterviewSetID
	apiKey       = sandbox.DefaultKey // a sandbox test key, not a secret
	// importSlack is added to the run's length when sizing the import.
	importSlack = 15 * time.Second
	// workerShutdown is BULKINVITE_SHUTDOWN_TIMEOUT; a worker gets that plus
	// stopGrace after SIGTERM before it is killed.
	workerShutdown = 5 * time.Second
	stopGrace      = 10 * time.Second
	// Bounds of the waits along the way.
	buildTimeout        = 5 * time.Minute
	startTimeout        = 15 * time.Second
	enqueueTimeout      = 3 * time.Minute
	firstRequestTimeout = time.Minute
	pollEvery           = 50 * time.Millisecond
)

// measure builds the binary and runs each scenario in turn. It returns the
// figures of the scenarios that completed, with the first error.
func measure(ctx context.Context, o options, scens []scenario) (*report, error) {
	tmp, err := os.MkdirTemp("", "bench-ratelimit-")
	if err != nil {
		return nil, err
	}
	if o.keep {
		fmt.Fprintf(os.Stderr, "logs kept in %s\n", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	bin, err := build(ctx, tmp)
	if err != nil {
		return nil, err
	}
	rep := &report{
		Date:        time.Now().UTC().Format(time.RFC3339),
		GoVersion:   runtime.Version(),
		OS:          runtime.GOOS + "/" + runtime.GOARCH,
		CPUs:        runtime.NumCPU(),
		Duration:    o.duration.String(),
		Warmup:      o.warmup.String(),
		Settle:      o.settle.String(),
		Workers:     o.workers,
		Concurrency: o.concurrency,
		Method: "sandbox not reset; the first " + o.warmup.String() + " after its first request is discarded; " +
			"window = the next " + o.duration.String() + " on the sandbox's clock; mean = requests in window / window length",
	}
	for i, s := range scens {
		dir := filepath.Join(tmp, s.Name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return rep, err
		}
		fmt.Fprintf(os.Stderr, "[%d/%d] %s: %s\n", i+1, len(scens), s.Name, s.Goal)
		res, err := runScenario(ctx, o, bin, dir, s)
		if err != nil {
			return rep, fmt.Errorf("scenario %s: %w (logs in %s with -keep)", s.Name, err, dir)
		}
		rep.Scenarios = append(rep.Scenarios, res)
		fmt.Fprintf(os.Stderr, "  %d requests, %.2f/s, peak 1s %d, 429s %d (%.1f%%)\n",
			res.Requests, res.MeanRate, res.Peak1s, res.Status429, 100*res.Share429)
	}
	return rep, nil
}

// build compiles ./cmd/bulkinvite of the module holding the working directory.
func build(ctx context.Context, dir string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run from inside the bulkinvite module (go run ./bench/ratelimit)")
	}
	bin := filepath.Join(dir, "bulkinvite")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/bulkinvite")
	cmd.Dir = filepath.Dir(gomod)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	fmt.Fprintf(os.Stderr, "building %s\n", bin)
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/bulkinvite: %w", err)
	}
	return bin, nil
}

// runScenario runs one scenario with its own Redis and sandbox and returns its figures.
func runScenario(ctx context.Context, o options, bin, dir string, s scenario) (result, error) {
	var ps procs
	defer ps.stopAll(stopGrace) // whatever happens, no child outlives the scenario

	redisURL, err := startRedis(ctx, &ps, dir)
	if err != nil {
		return result{}, err
	}
	sandboxURL, err := startSandbox(ctx, &ps, bin, dir, s)
	if err != nil {
		return result{}, err
	}
	env := map[string]string{
		"REDIS_URL":                   redisURL,
		"FLOWMINGO_API_URL":           sandboxURL,
		"FLOWMINGO_API_KEY":           apiKey,
		"BULKINVITE_RATE":             strconv.FormatFloat(s.Rate, 'g', -1, 64),
		"BULKINVITE_BURST":            strconv.Itoa(s.Burst),
		"BULKINVITE_LIMITER":          s.Limiter,
		"BULKINVITE_ADAPTIVE":         strconv.FormatBool(s.Adaptive),
		"BULKINVITE_CHUNK_SIZE":       "1",
		"BULKINVITE_CONCURRENCY":      strconv.Itoa(o.concurrency),
		"BULKINVITE_RETRY_MIN":        "100ms",
		"BULKINVITE_RETRY_MAX":        "2s",
		"BULKINVITE_SHUTDOWN_TIMEOUT": workerShutdown.String(),
		"BULKINVITE_LOG_LEVEL":        "warn",
		"BULKINVITE_LOG_FORMAT":       "json",
	}

	run := o.warmup + o.duration
	n := int(math.Ceil(s.ceilingRate(o.workers)*(run+importSlack).Seconds()*1.25)) + 100
	batchID := "bench-" + s.Name
	if err := enqueue(ctx, bin, dir, env, batchID, n); err != nil {
		return result{}, err
	}
	fmt.Fprintf(os.Stderr, "  redis %s, sandbox %s, %d candidates enqueued as batch %s\n", redisURL, sandboxURL, n, batchID)

	var workers []*proc
	for i := range o.workers {
		cmd := exec.Command(bin, "worker")
		cmd.Env = childEnv(env)
		p, err := ps.start(fmt.Sprintf("worker %d", i+1), cmd, filepath.Join(dir, fmt.Sprintf("worker%d.log", i+1)))
		if err != nil {
			return result{}, err
		}
		workers = append(workers, p)
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	first, err := waitFirstRequest(ctx, hc, sandboxURL, workers)
	if err != nil {
		return result{}, err
	}
	// The sandbox's first request arrived at or before first, so the window
	// [its first + warmup, + duration) has ended by then; a second more covers
	// requests in flight at its end.
	end := first.Add(run + time.Second)
	fmt.Fprintf(os.Stderr, "  workers sending; measuring until %s\n", end.Format("15:04:05"))
	if err := sleepUntil(ctx, end, workers); err != nil {
		return result{}, err
	}

	// Stop the workers together, as a deploy would.
	errc := make(chan error, len(workers))
	for _, p := range workers {
		go func() { errc <- p.stop(syscall.SIGTERM, workerShutdown+stopGrace) }()
	}
	var stopErrs []error
	for range workers {
		if err := <-errc; err != nil {
			stopErrs = append(stopErrs, err)
		}
	}

	var recs []sandbox.RequestRecord
	if err := getJSON(ctx, hc, sandboxURL+sandbox.PathRequests, &recs); err != nil {
		return result{}, err
	}
	res, err := analyze(recs, o.warmup, o.duration, o.settle)
	if err != nil {
		return result{}, err
	}
	var st sandbox.Stats
	if err := getJSON(ctx, hc, sandboxURL+sandbox.PathStats, &st); err != nil {
		return result{}, err
	}
	res.DuplicateInvites = st.DuplicateInvites
	if st.DuplicateInvites > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d candidates invited twice (invariant 2)", st.DuplicateInvites))
	}
	res.Scenario = s
	res.Enqueued = n
	res.PendingAtEnd, err = pending(ctx, bin, env, batchID)
	if err != nil {
		return result{}, err
	}
	if res.PendingAtEnd == 0 {
		res.Notes = append(res.Notes, "the queue ran dry: enqueue more")
	}
	for _, e := range stopErrs {
		res.Notes = append(res.Notes, "worker stop: "+e.Error())
	}
	return res, nil
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startRedis starts a private redis-server on a free loopback port, without
// persistence, in dir, and returns its URL once it answers PING.
func startRedis(ctx context.Context, ps *procs, dir string) (string, error) {
	var lastErr error
	for attempt := 1; attempt <= 3; attempt++ { // another process may take the port meanwhile
		port, err := freePort()
		if err != nil {
			return "", err
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		cmd := exec.Command("redis-server",
			"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--protected-mode", "yes",
			"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no")
		p, err := ps.start("redis-server", cmd, filepath.Join(dir, fmt.Sprintf("redis%d.log", attempt)))
		if err != nil {
			return "", err
		}
		if lastErr = waitRedis(ctx, addr, p); lastErr == nil {
			return "redis://" + addr + "/0", nil
		}
		_ = p.stop(syscall.SIGTERM, stopGrace)
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
	}
	return "", fmt.Errorf("redis-server did not start: %w", lastErr)
}

func waitRedis(ctx context.Context, addr string, p *proc) error {
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	defer rdb.Close()
	deadline := time.Now().Add(startTimeout)
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := rdb.Ping(pctx).Err()
		cancel()
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case p.exited():
			return fmt.Errorf("redis-server on %s exited: %v", addr, p.exitErr())
		case time.Now().After(deadline):
			return fmt.Errorf("redis-server on %s not answering PING after %v: %w", addr, startTimeout, err)
		}
		if err := sleepCtx(ctx, pollEvery); err != nil {
			return err
		}
	}
}

// startSandbox starts `bulkinvite sandbox` on a free loopback port and returns
// its URL, read from the first line it prints.
func startSandbox(ctx context.Context, ps *procs, bin, dir string, s scenario) (string, error) {
	args := []string{"sandbox", "--addr", "127.0.0.1:0"}
	if s.SandboxRate > 0 {
		args = append(args, "--rate", strconv.FormatFloat(s.SandboxRate, 'g', -1, 64), "--burst", strconv.Itoa(s.SandboxBurst))
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = childEnv(nil)
	logPath := filepath.Join(dir, "sandbox.log")
	pr, pw, err := os.Pipe()
	if err != nil {
		return "", err
	}
	cmd.Stdout = pw
	p, err := ps.start("sandbox", cmd, logPath)
	pw.Close() // the child holds its own copy
	if err != nil {
		pr.Close()
		return "", err
	}
	lines := make(chan string, 1)
	go func() { // read the banner's first line, then copy the rest to the log until EOF
		defer pr.Close()
		br := bufio.NewReader(pr)
		line, _ := br.ReadString('\n')
		lines <- line
		if f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND, 0); err == nil {
			_, _ = f.WriteString(line)
			_, _ = io.Copy(f, br)
			f.Close()
		} else {
			_, _ = io.Copy(io.Discard, br)
		}
	}()
	t := time.NewTimer(startTimeout)
	defer t.Stop()
	var line string
	select {
	case line = <-lines:
	case <-t.C:
		return "", fmt.Errorf("sandbox printed no address within %v", startTimeout)
	case <-ctx.Done():
		return "", ctx.Err()
	}
	const prefix = "sandbox listening on "
	url, ok := strings.CutPrefix(strings.TrimSpace(line), prefix)
	if !ok || !strings.HasPrefix(url, "http://127.0.0.1:") {
		return "", fmt.Errorf("sandbox: want a first line %q + http://127.0.0.1:PORT, got %q (exited: %v)", prefix, line, p.exited())
	}
	return url, nil
}

// enqueue imports n generated candidates as batchID through `bulkinvite enqueue -`.
func enqueue(ctx context.Context, bin, dir string, env map[string]string, batchID string, n int) error {
	ctx, cancel := context.WithTimeout(ctx, enqueueTimeout)
	defer cancel()
	var in bytes.Buffer
	for i := range n {
		// ats_candidate_id must be a UUID: a made-up version 4 one, unique per row.
		fmt.Fprintf(&in, `{"ats_candidate_id":"00000000-0000-4000-8000-%012d","email":"bench+%d@example.com","firstname":"Bench","lastname":"Candidate %d"}`+"\n", i, i, i)
	}
	cmd := exec.CommandContext(ctx, bin, "enqueue", "-", "--format", "jsonl",
		"--interview-set", interviewSet, "--batch-id", batchID, "--json")
	cmd.Env = childEnv(env)
	cmd.Stdin = &in
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("bulkinvite enqueue: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	_ = os.WriteFile(filepath.Join(dir, "enqueue.json"), out.Bytes(), 0o644)
	var res struct {
		Accepted int               `json:"accepted"`
		Rejected int               `json:"rejected"`
		Rejects  []json.RawMessage `json:"rejects"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return fmt.Errorf("bulkinvite enqueue --json: %w: %q", err, out.String())
	}
	if res.Accepted != n {
		first := ""
		if len(res.Rejects) > 0 {
			first = "; first: " + string(res.Rejects[0])
		}
		return fmt.Errorf("bulkinvite enqueue: %d of %d candidates accepted (%d rejected%s)", res.Accepted, n, res.Rejected, first)
	}
	return nil
}

// pending returns the batch's pending candidates after the run, from
// `bulkinvite status --json`: more than 0 means the workers never ran dry.
func pending(ctx context.Context, bin string, env map[string]string, batchID string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "status", batchID, "--json")
	cmd.Env = childEnv(env)
	cmd.SysProcAttr = sysProcAttr()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("bulkinvite status: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var st struct {
		Pending *int `json:"pending"`
	}
	if err := json.Unmarshal(out, &st); err != nil || st.Pending == nil {
		return 0, fmt.Errorf("bulkinvite status --json: no pending count in %q (%v)", out, err)
	}
	return *st.Pending, nil
}

// waitFirstRequest polls the sandbox until a request has arrived and returns
// when it saw it.
func waitFirstRequest(ctx context.Context, hc *http.Client, url string, workers []*proc) (time.Time, error) {
	deadline := time.Now().Add(firstRequestTimeout)
	for {
		var st sandbox.Stats
		if err := getJSON(ctx, hc, url+sandbox.PathStats, &st); err != nil {
			return time.Time{}, err
		}
		if st.Requests > 0 {
			return time.Now(), nil
		}
		if err := allRunning(workers); err != nil {
			return time.Time{}, err
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("no request reached the sandbox within %v of starting the workers", firstRequestTimeout)
		}
		if err := sleepCtx(ctx, pollEvery); err != nil {
			return time.Time{}, err
		}
	}
}

// sleepUntil waits until t, failing early if ctx ends or a worker exits.
func sleepUntil(ctx context.Context, t time.Time, workers []*proc) error {
	for {
		d := time.Until(t)
		if d <= 0 {
			return nil
		}
		if err := allRunning(workers); err != nil {
			return err
		}
		if err := sleepCtx(ctx, min(d, time.Second)); err != nil {
			return err
		}
	}
}

func allRunning(ps []*proc) error {
	for _, p := range ps {
		if p.exited() {
			return fmt.Errorf("%s exited early: %v", p.name, p.exitErr())
		}
	}
	return nil
}

func getJSON(ctx context.Context, hc *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
