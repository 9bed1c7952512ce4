// Command import measures how fast `bulkinvite enqueue` imports a large CSV file and
// how much memory it takes: it writes a file of -rows candidates, starts a private
// redis-server on a free loopback port, builds and runs the real binary against it,
// and prints rows/s and the peak resident set size of the enqueue process.
//
//	go run ./bench/import -rows 1000000
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

func main() {
	rows := flag.Int("rows", 1_000_000, "candidates in the generated CSV file")
	runs := flag.Int("runs", 3, "imports to time (each into a fresh database)")
	flag.Parse()
	if err := run(*rows, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "bench/import:", err)
		os.Exit(1)
	}
}

func run(rows, runs int) error {
	dir, err := os.MkdirTemp("", "bulkinvite-bench-import")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	bin := filepath.Join(dir, "bulkinvite")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/bulkinvite").CombinedOutput(); err != nil {
		return fmt.Errorf("build: %v\n%s", err, out)
	}
	csvPath := filepath.Join(dir, "candidates.csv")
	if err := writeCSV(csvPath, rows); err != nil {
		return err
	}
	st, _ := os.Stat(csvPath)

	port, err := freePort()
	if err != nil {
		return err
	}
	redisCmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir)
	if err := redisCmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	defer func() { _ = redisCmd.Process.Kill(); _ = redisCmd.Wait() }()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	if err := waitPing(rdb); err != nil {
		return err
	}

	fmt.Printf("import of %d rows (%.1f MB CSV), %d runs, redis-server on %s\n", rows, float64(st.Size())/1e6, runs, addr)
	fmt.Printf("%-4s %10s %14s %14s\n", "run", "seconds", "rows/s", "peak RSS MiB")
	for i := 1; i <= runs; i++ {
		if err := rdb.FlushDB(context.Background()).Err(); err != nil { // our private server only
			return err
		}
		cmd := exec.Command(bin, "enqueue", csvPath, "--interview-set", "019c5ea9-a792-7f0d-b671-4c3c1602094e", "--json")
		cmd.Env = append(os.Environ(), "REDIS_URL=redis://"+addr+"/0", "BULKINVITE_LOG_LEVEL=warn")
		cmd.Stderr = os.Stderr
		start := time.Now()
		out, err := cmd.Output()
		secs := time.Since(start).Seconds()
		if err != nil {
			return fmt.Errorf("enqueue: %w", err)
		}
		var res struct{ Accepted int }
		if err := json.Unmarshal(out, &res); err != nil || res.Accepted != rows {
			return fmt.Errorf("enqueue accepted %d of %d rows (%v): %s", res.Accepted, rows, err, out)
		}
		rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KiB on Linux
		fmt.Printf("%-4d %10.2f %14.0f %14.1f\n", i, secs, float64(rows)/secs, float64(rss)/1024)
	}
	mem, _ := rdb.Info(context.Background(), "memory").Result()
	fmt.Printf("redis memory after the last run: %s\n", field(mem, "used_memory_human"))
	return nil
}

func writeCSV(path string, rows int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintln(w, "email,first name,last name,cv url")
	for i := range rows {
		fmt.Fprintf(w, "person%d@example.com,First%d,Last%d,https://cv.example.com/%d.pdf\n", i, i, i, i)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitPing(rdb *redis.Client) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := rdb.Ping(context.Background()).Err()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func field(info, name string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return "?"
}
