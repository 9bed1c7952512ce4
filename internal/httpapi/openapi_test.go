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
	"net/url"
	"os"
	"reflect"
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
	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/callback"
	"github.com/bulkinvite/bulkinvite/internal/httpapi"
	"github.com/bulkinvite/bulkinvite/internal/store"
)

// docPath is the OpenAPI document of the service.
const docPath = "../../docs/openapi.yaml"

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

// paramSchema is the pointer of the schema of an operation's parameter.
func (d *apiDoc) paramSchema(t *testing.T, path, method, name string) string {
	t.Helper()
	op := d.root["paths"].(map[string]any)[path].(map[string]any)[method].(map[string]any)
	for i, p := range op["parameters"].([]any) {
		if p.(map[string]any)["name"] == name {
			return pointer("paths", path, method, "parameters", strconv.Itoa(i), "schema")
		}
	}
	t.Fatalf("%s %s has no parameter %s", method, path, name)
	return ""
}

// specAccepts reports whether the schema at ptr accepts v.
func specAccepts(t *testing.T, d *apiDoc, ptr string, v any) bool {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return d.validateAt(ptr, b) == nil
}

// TestOpenAPIConstraintsMatchTheServer: the document's constraints on
// Idempotency-Key, callback_url, the cursor and a replay's target say what the
// server checks: for each value, the schema accepts it exactly when the server
// does (for a cursor, which the server must also decode, what the schema refuses
// the server refuses).
func TestOpenAPIConstraintsMatchTheServer(t *testing.T) {
	t.Parallel()
	d := loadDoc(t)
	tb := setup(t, httpapi.Config{CallbackSigning: true, CallbackAllowPrivate: true})
	agree := func(what string, value any, spec, server bool) {
		t.Helper()
		if spec != server {
			t.Errorf("%s %.80q: %s accepts it: %v, the server: %v", what, value, docPath, spec, server)
		}
	}

	keySchema := d.paramSchema(t, "/v1/batches", "post", "Idempotency-Key")
	for i, key := range []string{"k", "a b", "~!@#$%^&*()_+", strings.Repeat("k", 255), strings.Repeat("k", 256), "a\tb", "é", "a\x7fb", "   "} {
		rec := tb.do(t, req{method: "POST", target: "/v1/batches", body: strings.Replace(seed, "alex@", fmt.Sprintf("k%d@", i), 1), header: []string{"Idempotency-Key", key}})
		agree("Idempotency-Key", key, specAccepts(t, d, keySchema, key), rec.Code == http.StatusAccepted)
	}

	bodySchema := pointer("paths", "/v1/batches", "post", "requestBody", "content", "application/json", "schema")
	queryCallback := d.paramSchema(t, "/v1/batches", "post", "callback_url")
	for _, u := range []string{"https://hooks.example.com/cb?t=1", "HTTP://10.0.0.1:8080/x", "https://h/p@q", "ftp://h/x", "https://u:p@h/x", "https://h/x#f",
		"https:///x", "//h/x", "h/x", "https://h/" + strings.Repeat("x", 2048), "https://h\x00/x", "https://a b/x", "https://h/a b"} {
		server := callback.ValidateURL(u, true) == nil
		body := map[string]any{"com_interview_set_id": sandbox.DemoInterviewSetID, "candidates": []any{map[string]any{"email": "a@example.com"}}, "callback_url": u}
		agree("callback_url", u, specAccepts(t, d, bodySchema, body), server)
		agree("callback_url (query)", u, specAccepts(t, d, queryCallback, u), server)
	}

	// Cursors the server cannot decode; the schema refuses those it can tell
	// by their characters and length (a cursor is opaque: its content it cannot).
	deadLetters(t, tb, "cc-rj", 1)
	for list, path := range map[string]string{"/v1/batches": "", "/v1/deadletters": "", "/v1/batches/{id}/rejects": "/v1/batches/cc-rj/rejects"} {
		schema := d.paramSchema(t, list, "get", "cursor")
		if path == "" {
			path = list
		}
		for _, c := range []string{"", "!!", "a=", "a b", "a.b", strings.Repeat("A", 513)} {
			rec := tb.do(t, req{method: "GET", target: path + "?cursor=" + url.QueryEscape(c)})
			agree(list+" cursor", c, specAccepts(t, d, schema, c), rec.Code == http.StatusOK)
		}
	}

	replaySchema := pointer("paths", "/v1/deadletters/replay", "post", "requestBody", "content", "application/json", "schema")
	for _, body := range []map[string]any{
		{"batch_id": "none-such", "com_job_post_id": sandbox.DemoInterviewSetID},
		{"batch_id": "none-such", "com_project_id": sandbox.DemoProjectID, "com_job_post_id": sandbox.DemoInterviewSetID},
		{"batch_id": "none-such", "com_interview_set_id": sandbox.DemoInterviewSetID, "com_job_post_id": sandbox.DemoInterviewSetID},
		{"batch_id": "none-such"},
		{"batch_id": "none-such", "all": false},
		{"all": true, "reason": "validation"},
		{"all": true, "batch_id": "none-such"},
		{"all": false},
		{},
		{"batch_id": ""},
		{"batch_id": "none-such", "reason": ""},
	} {
		b, _ := json.Marshal(body)
		rec := tb.do(t, req{method: "POST", target: "/v1/deadletters/replay", body: string(b)})
		agree("replay request", string(b), specAccepts(t, d, replaySchema, body), rec.Code == http.StatusOK)
	}
}

// jsonFields lists the JSON names of a struct type's fields, those of embedded
// structs included.
func jsonFields(t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-" || !f.IsExported():
		case f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct:
			out = append(out, jsonFields(f.Type)...)
		case name == "":
			out = append(out, f.Name)
		default:
			out = append(out, name)
		}
	}
	return out
}

// TestOpenAPIDocumentsEveryField: every field the server's answers and request
// bodies have is a property of its schema, and every property a field.
func TestOpenAPIDocumentsEveryField(t *testing.T) {
	t.Parallel()
	d := loadDoc(t)
	schemas := d.root["components"].(map[string]any)["schemas"].(map[string]any)
	for _, tt := range []struct {
		schema string
		v      any
	}{
		{"Status", store.Status{}},
		{"Callback", store.CallbackState{}},
		{"AuthStop", store.AuthStop{}},
		{"Accepted", httpapi.Accepted{}},
		{"Reject", httpapi.Reject{}},
		{"ReplayRequest", httpapi.ReplayRequest{}},
		{"Replayed", httpapi.Replayed{}},
		{"BatchList", httpapi.BatchList{}},
		{"DeadLetterList", httpapi.DeadLetterList{}},
		{"RejectList", httpapi.RejectList{}},
		{"CandidateList", httpapi.CandidateList{}},
		{"Found", store.Found{}},
		{"EventList", httpapi.EventList{}},
		{"Event", httpapi.Event{}},
	} {
		s, _ := schemas[tt.schema].(map[string]any)
		props, _ := s["properties"].(map[string]any)
		fields := jsonFields(reflect.TypeOf(tt.v))
		for _, f := range fields {
			if _, ok := props[f]; !ok {
				t.Errorf("%T has the field %q, which %s's %s does not document", tt.v, f, docPath, tt.schema)
			}
		}
		for p := range props {
			if !slices.Contains(fields, p) {
				t.Errorf("%s's %s documents %q, which %T does not have", docPath, tt.schema, p, tt.v)
			}
		}
	}
}

// TestOpenAPIListsEveryEvent: the document's words for an event's what are
// the store's, all of them.
func TestOpenAPIListsEveryEvent(t *testing.T) {
	t.Parallel()
	d := loadDoc(t)
	ev := d.root["components"].(map[string]any)["schemas"].(map[string]any)["Event"].(map[string]any)
	enum, _ := ev["properties"].(map[string]any)["what"].(map[string]any)["enum"].([]any)
	var got []string
	for _, e := range enum {
		got = append(got, fmt.Sprint(e))
	}
	if !slices.Equal(got, store.EventKinds) {
		t.Errorf("%s's Event.what lists %v, want store.EventKinds %v", docPath, got, store.EventKinds)
	}
}
