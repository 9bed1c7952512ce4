package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"
)

// Path is where Listen serves the metrics, and where `serve` mounts Handler.
const Path = "/metrics"

// Bounds of Listen's server.
const (
	readHeaderTimeout = 10 * time.Second
	closeTimeout      = 5 * time.Second // scrapes still running when Close is called
)

// Server serves a Metrics' Handler at Path on an address of its own.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	done chan error
}

// Listen listens on addr (HOST:PORT; port 0 picks a free one) and serves the
// metrics at Path, and nothing else, until Close.
func (m *Metrics) Listen(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+Path, m.Handler())
	s := &Server{
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout,
			ErrorLog: zap.NewStdLog(m.log.Named("metrics"))},
		ln:   ln,
		done: make(chan error, 1),
	}
	go func() { s.done <- s.srv.Serve(ln) }()
	m.log.Info("serving metrics", zap.String("url", "http://"+s.Addr()+Path))
	return s, nil
}

// Addr is the address the server listens on, with the port it got.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server: it lets scrapes under way finish for a few seconds,
// then closes their connections.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, s.srv.Close())
	}
	if serr := <-s.done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
