package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/bulkinvite/bulkinvite/configs"
	"github.com/bulkinvite/bulkinvite/httpapi"
)

// docPath is the OpenAPI document of the service.
const docPath = "../docs/openapi.yaml"

// apiDoc is docs/openapi.yaml, loaded once, with its schemas compiled on demand
// by JSON Schema 2020-12 (OpenAPI 3.1's dialect).
type apiDoc struct {
	root map[string]any
	mu   sync.Mutex
	c    *jsonschema.Compiler
	seen map[string]*jsonschema.Schema
	ops  []docOp
}

// docOp is one documented operation.
type docOp struct {
	method, path string
	re           *regexp.Regexp
	op           map[string]any
}

var loadedDoc = sync.OnceValues(func() (*apiDoc, error) {
	b, err := os.ReadFile(docPath)
	if err != nil {
		return nil, err
	}
	var y any
	if err := yaml.Unmarshal(b, &y); err != nil {
		return nil, fmt.Errorf("%s: %w", docPath, err)
	}
	j, err := json.Marshal(y)
	if err != nil {
		return nil, err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		return nil, err
	}
	d := &apiDoc{root: inst.(map[string]any), c: jsonschema.NewCompiler(), seen: map[string]*jsonschema.Schema{}}
	d.c.DefaultDraft(jsonschema.Draft2020)
	if err := d.c.AddResource("mem:///openapi.json", inst); err != nil {
		return nil, err
	}
	if v, _ := d.root["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		return nil, fmt.Errorf("openapi %q, want 3.1.x", v)
	}
	paths, _ := d.root["paths"].(map[string]any)
	for p, item := range paths {
		parts := strings.Split(p, "/")
		for i, part := range parts {
			if strings.HasPrefix(part, "{") {
				parts[i] = "[^/]+"
			} else {
				parts[i] = regexp.QuoteMeta(part)
			}
		}
		re := regexp.MustCompile("^" + strings.Join(parts, "/") + "$")
		for m, op := range item.(map[string]any) {
			if o, ok := op.(map[string]any); ok {
				d.ops = append(d.ops, docOp{method: strings.ToUpper(m), path: p, re: re, op: o})
			}
		}
	}
	return d, nil
})

func loadDoc(t testing.TB) *apiDoc {
	t.Helper()
	d, err := loadedDoc()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// pointer escapes JSON pointer tokens.
func pointer(tokens ...string) string {
	r := strings.NewReplacer("~", "~0", "/", "~1")
	var b strings.Builder
	for _, t := range tokens {
		b.WriteString("/" + r.Replace(t))
	}
	return b.String()
}

// schema compiles the schema at the JSON pointer ptr of the document.
func (d *apiDoc) schema(ptr string) (*jsonschema.Schema, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s, ok := d.seen[ptr]; ok {
		return s, nil
	}
	s, err := d.c.Compile("mem:///openapi.json#" + ptr)
	if err != nil {
		return nil, err
	}
	d.seen[ptr] = s
	return s, nil
}

// resolve follows a {"$ref": "#/..."} to what it names, and returns it with its
// pointer.
func (d *apiDoc) resolve(v any, ptr string) (map[string]any, string) {
	m, _ := v.(map[string]any)
	if ref, ok := m["$ref"].(string); ok {
		ptr = strings.TrimPrefix(ref, "#")
		var cur any = d.root
		for _, tok := range strings.Split(ptr, "/")[1:] {
			tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
			cur = cur.(map[string]any)[tok]
		}
		m, _ = cur.(map[string]any)
	}
	return m, ptr
}

// validate checks a JSON body against the schema of a media type object.
func (d *apiDoc) validate(mediaPtr string, body []byte) error {
	s, err := d.schema(mediaPtr + "/schema")
	if err != nil {
		return err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return err
	}
	return s.Validate(v)
}

// find returns the documented operation a request is for, if any.
func (d *apiDoc) find(method, path string) *docOp {
	for i := range d.ops {
		if o := &d.ops[i]; o.method == method && o.re.MatchString(path) {
			return o
		}
	}
	return nil
}

// checkAgainstDoc fails the test when an answer does not match the document: an
// undocumented status for its route, or a JSON body its schema refuses. Answers
// for no route must be the error shape.
func checkAgainstDoc(t *testing.T, r *http.Request, rec *httptest.ResponseRecorder) {
	t.Helper()
	d := loadDoc(t)
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	op := d.find(method, r.URL.Path)
	if op == nil {
		if err := d.validateAt(pointer("components", "schemas", "Error"), rec.Body.Bytes()); err != nil {
			t.Errorf("%s %s: %d is not the error shape: %v\n%s", r.Method, r.URL.Path, rec.Code, err, rec.Body)
		}
		return
	}
	opPtr := pointer("paths", op.path, strings.ToLower(op.method))
	resp, ptr := d.resolve(op.op["responses"].(map[string]any)[strconv.Itoa(rec.Code)], opPtr+pointer("responses", strconv.Itoa(rec.Code)))
	if resp == nil {
		t.Errorf("%s %s answered %d, which %s does not document for %s %s:\n%s", r.Method, r.URL.Path, rec.Code, docPath, op.method, op.path, rec.Body)
		return
	}
	content, _ := resp["content"].(map[string]any)
	if _, ok := content["application/json"]; !ok || rec.Header().Get("Content-Type") != "application/json" {
		return
	}
	if err := d.validate(ptr+pointer("content", "application/json"), rec.Body.Bytes()); err != nil {
		t.Errorf("%s %s %d: the answer does not match %s: %v\n%s", r.Method, r.URL.Path, rec.Code, docPath, err, rec.Body)
	}
}

func (d *apiDoc) validateAt(schemaPtr string, body []byte) error {
	s, err := d.schema(schemaPtr)
	if err != nil {
		return err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return err
	}
	return s.Validate(v)
}

// TestOpenAPIMatchesRouter: every route of the real router is documented, and
// every documented operation reaches a route of it (not the 404/405 of no route).
func TestOpenAPIMatchesRouter(t *testing.T) {
	t.Parallel()
	d := loadDoc(t)
	tb := setup(t, httpapi.Config{Metrics: http.NotFoundHandler()})
	var documented []string
	for _, o := range d.ops {
		documented = append(documented, o.method+" "+o.path)
	}
	routes := tb.srv.Routes()
	sort.Strings(documented)
	sort.Strings(routes)
	for _, r := range routes {
		if !slices.Contains(documented, r) {
			t.Errorf("route %q is not in %s", r, docPath)
		}
	}
	for _, o := range documented {
		if !slices.Contains(routes, o) {
			t.Errorf("%s documents %q, which the server does not route", docPath, o)
		}
	}
	for _, o := range d.ops {
		path := regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(o.path, "x")
		rec := httptest.NewRecorder()
		tb.srv.ServeHTTP(rec, httptest.NewRequest(o.method, path, nil))
		var e httpapi.ErrorBody
		_ = json.Unmarshal(rec.Body.Bytes(), &e)
		if rec.Code == http.StatusMethodNotAllowed || strings.HasPrefix(e.Error.Message, "no such route") {
			t.Errorf("%s %s: no route answers it (%d %s)", o.method, path, rec.Code, rec.Body)
		}
	}
}

// TestOpenAPIExamplesValidate: every request and response example validates
// against its schema, every JSON answer has one, and the vendor's sample request
// is both an example and valid.
func TestOpenAPIExamplesValidate(t *testing.T) {
	t.Parallel()
	d := loadDoc(t)
	n := 0
	check := func(where, mediaPtr, mt string, media map[string]any) {
		var examples []any
		if ex, ok := media["example"]; ok {
			examples = append(examples, ex)
		}
		exs, _ := media["examples"].(map[string]any)
		for _, name := range slices.Sorted(func(yield func(string) bool) {
			for k := range exs {
				if !yield(k) {
					return
				}
			}
		}) {
			ex, _ := d.resolve(exs[name], "")
			examples = append(examples, ex["value"])
		}
		if len(examples) == 0 && mt == "application/json" {
			t.Errorf("%s %s: no example", where, mt)
		}
		for i, ex := range examples {
			b, _ := json.Marshal(ex)
			if err := d.validate(mediaPtr, b); err != nil {
				t.Errorf("%s %s example %d: %v", where, mt, i, err)
			}
			n++
		}
	}
	for _, o := range d.ops {
		opPtr := pointer("paths", o.path, strings.ToLower(o.method))
		where := o.method + " " + o.path
		if rb, ptr := d.resolve(o.op["requestBody"], opPtr+"/requestBody"); rb != nil {
			for mt, m := range rb["content"].(map[string]any) {
				check(where+" request", ptr+pointer("content", mt), mt, m.(map[string]any))
			}
		}
		for code, r := range o.op["responses"].(map[string]any) {
			resp, ptr := d.resolve(r, opPtr+pointer("responses", code))
			content, _ := resp["content"].(map[string]any)
			for mt, m := range content {
				check(where+" "+code, ptr+pointer("content", mt), mt, m.(map[string]any))
			}
		}
	}
	if n < 20 {
		t.Errorf("only %d examples checked", n)
	}
	seedPtr := pointer("paths", "/v1/batches", "post", "requestBody", "content", "application/json")
	if err := d.validate(seedPtr, configs.SampleRequestJSON); err != nil {
		t.Errorf("the vendor's sample request: %v", err)
	}
	ex := d.root["paths"].(map[string]any)["/v1/batches"].(map[string]any)["post"].(map[string]any)["requestBody"].(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)["examples"].(map[string]any)["vendorSample"].(map[string]any)["value"]
	var sample any
	_ = json.Unmarshal(configs.SampleRequestJSON, &sample)
	a, _ := json.Marshal(ex)
	b, _ := json.Marshal(sample)
	if !bytes.Equal(a, b) {
		t.Errorf("the vendorSample example is not configs/sample-request.json:\n%s\n%s", a, b)
	}
}

// TestOpenAPIValidatesWithKinOpenAPI: kin-openapi's validator, which many
// generators and middlewares load the document with, finds nothing wrong. It
// reports the first error of the whole document only, so the schemas and the
// paths are also validated one by one to list every error at once.
func TestOpenAPIValidatesWithKinOpenAPI(t *testing.T) {
	t.Parallel()
	doc, err := openapi3.NewLoader().LoadFromFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx := openapi3.WithValidationOptions(context.Background(), openapi3.EnableMultiError(), openapi3.IsOpenAPI31OrLater())
	var errs []string
	for _, name := range slices.Sorted(maps.Keys(doc.Components.Schemas)) {
		if err := doc.Components.Schemas[name].Validate(ctx); err != nil {
			errs = append(errs, fmt.Sprintf("schema %s: %v", name, err))
		}
	}
	if err := doc.Paths.Validate(ctx); err != nil {
		var me openapi3.MultiError
		if !errors.As(err, &me) {
			me = openapi3.MultiError{err}
		}
		for _, e := range me {
			errs = append(errs, e.Error())
		}
	}
	if err := doc.Validate(ctx); err != nil && len(errs) == 0 {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		t.Errorf("kin-openapi finds %d errors in %s:\n%s", len(errs), docPath, strings.Join(errs, "\n"))
	}
}
