// Package faultproxy is a TCP proxy for fault scripts: it forwards the
// connections made to its listener to one upstream address, and can cut that
// link and restore it, or slow it down.
//
// A cut is a network partition, not a refusal: every connection open through
// the proxy is dropped, and new connections are accepted and kept open but
// nothing is forwarded either way, so a client's requests time out. Restore
// closes the connections held during the cut (their clients see them end) and
// forwards new connections again. While the upstream is down (a killed server)
// a new connection is closed at once, as a refused one would be.
//
// A latency (SetLatency) is a slow link, not a narrow one: every chunk of bytes
// read on one side is written to the other that long after it was read, in
// order, whatever else is on its way.
//
// It knows nothing of the protocol it carries, except for Stats.Awaiting and
// Stats.Requests, which read a request/response protocol such as HTTP/1.1 or
// Redis's: a connection whose last bytes went upstream has a request out and no
// reply yet.
//
// It owns no scheduling of faults: the script decides when to cut and restore.
package faultproxy

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// dialTimeout bounds the connection to the upstream.
const dialTimeout = 5 * time.Second

// Proxy forwards connections from its listener to an upstream address. Create
// it with Listen; its methods are safe for concurrent use.
type Proxy struct {
	upstream string
	ln       net.Listener
	wg       sync.WaitGroup // the accept loop and every forwarding goroutine

	closeOnce sync.Once
	closeErr  error

	latency  atomic.Int64 // SetLatency, in nanoseconds
	requests atomic.Int64 // Stats.Requests

	mu       sync.Mutex
	cut      bool
	closed   bool
	links    map[*link]struct{}
	held     map[net.Conn]struct{}
	accepted int64
	dropped  int64
}

// Stats are a Proxy's counters.
type Stats struct {
	// Accepted counts the connections accepted since Listen, held ones included.
	Accepted int64 `json:"accepted"`
	// Open is the number of connections being forwarded now.
	Open int `json:"open"`
	// Held is the number of connections accepted during the cut now in force and
	// kept open without forwarding anything.
	Held int `json:"held"`
	// Awaiting is the number of open connections whose last bytes went upstream:
	// in a request/response protocol, a request sent and its reply not begun.
	Awaiting int `json:"awaiting"`
	// Dropped counts the connections closed by Cut.
	Dropped int64 `json:"dropped"`
	// Requests counts the requests forwarded upstream since Listen: the times a
	// connection's bytes went upstream first or after bytes came back. In
	// HTTP/1.1 without pipelining, one per request.
	Requests int64 `json:"requests"`
}

// link is one forwarded connection.
type link struct {
	client, server net.Conn
	latency        *atomic.Int64 // the proxy's
	requests       *atomic.Int64 // the proxy's
	awaiting       atomic.Bool
	closeOnce      sync.Once
	closed         chan struct{} // closed by close
}

func (l *link) close() {
	l.closeOnce.Do(func() {
		close(l.closed)
		_ = l.client.Close()
		_ = l.server.Close()
	})
}

// Listen listens on addr ("127.0.0.1:0" picks a free port) and forwards every
// connection to upstream (host:port) until Close.
func Listen(addr, upstream string) (*Proxy, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	p := &Proxy{upstream: upstream, ln: ln, links: map[*link]struct{}{}, held: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the listener's host:port: the address clients use instead of the upstream's.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut drops every connection open through the proxy and black-holes new ones
// until Restore. Cutting a cut link does nothing more.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.cut = true
	links := p.links
	p.links = map[*link]struct{}{}
	p.dropped += int64(len(links))
	p.mu.Unlock()
	for l := range links {
		l.close()
	}
}

// Restore ends a cut: the connections held during it are closed, and new
// connections are forwarded again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.cut = false
	held := p.held
	p.held = map[net.Conn]struct{}{}
	p.mu.Unlock()
	for c := range held {
		_ = c.Close()
	}
}

// SetLatency delays every chunk of bytes forwarded from now on, either way and
// on every connection, by d (0 or less: none). A request/response protocol then
// takes at least 2*d a round trip. Bytes already on their way keep their delay.
func (p *Proxy) SetLatency(d time.Duration) { p.latency.Store(int64(max(d, 0))) }

// Latency is the delay SetLatency set.
func (p *Proxy) Latency() time.Duration { return time.Duration(p.latency.Load()) }

// IsCut reports whether the link is cut.
func (p *Proxy) IsCut() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut
}

// Stats returns the counters now.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := Stats{Accepted: p.accepted, Open: len(p.links), Held: len(p.held), Dropped: p.dropped,
		Requests: p.requests.Load()}
	for l := range p.links {
		if l.awaiting.Load() {
			st.Awaiting++
		}
	}
	return st
}

// Close stops listening, closes every connection and returns when every
// goroutine of the proxy has ended. Calling it again returns the same error.
func (p *Proxy) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		links, held := p.links, p.held
		p.links, p.held = map[*link]struct{}{}, map[net.Conn]struct{}{}
		p.mu.Unlock()
		p.closeErr = p.ln.Close()
		for l := range links {
			l.close()
		}
		for c := range held {
			_ = c.Close()
		}
		p.wg.Wait()
	})
	return p.closeErr
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			p.mu.Lock()
			closed := p.closed
			p.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return
			}
			<-time.After(10 * time.Millisecond) // a passing error such as EMFILE: accept again
			continue
		}
		p.mu.Lock()
		switch {
		case p.closed:
			_ = c.Close()
		case p.cut:
			p.accepted++
			p.held[c] = struct{}{}
		default:
			p.accepted++
			p.wg.Add(1)
			go p.forward(c)
		}
		p.mu.Unlock()
	}
}

// forward connects c to the upstream and copies both ways until either side
// ends or the link is cut.
func (p *Proxy) forward(c net.Conn) {
	defer p.wg.Done()
	s, err := net.DialTimeout("tcp", p.upstream, dialTimeout)
	if err != nil {
		_ = c.Close() // the upstream is down: the client sees its connection end
		return
	}
	l := &link{client: c, server: s, latency: &p.latency, requests: &p.requests, closed: make(chan struct{})}
	p.mu.Lock()
	if p.cut || p.closed { // cut while dialing
		if p.cut {
			p.dropped++
		}
		p.mu.Unlock()
		l.close()
		return
	}
	p.links[l] = struct{}{}
	p.mu.Unlock()

	done := make(chan struct{})
	go func() {
		defer close(done)
		l.copy(s, c, true)
	}()
	l.copy(c, s, false)
	<-done
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
}

// chunk is bytes read on one side, to be written to the other at due.
type chunk struct {
	b   []byte
	due time.Time
}

// copy copies src to dst until either fails, then closes both connections so
// that the other direction ends too. Each chunk read is written the proxy's
// latency after it was read, by a goroutine of its own, so that a slow link
// delays bytes without holding up the reading. Bytes going upstream mark the
// link as awaiting a reply; bytes coming back clear the mark.
func (l *link) copy(dst, src net.Conn, upstream bool) {
	defer l.close()
	q := make(chan chunk, 64)
	written := make(chan struct{})
	go func() {
		defer close(written)
		l.write(dst, q)
	}()
	defer func() { <-written }()
	defer close(q)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			// before the write: the reply cannot come first
			if was := l.awaiting.Swap(upstream); upstream && !was {
				l.requests.Add(1)
			}
			c := chunk{b: append([]byte(nil), buf[:n]...), due: time.Now().Add(time.Duration(l.latency.Load()))}
			select {
			case q <- c:
			case <-l.closed:
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// write writes each chunk of q to dst at its due time, until q is closed, a
// write fails or the link is closed.
func (l *link) write(dst net.Conn, q <-chan chunk) {
	defer l.close()
	for c := range q {
		if d := time.Until(c.due); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-l.closed:
				t.Stop()
				return
			}
		}
		if _, err := dst.Write(c.b); err != nil {
			return
		}
	}
}
