package doccheck_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/internal/doccheck"
)

// TestRepositoryLinks: every relative link in the repository's markdown resolves
// to a file, and every anchor to a heading.
func TestRepositoryLinks(t *testing.T) {
	t.Parallel()
	problems, err := doccheck.Check(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("broken link: %s", p)
	}
}

// TestCheckFindsBrokenLinks runs the check over a small tree with a link of every
// kind, good and broken, so that TestRepositoryLinks cannot pass by finding nothing.
func TestCheckFindsBrokenLinks(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write(t, root, "README.md", `# Project

See [the guide](docs/guide.md), [its setup](docs/guide.md#set-it-up-make-step-1),
[the code](main.go), [line 2](main.go#L2), [the docs](docs/) and [below](#usage).
Also [gone](docs/gone.md), [no heading](docs/guide.md#nowhere), [line 9](main.go#L9),
[a symbol](main.go#Run), [outside](../x.md) and [above](#nothing).
Not checked: [a site](https://example.com/x.md), `+"`[code](span.md)`"+`.

    [indented code](code.md)

`+"```"+`
[fenced](fence.md)
`+"```"+`

[ref]: docs/missing.md

## Usage
`)
	write(t, root, "docs/guide.md", "# Guide\n\n## Set it up: `make` (step 1)\n\n[back](../README.md#usage), [dup](#faq-1)\n\n## FAQ\n\n## FAQ\n")
	write(t, root, "main.go", "package main\n\nfunc main() {}\n")

	problems, err := doccheck.Check(root)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range problems {
		got = append(got, p.File+" "+p.Target)
	}
	want := []string{
		"README.md docs/gone.md",
		"README.md docs/guide.md#nowhere",
		"README.md main.go#L9",
		"README.md main.go#Run",
		"README.md ../x.md",
		"README.md #nothing",
		"README.md docs/missing.md",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSlug(t *testing.T) {
	t.Parallel()
	tests := []struct{ heading, want string }{
		{"Two commands", "two-commands"},
		{"At-least-once or at-most-once: `BULKINVITE_ON_UNKNOWN`", "at-least-once-or-at-most-once-bulkinvite_on_unknown"},
		{"Speed and cost (issue #12)", "speed-and-cost-issue-12"},
		{"HTTP API: serve (issue #10)", "http-api-serve-issue-10"},
		{"The [dashboard](dashboard.md)", "the-dashboard"},
		{"Zoë's café", "zoës-café"},
	}
	for _, tt := range tests {
		if got := doccheck.Slug(tt.heading); got != tt.want {
			t.Errorf("Slug(%q) = %q, want %q", tt.heading, got, tt.want)
		}
	}
}

func write(t *testing.T, root, name, text string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
