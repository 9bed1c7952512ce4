package faultproxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testBundle is an upstream line server and a proxy in front of it, both
// closed when the test ends.
type testBundle struct {
	proxy *Proxy
	// upstreamConns counts the connections the upstream accepted.
	upstreamConns atomic.Int64
	// release, when not nil, holds each reply until a value is sent on it.
	release chan struct{}
}

// setup starts an upstream that answers each line with the same line (after
// a receive from release, when set) and a proxy to it.
func setup(t *testing.T, release chan struct{}) *testBundle {
	t.Helper()
	b := &testBundle{release: release}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.upstreamConns.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					if b.release != nil {
						<-b.release
					}
					if _, err := io.WriteString(c, line); err != nil {
						return
					}
				}
			}()
		}
	}()
	p, err := Listen("127.0.0.1:0", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b.proxy = p
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return b
}

// dial connects to the proxy; the connection is closed when the test ends.
func (b *testBundle) dial(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", b.proxy.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// roundTrip sends a line on c and reads the answer within wait.
func roundTrip(c net.Conn, line string, wait time.Duration) (string, error) {
	if err := c.SetDeadline(time.Now().Add(wait)); err != nil {
		return "", err
	}
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if len(got) > 0 {
		got = got[:len(got)-1]
	}
	return got, err
}

// mustEcho fails unless a round trip on c answers the line.
func mustEcho(t *testing.T, c net.Conn, line string) {
	t.Helper()
	got, err := roundTrip(c, line, 5*time.Second)
	if err != nil || got != line {
		t.Fatalf("round trip of %q: got %q, %v", line, got, err)
	}
}

// waitEnded fails unless c ends (EOF or reset, not a timeout) within a few seconds.
func waitEnded(t *testing.T, c net.Conn, what string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("%s: read returned %v, want the connection to end", what, err)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestForward(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	c := b.dial(t)
	mustEcho(t, c, "hello")
	mustEcho(t, c, "again")
	if st := b.proxy.Stats(); st != (Stats{Accepted: 1, Open: 1, Requests: 2}) {
		t.Errorf("stats %+v, want one connection open and two requests", st)
	}
	_ = c.Close()
	eventually(t, "the link to close", func() bool { return b.proxy.Stats().Open == 0 })
}

func TestAwaiting(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	b := setup(t, release)
	c := b.dial(t)
	if _, err := io.WriteString(c, "question\n"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the request to be awaiting its reply", func() bool { return b.proxy.Stats().Awaiting == 1 })
	release <- struct{}{}
	if got, err := bufio.NewReader(c).ReadString('\n'); err != nil || got != "question\n" {
		t.Fatalf("reply %q, %v", got, err)
	}
	if st := b.proxy.Stats(); st.Awaiting != 0 {
		t.Errorf("awaiting %d after the reply, want 0", st.Awaiting)
	}
}

func TestCutAndRestore(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	before := b.dial(t)
	mustEcho(t, before, "before")

	b.proxy.Cut()
	if !b.proxy.IsCut() {
		t.Error("IsCut false after Cut")
	}
	waitEnded(t, before, "a connection open at the cut")

	// A new connection is accepted but black-holed: the client times out, and
	// nothing reaches the upstream.
	during := b.dial(t)
	if got, err := roundTrip(during, "lost", 200*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("round trip during the cut: %q, %v; want a timeout", got, err)
	}
	eventually(t, "the connection to be held", func() bool { return b.proxy.Stats().Held == 1 })
	if st := b.proxy.Stats(); st != (Stats{Accepted: 2, Held: 1, Dropped: 1, Requests: 1}) {
		t.Errorf("stats during the cut %+v", st)
	}
	if n := b.upstreamConns.Load(); n != 1 {
		t.Errorf("the upstream saw %d connections, want 1: nothing goes through a cut", n)
	}
	b.proxy.Cut() // again: nothing more happens
	if st := b.proxy.Stats(); st.Dropped != 1 || st.Held != 1 {
		t.Errorf("stats after a second Cut %+v", st)
	}

	b.proxy.Restore()
	if b.proxy.IsCut() {
		t.Error("IsCut true after Restore")
	}
	waitEnded(t, during, "a connection held during the cut, at the restore")
	mustEcho(t, b.dial(t), "after")
	if n := b.upstreamConns.Load(); n != 2 {
		t.Errorf("the upstream saw %d connections, want 2", n)
	}
}

func TestUpstreamDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nobody listens there now
	p, err := Listen("127.0.0.1:0", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitEnded(t, c, "a connection to a dead upstream")
}

func TestClose(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	open := b.dial(t)
	mustEcho(t, open, "x")
	b.proxy.Cut()
	held := b.dial(t)
	eventually(t, "the connection to be held", func() bool { return b.proxy.Stats().Held == 1 })

	if err := b.proxy.Close(); err != nil {
		t.Fatal(err)
	}
	waitEnded(t, open, "a connection open at the cut, after Close")
	waitEnded(t, held, "a held connection, after Close")
	if c, err := net.DialTimeout("tcp", b.proxy.Addr(), time.Second); err == nil {
		_ = c.Close()
		t.Error("the proxy still accepts connections after Close")
	}
}

// A latency delays every chunk either way, keeps the order of the bytes, and
// applies to connections already open; back at 0 the link forwards at once.
func TestLatency(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	c := b.dial(t)
	mustEcho(t, c, "fast")

	const d = 150 * time.Millisecond
	b.proxy.SetLatency(d)
	if got := b.proxy.Latency(); got != d {
		t.Fatalf("Latency() = %v, want %v", got, d)
	}
	start := time.Now()
	mustEcho(t, c, "slow")
	if took := time.Since(start); took < 2*d {
		t.Fatalf("a round trip with a latency of %v took %v, want at least %v", d, took, 2*d)
	}

	// Lines written back to back come back in order, all delayed.
	if _, err := io.WriteString(c, "one\ntwo\nthree\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	for _, want := range []string{"one\n", "two\n", "three\n"} {
		if got, err := br.ReadString('\n'); err != nil || got != want {
			t.Fatalf("read %q, %v; want %q", got, err, want)
		}
	}

	b.proxy.SetLatency(-time.Second)
	if got := b.proxy.Latency(); got != 0 {
		t.Fatalf("Latency() after a negative SetLatency = %v, want 0", got)
	}
	mustEcho(t, b.dial(t), "fast again")
	b.proxy.SetLatency(d)
	if _, err := io.WriteString(c, "late\n"); err != nil {
		t.Fatal(err)
	}
	b.proxy.Cut() // a link cut while bytes are on their way ends without them
	waitEnded(t, c, "a slowed connection at the cut")
}
