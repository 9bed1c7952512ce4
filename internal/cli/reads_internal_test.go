package cli

import (
	"encoding/json"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/bulkinvite/bulkinvite/internal/config"
)

// The packages whose code reads settings on a command's way: the commands, the
// wiring they build through, and config.Config's own methods.
const (
	modulePath = "github.com/bulkinvite/bulkinvite"
	cliPath    = modulePath + "/internal/cli"
	appPath    = modulePath + "/internal/app"
	configPath = modulePath + "/internal/config"
	loadFunc   = configPath + ".Load"
	// effectiveFunc loads the settings too, to show every one of them.
	effectiveFunc = configPath + ".Effective"
)

// readGraph is what the source of internal/cli, internal/app and internal/config
// says about each function: the config.Config fields it reads and the functions it
// calls or refers to, each by its full name (types.Func.FullName).
type readGraph struct {
	reads map[string]map[string]bool
	calls map[string]map[string]bool
	// runE maps a command's commandKey (its Use's first word, its Short) to the key of its RunE
	// function literal in reads and calls.
	runE map[string]string
}

// commandReads returns, for every command with a RunE, the config.Config fields
// its run may read: those read by the code it reaches, function by function, in
// internal/cli, internal/app and config.Config's methods, but only when the run
// loads the configuration (config.Load) at all. A function counts whole: a field
// it reads on any branch counts, and so does one read by any function it calls or
// refers to (a method value, say). Validate reads every field to check it, and
// Load fills them: neither counts as reading them for use. Effective reads
// every setting, to show it.
func commandReads(t *testing.T) map[string]map[string]bool {
	t.Helper()
	g := buildReadGraph(t)
	out := map[string]map[string]bool{}
	for name, entry := range g.runE {
		seen := map[string]bool{}
		var walk func(fn string)
		walk = func(fn string) {
			if seen[fn] {
				return
			}
			seen[fn] = true
			for callee := range g.calls[fn] {
				walk(callee)
			}
		}
		walk(entry)
		fields := map[string]bool{}
		if seen[effectiveFunc] {
			for _, s := range config.Settings() {
				fields[s.FieldName()] = true
			}
		}
		if seen[loadFunc] {
			for fn := range seen {
				for f := range g.reads[fn] {
					fields[f] = true
				}
			}
		}
		out[name] = fields
	}
	return out
}

// listedPackage is what `go list -json` says of a package.
type listedPackage struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Export     string
}

func buildReadGraph(t *testing.T) *readGraph {
	t.Helper()
	// Type-check from source against the compiler's export data of the
	// dependencies, which `go list -export` builds (or finds in the build cache).
	cmd := exec.Command("go", "list", "-export", "-deps", "-json", cliPath)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]listedPackage{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs[p.ImportPath] = p
	}
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		return os.Open(pkgs[path].Export)
	})
	g := &readGraph{reads: map[string]map[string]bool{}, calls: map[string]map[string]bool{}, runE: map[string]string{}}
	for _, path := range []string{configPath, appPath, cliPath} {
		p, ok := pkgs[path]
		if !ok {
			t.Fatalf("go list did not list %s", path)
		}
		var files []*ast.File
		for _, name := range p.GoFiles {
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
		info := &types.Info{Uses: map[*ast.Ident]types.Object{}, Selections: map[*ast.SelectorExpr]*types.Selection{}, Defs: map[*ast.Ident]types.Object{}, Types: map[ast.Expr]types.TypeAndValue{}}
		if _, err := (&types.Config{Importer: imp}).Check(path, fset, files, info); err != nil {
			t.Fatalf("type-check %s: %v", path, err)
		}
		for _, f := range files {
			g.addFile(path, f, info)
		}
	}
	return g
}

func (g *readGraph) addFile(path string, f *ast.File, info *types.Info) {
	for _, decl := range f.Decls {
		fd, ok := decl.(*ast.FuncDecl)
		if !ok || fd.Body == nil {
			continue
		}
		fn := info.Defs[fd.Name].(*types.Func)
		if path == configPath && !isConfigMethod(fn) || fn.Name() == "Validate" && isConfigMethod(fn) {
			continue // config's loading and checking, which touch every field
		}
		g.addBody(fn.FullName(), fd.Body, info)
		if path == cliPath {
			g.addCommands(fd.Body, info)
		}
	}
}

// commandKey names a command by its name and its Short: two commands may share a
// name under different parents (`resume`, `batch resume`).
func commandKey(name, short string) string { return name + " (" + short + ")" }

// addCommands records the RunE function literal of every cobra.Command literal in
// body under a key of its own, so that a command's run is walked from it alone.
func (g *readGraph) addCommands(body ast.Node, info *types.Info) {
	ast.Inspect(body, func(n ast.Node) bool {
		lit, ok := n.(*ast.CompositeLit)
		if !ok || !isNamed(info.TypeOf(lit), "github.com/spf13/cobra", "Command") {
			return true
		}
		var use, short string
		var run *ast.FuncLit
		for _, elt := range lit.Elts {
			kv, ok := elt.(*ast.KeyValueExpr)
			if !ok {
				continue
			}
			switch kv.Key.(*ast.Ident).Name {
			case "Use":
				if bl, ok := kv.Value.(*ast.BasicLit); ok {
					use, _ = strconv.Unquote(bl.Value)
				}
			case "Short":
				if bl, ok := kv.Value.(*ast.BasicLit); ok {
					short, _ = strconv.Unquote(bl.Value)
				}
			case "RunE":
				run, _ = kv.Value.(*ast.FuncLit)
			}
		}
		if use != "" && run != nil {
			name := commandKey(strings.Fields(use)[0], short)
			key := "RunE of " + name
			g.runE[name] = key
			g.addBody(key, run.Body, info)
		}
		return true
	})
}

// addBody records the Config fields body reads and the functions it refers to.
func (g *readGraph) addBody(key string, body ast.Node, info *types.Info) {
	if g.reads[key] == nil {
		g.reads[key], g.calls[key] = map[string]bool{}, map[string]bool{}
	}
	written := map[*ast.SelectorExpr]bool{}
	ast.Inspect(body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.AssignStmt:
			for _, lhs := range n.Lhs {
				if sel, ok := lhs.(*ast.SelectorExpr); ok {
					written[sel] = true
				}
			}
		case *ast.SelectorExpr:
			sel := info.Selections[n]
			if sel != nil && sel.Kind() == types.FieldVal && !written[n] && isNamed(sel.Recv(), configPath, "Config") {
				g.reads[key][sel.Obj().Name()] = true
			}
		case *ast.Ident:
			if fn, ok := info.Uses[n].(*types.Func); ok && fn.Pkg() != nil && strings.HasPrefix(fn.Pkg().Path(), modulePath+"/internal/") {
				g.calls[key][fn.FullName()] = true
			}
		}
		return true
	})
}

func isConfigMethod(fn *types.Func) bool {
	sig := fn.Type().(*types.Signature)
	return sig.Recv() != nil && isNamed(sig.Recv().Type(), configPath, "Config")
}

// isNamed reports whether t, or what it points to, is the named type path.name.
func isNamed(t types.Type, path, name string) bool {
	if p, ok := t.(*types.Pointer); ok {
		t = p.Elem()
	}
	n, ok := t.(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == path && n.Obj().Name() == name
}

// settingReads maps a config.Config field to the setting whose flag sets it: its
// own field, or the secret a file setting names.
func settingReads(t *testing.T) map[string]config.Setting {
	t.Helper()
	byKey := map[string]config.Setting{}
	out := map[string]config.Setting{}
	for _, s := range config.Settings() {
		byKey[s.Key] = s
		out[s.FieldName()] = s
	}
	for _, sec := range config.Secrets() {
		s, ok := byKey[sec.FileKey]
		if !ok {
			t.Fatalf("secret %s: no setting %s", sec.Env, sec.FileKey)
		}
		out[sec.Field] = s
	}
	return out
}

// TestHelpListsTheSettingsEachCommandReads: every command's --help lists, as
// settings, the flags of exactly the settings its code reads (commandReads),
// plus --config when it reads any; so a command that starts reading a setting
// without taking its flag, or takes the flag of one it does not read, fails here.
func TestHelpListsTheSettingsEachCommandReads(t *testing.T) {
	t.Parallel()
	reads := commandReads(t)
	fields := settingReads(t)
	root, _ := newRoot(IO{})
	var commands []*cobra.Command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Runnable() {
			commands = append(commands, c)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if len(commands) < 13 {
		t.Fatalf("found %d runnable commands, want every one (13 or more)", len(commands))
	}
	for _, c := range commands {
		path := subPath(c)
		t.Run(path, func(t *testing.T) {
			read, ok := reads[commandKey(c.Name(), c.Short)]
			if !ok {
				t.Fatalf("no RunE of a cobra.Command with Use %q and Short %q (literals) found in the source", c.Name(), c.Short)
			}
			want := map[string]bool{}
			for f := range read {
				s, ok := fields[f]
				if !ok {
					t.Errorf("reads config.Config.%s, which no setting sets: give it one, or a config.Secrets entry", f)
					continue
				}
				want["--"+s.Flag] = true
			}
			if len(want) > 0 {
				want["--config"] = true
			}
			var out, errOut strings.Builder
			if code := Run(t.Context(), append(strings.Fields(path), "--help"), IO{In: strings.NewReader(""), Out: &out, Err: &errOut}); code != ExitOK {
				t.Fatalf("--help: exit %d: %s", code, errOut.String())
			}
			got := settingsInHelp(out.String())
			for f := range want {
				if !got[f] {
					t.Errorf("reads the setting of %s, which its --help does not list (add it to commandSettings)", f)
				}
			}
			for f := range got {
				if !want[f] {
					t.Errorf("--help lists %s, which it does not read (drop it from commandSettings)", f)
				}
			}
		})
	}
}

// settingsInHelp returns the flags that help lists under "Settings".
func settingsInHelp(help string) map[string]bool {
	got := map[string]bool{}
	_, section, ok := strings.Cut(help, "\nSettings (")
	if !ok {
		return got
	}
	section, _, _ = strings.Cut(section, "\n\n")
	for _, line := range strings.Split(section, "\n")[1:] {
		for _, w := range strings.Fields(line) {
			if strings.HasPrefix(w, "--") {
				got[w] = true
				break
			}
		}
	}
	return got
}

// TestSettingsTableNamesEveryCommand: the table says, for every runnable
// command, what it reads.
func TestSettingsTableNamesEveryCommand(t *testing.T) {
	t.Parallel()
	root, _ := newRoot(IO{})
	paths := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Runnable() {
			paths[subPath(c)] = true
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	for p := range commandSettings {
		if !paths[p] {
			t.Errorf("commandSettings has %q, which is no runnable command", p)
		}
	}
}

// TestConfigurationDocMatchesTheCode: docs/configuration.md has a row for every
// setting, secret and --config, and no other, each with the env name, flag, file
// key, default and readers the code gives it.
func TestConfigurationDocMatchesTheCode(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		// A cell may hold "\|"; none of the first five does.
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if len(cells) < 6 {
			t.Errorf("row with %d cells, want 6: %s", len(cells), line)
			continue
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		env := strings.Trim(cells[0], "`")
		if _, dup := rows[env]; dup {
			t.Errorf("two rows for %s", env)
		}
		rows[env] = cells
	}
	root, _ := newRoot(IO{})
	code := func(s string) string { return "`" + s + "`" }
	type row struct{ env, flag, key, def, readBy string }
	var want []row
	for _, s := range config.Settings() {
		def := "—"
		if d := s.DefaultText(); d != "" {
			def = code(d)
		}
		want = append(want, row{s.Env, code("--" + s.Flag), code(s.Key), def, readBy(root, s.Key)})
	}
	for _, sec := range config.Secrets() {
		want = append(want, row{sec.Env, "—", "—", "—", readBy(root, sec.FileKey)})
	}
	want = append(want, row{config.EnvConfigFile, "`--config`", "—", "—", "every command that reads a setting"})
	for _, w := range want {
		got, ok := rows[w.env]
		if !ok {
			t.Errorf("docs/configuration.md has no row for %s", w.env)
			continue
		}
		delete(rows, w.env)
		for _, c := range []struct {
			what      string
			got, want string
		}{{"flag", got[1], w.flag}, {"file key", got[2], w.key}, {"read by", got[4], w.readBy}} {
			if c.got != c.want {
				t.Errorf("%s: %s is %q in the doc, %q in the code", w.env, c.what, c.got, c.want)
			}
		}
		// The default may be followed by a note: `720h` (30 days).
		if got[3] != w.def && !strings.HasPrefix(got[3], w.def+" (") {
			t.Errorf("%s: default is %q in the doc, %s in the code", w.env, got[3], w.def)
		}
	}
	for env := range rows {
		t.Errorf("docs/configuration.md has a row for %s, which is no setting", env)
	}
}
