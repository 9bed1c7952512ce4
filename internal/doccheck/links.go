package doccheck

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// Problem is one link that does not resolve.
type Problem struct {
	File   string // the markdown file holding the link, slash-separated, relative to the root
	Line   int    // 1-based
	Target string // the link as written
	Reason string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s:%d: %s: %s", p.File, p.Line, p.Target, p.Reason)
}

// Link is a link found in a markdown file.
type Link struct {
	Line   int
	Target string
}

var (
	// inlineLink matches [text](target) and [text](target "title"), images too;
	// the target may be written in angle brackets.
	inlineLink = regexp.MustCompile(`\]\(\s*(<[^>]*>|[^()\s]+)(?:\s+"[^"]*")?\s*\)`)
	// refDef matches a link reference definition: [label]: target.
	refDef = regexp.MustCompile(`^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)`)
	// htmlID matches an explicit anchor such as <a id="x"> or <a name="x">.
	htmlID = regexp.MustCompile(`<a\s+(?:id|name)="([^"]+)"`)
	// scheme matches a target that leaves the repository (https:, mailto:, ...).
	scheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)
	// lineAnchor is GitHub's anchor to a line or lines of a file that is not markdown.
	lineAnchor = regexp.MustCompile(`^L(\d+)(?:-L(\d+))?$`)
)

// Check reads every markdown file under root (skipping directories whose name
// starts with a dot) and returns the relative links that do not resolve, sorted by
// file and line.
func Check(root string) ([]Problem, error) {
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.EqualFold(filepath.Ext(p), ".md") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	c := checker{root: root, anchors: map[string]map[string]bool{}}
	var problems []Problem
	for _, f := range files {
		ps, err := c.file(f)
		if err != nil {
			return nil, err
		}
		problems = append(problems, ps...)
	}
	sort.SliceStable(problems, func(i, j int) bool {
		if problems[i].File != problems[j].File {
			return problems[i].File < problems[j].File
		}
		return problems[i].Line < problems[j].Line
	})
	return problems, nil
}

type checker struct {
	root    string
	anchors map[string]map[string]bool // by absolute path of a markdown file
}

func (c *checker) file(p string) ([]Problem, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	rel, err := filepath.Rel(c.root, p)
	if err != nil {
		return nil, err
	}
	var problems []Problem
	for _, l := range Links(b) {
		if reason := c.resolve(p, l.Target); reason != "" {
			problems = append(problems, Problem{File: filepath.ToSlash(rel), Line: l.Line, Target: l.Target, Reason: reason})
		}
	}
	return problems, nil
}

// resolve says why target, written in the markdown file from, does not resolve,
// or "" when it does or when it leaves the repository.
func (c *checker) resolve(from, target string) string {
	if scheme.MatchString(target) || strings.HasPrefix(target, "//") {
		return ""
	}
	file, anchor, _ := strings.Cut(target, "#")
	if q := strings.IndexByte(file, '?'); q >= 0 {
		file = file[:q]
	}
	dest := from
	if file != "" {
		if strings.HasPrefix(file, "/") {
			return "an absolute path: write it relative to this file"
		}
		dest = filepath.Join(filepath.Dir(from), filepath.FromSlash(file))
		if r, err := filepath.Rel(c.root, dest); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
			return "points outside the repository"
		}
		info, err := os.Stat(dest)
		if err != nil {
			return "no such file or directory"
		}
		if info.IsDir() {
			if anchor != "" {
				return "an anchor on a directory"
			}
			return ""
		}
	}
	if anchor == "" {
		return ""
	}
	if !strings.EqualFold(filepath.Ext(dest), ".md") {
		return lineReason(dest, anchor)
	}
	anchors, err := c.anchorsOf(dest)
	if err != nil {
		return err.Error()
	}
	if !anchors[strings.ToLower(anchor)] {
		return fmt.Sprintf("no heading with the anchor %q in %s", anchor, path.Base(filepath.ToSlash(dest)))
	}
	return ""
}

// lineReason checks a GitHub line anchor (#L12, #L12-L20) into a file that is not
// markdown: the only anchors such a file has.
func lineReason(dest, anchor string) string {
	m := lineAnchor.FindStringSubmatch(anchor)
	if m == nil {
		return fmt.Sprintf("anchor %q into a file that is not markdown (only #L<n> or #L<n>-L<m>)", anchor)
	}
	b, err := os.ReadFile(dest)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Count(b, []byte("\n"))
	if len(b) > 0 && b[len(b)-1] != '\n' {
		lines++
	}
	for _, s := range m[1:] {
		if s == "" {
			continue
		}
		if n, _ := strconv.Atoi(s); n < 1 || n > lines {
			return fmt.Sprintf("line %d past the end of the file (%d lines)", n, lines)
		}
	}
	return ""
}

func (c *checker) anchorsOf(p string) (map[string]bool, error) {
	if a, ok := c.anchors[p]; ok {
		return a, nil
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	a := Anchors(b)
	c.anchors[p] = a
	return a, nil
}

// Anchors returns the anchors GitHub gives the headings of a markdown file (a
// repeated heading gets -1, -2, ...), and those of explicit <a id="..."> tags.
func Anchors(md []byte) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	for _, l := range textLines(md) {
		for _, m := range htmlID.FindAllStringSubmatch(l.text, -1) {
			anchors[strings.ToLower(m[1])] = true
		}
		h, ok := heading(l.raw)
		if !ok {
			continue
		}
		slug := Slug(h)
		if n := seen[slug]; n > 0 {
			anchors[fmt.Sprintf("%s-%d", slug, n)] = true
		} else {
			anchors[slug] = true
		}
		seen[slug]++
	}
	return anchors
}

// heading returns the text of an ATX heading line ("## Text").
func heading(line string) (string, bool) {
	t := strings.TrimLeft(line, " ")
	if len(line)-len(t) > 3 || !strings.HasPrefix(t, "#") {
		return "", false
	}
	level := len(t) - len(strings.TrimLeft(t, "#"))
	rest := t[level:]
	if level > 6 || (rest != "" && rest[0] != ' ' && rest[0] != '\t') {
		return "", false
	}
	rest = strings.TrimSpace(rest)
	rest = strings.TrimSpace(strings.TrimRight(rest, "#")) // closing sequence
	return rest, true
}

var linkText = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)

// Slug is GitHub's anchor for a heading: link targets dropped, lower case, every
// character but letters, digits, '-', '_' and spaces removed, spaces made '-'.
func Slug(h string) string {
	h = linkText.ReplaceAllString(h, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Links returns the links of a markdown file, outside code blocks and code spans.
func Links(md []byte) []Link {
	var links []Link
	for _, l := range textLines(md) {
		if m := refDef.FindStringSubmatch(l.text); m != nil {
			links = append(links, Link{Line: l.n, Target: strings.Trim(m[1], "<>")})
			continue
		}
		for _, m := range inlineLink.FindAllStringSubmatch(l.text, -1) {
			links = append(links, Link{Line: l.n, Target: strings.Trim(m[1], "<>")})
		}
	}
	return links
}

type textLine struct {
	n    int
	raw  string // the line as written
	text string // the line without its code spans
}

var listItem = regexp.MustCompile(`^ {0,3}(?:[-*+]|\d{1,9}[.)])(?: |$)`)

// textLines returns the lines of md that are text, with code spans removed:
// fenced code blocks, and indented code blocks (four spaces after a blank line, or
// six inside a list), are left out.
func textLines(md []byte) []textLine {
	var out []textLine
	sc := bufio.NewScanner(bytes.NewReader(md))
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	var (
		fence    string // the fence of the open fenced block, "" when none
		prevText = ""   // the previous line, "" when blank
		inCode   bool   // the previous line was indented code
		inList   bool   // since the last blank line that ended a paragraph, a list is open
		n        int
	)
	for sc.Scan() {
		n++
		line := strings.ReplaceAll(sc.Text(), "\t", "    ")
		trimmed := strings.TrimLeft(line, " ")
		indent := len(line) - len(trimmed)
		if fence != "" {
			if indent <= 3 && strings.HasPrefix(trimmed, fence) && strings.Trim(trimmed, fence[:1]) == "" {
				fence = ""
			}
			continue
		}
		if indent <= 3 && (strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~")) {
			ch := trimmed[:1]
			fence = trimmed[:len(trimmed)-len(strings.TrimLeft(trimmed, ch))]
			continue
		}
		if trimmed == "" {
			prevText = ""
			continue
		}
		codeIndent := 4
		if inList {
			codeIndent = 6
		}
		if indent >= codeIndent && (prevText == "" || inCode) {
			inCode = true
			prevText = line
			continue
		}
		inCode = false
		if listItem.MatchString(line) {
			inList = true
		} else if indent == 0 && prevText == "" {
			inList = false
		}
		prevText = line
		out = append(out, textLine{n: n, raw: line, text: stripCodeSpans(line)})
	}
	return out
}

// stripCodeSpans removes `code spans` from a line (an unclosed run of backticks is
// kept as text).
func stripCodeSpans(s string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '`')
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		run := len(s[i:]) - len(strings.TrimLeft(s[i:], "`"))
		tick := s[i : i+run]
		j := strings.Index(s[i+run:], tick)
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		s = s[i+run+j+run:]
	}
}
