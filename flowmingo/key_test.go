package flowmingo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestAPIKeyCheckAndMasked(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in   string
		wantMasked string
		wantErr    string // "" = valid
	}{
		{name: "vendor's example", in: "fl_live_abcd12345.n8G3zPNw9gWkK1Kj", wantMasked: "fl_live_abcd12345.****"},
		{name: "surrounding space trimmed", in: "  fl_live_abcd12345.n8G3zPNw9gWkK1Kj\n", wantMasked: "fl_live_abcd12345.****"},
		{name: "dots in the secret", in: "fl_live_p.a.b", wantMasked: "fl_live_p.****"},
		{name: "empty", in: "", wantMasked: "(none)", wantErr: "API key is empty"},
		{name: "wrong prefix", in: "sk_live_abcd.n8G3", wantMasked: "****", wantErr: `does not start with "fl_live_"`},
		{name: "no dot", in: "fl_live_n8G3zPNw9gWkK1Kj", wantMasked: "****", wantErr: "is not of the form"},
		{name: "empty prefix", in: "fl_live_.n8G3", wantMasked: "****", wantErr: "is not of the form"},
		{name: "empty secret", in: "fl_live_abcd.", wantMasked: "fl_live_abcd.****", wantErr: "is not of the form"},
		{name: "over-long prefix is not shown", in: "fl_live_" + strings.Repeat("p", 33) + ".s", wantMasked: "****"},
		{name: "space inside", in: "fl_live_abcd.n8G3 zPNw", wantMasked: "fl_live_abcd.****", wantErr: "contains a space or a control character"},
		{name: "two lines in a key file", in: "fl_live_abcd.n8G3\n# prod key", wantMasked: "fl_live_abcd.****", wantErr: "contains a space or a control character"},
		{name: "control character", in: "fl_live_abcd.n8G3\x00", wantMasked: "fl_live_abcd.****", wantErr: "control character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k := NewAPIKey(tc.in)
			if got := k.Masked(); got != tc.wantMasked {
				t.Errorf("Masked() = %q, want %q", got, tc.wantMasked)
			}
			err := k.Check()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Check: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Check: %v, want %q", err, tc.wantErr)
			}
			if k.Reveal() != strings.TrimSpace(tc.in) {
				t.Errorf("Reveal() = %q", k.Reveal())
			}
			if k.IsZero() != (strings.TrimSpace(tc.in) == "") {
				t.Errorf("IsZero() = %v", k.IsZero())
			}
		})
	}
}

func TestAPIKeyValueSemantics(t *testing.T) {
	t.Parallel()
	a, b := NewAPIKey(testKey), NewAPIKey(" "+testKey+" ")
	if a != b || a.ID() != b.ID() {
		t.Error("two keys from the same string differ")
	}
	if c := NewAPIKey(testKey + "x"); c == a || c.ID() == a.ID() {
		t.Error("different keys compare equal")
	}
	if (APIKey{}) != NewAPIKey("") || !(APIKey{}).IsZero() || (APIKey{}).Reveal() != "" {
		t.Error("zero key")
	}
	if id := a.ID(); len(id) != 16 || strings.Contains(testKey, id) {
		t.Errorf("ID %q", id)
	}
	long := "fl_live_p." + strings.Repeat("0123456789", 10) // longer than the pad
	if NewAPIKey(long).Reveal() != long {
		t.Error("a key longer than the pad does not round-trip")
	}
}

// TestAPIKeyNeverPrints prints a key, and structs holding it in exported and
// unexported fields, every way we know.
func TestAPIKeyNeverPrints(t *testing.T) {
	t.Parallel()
	k := NewAPIKey(testKey)
	type inner struct{ key APIKey }
	type holder struct {
		Key   APIKey
		Ptr   *APIKey
		key   APIKey // unexported: fmt dumps it by reflection, without calling Format
		cfg   Config
		deep  inner
		Slice []APIKey
		Map   map[string]APIKey
	}
	h := holder{Key: k, Ptr: &k, key: k, cfg: Config{Key: k}, deep: inner{k}, Slice: []APIKey{k}, Map: map[string]APIKey{"k": k}}
	var out bytes.Buffer
	for _, x := range []any{k, &k, h, &h, []any{k}, map[APIKey]int{k: 1}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s", "%-v", "%p", "%T"} {
			fmt.Fprintf(&out, verb+"\n", x)
		}
		out.WriteString(fmt.Sprint(x) + fmt.Sprintln(x))
		j, err := json.Marshal(x)
		if err == nil {
			out.Write(j)
		}
	}
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&out), zapcore.DebugLevel))
	log.Info("key", zap.Any("k", k), zap.Stringer("s", k), zap.Reflect("r", h), zap.Any("h", h), zap.Any("p", &h))
	_ = log.Sync()

	text := out.String()
	if i := strings.Index(text, testSecret); i >= 0 {
		t.Errorf("secret printed near %q", text[max(0, i-200):min(len(text), i+50)])
	}
	for _, want := range []string{testMasked, `"` + testMasked + `"`, "flowmingo.APIKey(" + testMasked + ")"} {
		if !strings.Contains(text, want) {
			t.Errorf("%q not printed", want)
		}
	}

	if got := fmt.Sprintf("%v|%s|%q|%#v", k, k, k, k); got != testMasked+"|"+testMasked+`|"`+testMasked+`"|flowmingo.APIKey(`+testMasked+")" {
		t.Errorf("got %s", got)
	}
	if b, err := k.MarshalText(); err != nil || string(b) != testMasked {
		t.Errorf("MarshalText = %s, %v", b, err)
	}
}
