package store

import (
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The store's scripts draw on one Lua library: luaLib, claimLib and ledgerLib,
// in that order. EVALSHA runs a script's whole chunk on each call, defining
// each of its local functions again, so a script carries only the parts of the
// library its body uses, directly or through other parts (newScript): the
// whole library before a bare `return 1` cost 7.4 µs a call against 1.45 µs.

// libPart is one top-level definition of the library: a `local function` or
// a `local` of one or more names, with the comment lines above it.
type libPart struct {
	names []string // what it defines
	text  string
	uses  []int // the earlier parts it refers to, by index
}

// lib is the library cut into its parts, in order.
var lib = splitLib(luaLib + claimLib + ledgerLib)

// scripts are the scripts newScript built, so that a test can load each.
var scripts []*redis.Script

// newScript is a script of body preceded by the parts of lib it uses: those
// whose names body refers to, and the parts those refer to, in lib's order.
func newScript(body string) *redis.Script {
	s := redis.NewScript(withLib(body))
	scripts = append(scripts, s)
	return s
}

// withLib is body preceded by the parts of lib it uses (newScript).
func withLib(body string) string {
	byName := make(map[string]int)
	for i, p := range lib {
		for _, n := range p.names {
			byName[n] = i
		}
	}
	need := make([]bool, len(lib))
	var mark func(i int)
	mark = func(i int) {
		if need[i] {
			return
		}
		need[i] = true
		for _, j := range lib[i].uses {
			mark(j)
		}
	}
	for _, id := range luaNames(body) {
		if i, ok := byName[id]; ok {
			mark(i)
		}
	}
	var b strings.Builder
	for i, p := range lib {
		if need[i] {
			b.WriteString(p.text)
		}
	}
	b.WriteString(body)
	return b.String()
}

// splitLib cuts src into its top-level definitions. A line that starts a
// definition begins with "local "; comment lines at the margin go with the
// definition below them; indented lines, blank lines and a closing "end"
// with the one above. Any other line at the margin, or a name defined twice,
// is a mistake in the library: splitLib panics, at the package's start.
func splitLib(src string) []libPart {
	var parts []libPart
	var pending strings.Builder // comment and blank lines not placed yet
	byName := make(map[string]int)
	for line := range strings.Lines(src) {
		switch {
		case strings.HasPrefix(line, "local "):
			names := localNames(line)
			for _, n := range names {
				if _, dup := byName[n]; dup {
					panic(fmt.Sprintf("store: the Lua library defines %s twice", n))
				}
				byName[n] = len(parts)
			}
			parts = append(parts, libPart{names: names, text: pending.String() + line})
			pending.Reset()
		case strings.HasPrefix(line, "--"), strings.TrimSpace(line) == "":
			pending.WriteString(line)
		case strings.HasPrefix(line, " "), strings.TrimSpace(line) == "end":
			if len(parts) == 0 {
				panic(fmt.Sprintf("store: the Lua library starts with %q", line))
			}
			parts[len(parts)-1].text += pending.String() + line
			pending.Reset()
		default:
			panic(fmt.Sprintf("store: the Lua library's line %q is no definition", line))
		}
	}
	if len(parts) > 0 {
		parts[len(parts)-1].text += pending.String()
	}
	for i := range parts {
		for _, id := range luaNames(parts[i].text) {
			if j, ok := byName[id]; ok && j != i {
				if j > i {
					panic(fmt.Sprintf("store: the Lua library uses %s before it defines it", id))
				}
				parts[i].uses = append(parts[i].uses, j)
			}
		}
	}
	return parts
}

// localNames are the names a line starting with "local " defines: the
// function's, or those before "=".
func localNames(line string) []string {
	rest := strings.TrimPrefix(line, "local ")
	if fn, ok := strings.CutPrefix(rest, "function "); ok {
		name, _, _ := strings.Cut(fn, "(")
		return []string{strings.TrimSpace(name)}
	}
	lhs, _, _ := strings.Cut(rest, "=")
	var names []string
	for n := range strings.SplitSeq(lhs, ",") {
		names = append(names, strings.TrimSpace(n))
	}
	return names
}

// luaNames are the identifiers of Lua source src, each once, outside its
// comments and quoted strings.
func luaNames(src string) []string {
	var out []string
	seen := make(map[string]bool)
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '-' && strings.HasPrefix(src[i:], "--"):
			end := strings.IndexByte(src[i:], '\n')
			if end < 0 {
				return out
			}
			i += end
		case c == '\'' || c == '"':
			i++
			for i < len(src) && src[i] != c {
				if src[i] == '\\' {
					i++
				}
				i++
			}
			i++
		case isNameByte(c, true):
			j := i + 1
			for j < len(src) && isNameByte(src[j], false) {
				j++
			}
			if id := src[i:j]; !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
			i = j
		case c >= '0' && c <= '9':
			// A number, hex ones included (0x1f): not a name.
			for i < len(src) && isNameByte(src[i], false) {
				i++
			}
		default:
			i++
		}
	}
	return out
}

// isNameByte reports whether c may be in a Lua identifier (first: begin it).
func isNameByte(c byte, first bool) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || !first && c >= '0' && c <= '9'
}

// inSequence is the body of a script that runs the bodies first and second one
// after the other, as two calls would, in one call: for a Redis whose one node
// holds every key, where a script may use keys of any slot. Its KEYS are
// first's, then second's; its ARGV are how many of the keys are first's, how
// many of the arguments after these two are first's, then first's arguments,
// then second's. It answers what second answers. An error in first ends it
// before second runs, as an error in a first call would keep a caller from the
// second. Each body sees its own share in KEYS and ARGV, which are refilled in
// place (the library's functions read them too).
func inSequence(first, second string) string {
	return "local function seqFirst()\n" + first + "\nend\n\n" +
		"local function seqSecond()\n" + second + "\nend\n" + `
local seqKeys, seqArgv = {}, {}
for i = 1, #KEYS do seqKeys[i] = KEYS[i] end
for i = 1, #ARGV do seqArgv[i] = ARGV[i] end
-- seqShare puts src[from..to] in t (KEYS or ARGV), in place.
local function seqShare(t, src, from, to)
  for i = #t, 1, -1 do t[i] = nil end
  for i = from, to do t[#t + 1] = src[i] end
end
local nKeys, nArgs = tonumber(seqArgv[1]), tonumber(seqArgv[2])
seqShare(KEYS, seqKeys, 1, nKeys); seqShare(ARGV, seqArgv, 3, 2 + nArgs)
seqFirst()
seqShare(KEYS, seqKeys, nKeys + 1, #seqKeys); seqShare(ARGV, seqArgv, 3 + nArgs, #seqArgv)
return seqSecond()
`
}

// inSequenceArgs are the KEYS and ARGV of an inSequence script of two calls'.
func inSequenceArgs(firstKeys []string, firstArgv []any, secondKeys []string, secondArgv []any) ([]string, []any) {
	keys := append(append(make([]string, 0, len(firstKeys)+len(secondKeys)), firstKeys...), secondKeys...)
	argv := make([]any, 0, 2+len(firstArgv)+len(secondArgv))
	argv = append(argv, len(firstKeys), len(firstArgv))
	return keys, append(append(argv, firstArgv...), secondArgv...)
}
