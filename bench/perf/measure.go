package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/bulkinvite/bulkinvite/bench/internal/benchproc"
)

// subject is a binary measured: ours, or -baseline-rev's.
type subject struct {
	Label string `json:"label"` // "ours", or "rev" and the revision
	Bin   string `json:"-"`
	// Current is set for the binary of this checkout, whose packages the bench
	// shares (ours pushes in-process in pickup).
	Current bool `json:"-"`
}

// bench is one run: the binaries, the temp dir and the figures so far.
type bench struct {
	o    options
	tmp  string
	ours subject
	rev  *subject // nil without -baseline-rev
	hc   *http.Client
	figs *figures
}

// subjects are the binaries drain, pickup and held measure: ours, then the rev's.
func (b *bench) subjects() []subject {
	if b.rev == nil {
		return []subject{b.ours}
	}
	return []subject{b.ours, *b.rev}
}

// dir makes and returns a directory of the temp dir for one part of the run.
func (b *bench) dir(name string) (string, error) {
	d := filepath.Join(b.tmp, name)
	return d, os.MkdirAll(d, 0o755)
}

// logf prints a step of the run on stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "  %s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// measure builds the binaries and runs the sections of -only in turn. It
// returns the figures measured, with the first error.
func measure(ctx context.Context, o options, tmp string) (*figures, error) {
	b := &bench{o: o, tmp: tmp, hc: &http.Client{Timeout: 30 * time.Second}, figs: newFigures(o)}
	if err := b.build(ctx); err != nil {
		return b.figs, err
	}
	steps := map[string]func(context.Context) error{
		"import": b.importSection, "drain": b.drainSection, "pickup": b.pickupSection,
		"held": b.heldSection, "adaptive": b.adaptiveSection, "serve": b.serveSection,
	}
	for i, name := range o.sections {
		fmt.Fprintf(os.Stderr, "[%d/%d] %s\n", i+1, len(o.sections), name)
		if err := steps[name](ctx); err != nil {
			return b.figs, fmt.Errorf("%s: %w", name, err)
		}
	}
	return b.figs, nil
}

// build builds ours and, with -baseline-rev, the rev's binary.
func (b *bench) build(ctx context.Context) error {
	dir, err := b.dir("ours")
	if err != nil {
		return err
	}
	bin, err := benchproc.Build(ctx, dir)
	if err != nil {
		return err
	}
	b.ours = subject{Label: "ours", Bin: bin, Current: true}
	if b.o.baselineRev == "" {
		return nil
	}
	short, bin, err := benchproc.BuildRev(ctx, b.o.baselineRev, b.tmp)
	if err != nil {
		return err
	}
	b.rev = &subject{Label: "rev " + short, Bin: bin}
	b.figs.Rev = b.rev.Label
	return nil
}

// newFigures starts the figures of a run with the machine and the settings.
func newFigures(o options) *figures {
	return &figures{
		Date:         time.Now().UTC().Format(time.RFC3339),
		GoVersion:    runtime.Version(),
		OS:           runtime.GOOS + "/" + runtime.GOARCH,
		CPUs:         runtime.NumCPU(),
		Sections:     slices.Clone(o.sections),
		Drain:        map[string]*drainFigures{},
		Pickup:       map[string]*pickupFigures{},
		Held:         map[string]*heldFigures{},
		Serve:        map[string]*serveFigures{},
		ServeClients: o.serveClients,
	}
}
