package sandbox

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	const uuid = "019c6000-0000-7000-8000-000000000001"
	tests := []struct {
		name  string
		cfg   Config
		field string // "" for a valid config
	}{
		{"zero", Config{}, ""},
		{"full", Config{
			Keys:          []KeyConfig{{Key: "fl_live_a.b"}, {Key: "fl_live_c.d", State: KeyExpired}},
			InterviewSets: []string{uuid},
			Projects:      []Project{{ID: uuid, JobPostIDs: []string{uuid}}},
			Faults:        Faults{FailRate: 0.1, LostReplyRate: 1, LostReplyMode: LostReplyClose, Latency: 1, LatencyJitter: 1, Rate: 2, Burst: 3},
			Seed:          42,
			MaxBodyBytes:  1,
		}, ""},
		{"malformed key", Config{Keys: []KeyConfig{{Key: "fl_live_a.b"}, {Key: "fl_live_nosecret-at-all"}}}, "Config.Keys[1].Key"},
		{"key with spaces", Config{Keys: []KeyConfig{{Key: " fl_live_a.b"}}}, "Config.Keys[0].Key"},
		{"unknown state", Config{Keys: []KeyConfig{{Key: "fl_live_a.b", State: "sleepy"}}}, "Config.Keys[0].State"},
		{"duplicate key", Config{Keys: []KeyConfig{{Key: "fl_live_a.b"}, {Key: "fl_live_a.b", State: KeyInactive}}}, "Config.Keys[1].Key"},
		{"interview set", Config{InterviewSets: []string{uuid, "set"}}, "Config.InterviewSets[1]"},
		{"project id", Config{Projects: []Project{{ID: "p"}}}, "Config.Projects[0].ID"},
		{"job post id", Config{Projects: []Project{{ID: uuid, JobPostIDs: []string{uuid, "jp"}}}}, "Config.Projects[0].JobPostIDs[1]"},
		{"fail rate", Config{Faults: Faults{FailRate: -1}}, "Config.Faults.FailRate"},
		{"rate", Config{Faults: Faults{Rate: 1e10}}, "Config.Faults.Rate"},
		{"max body", Config{MaxBodyBytes: -1}, "Config.MaxBodyBytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if _, err := New(tt.cfg); err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.field+":") {
				t.Fatalf("Validate: %v, want an error naming %s", err, tt.field)
			}
			if strings.Contains(err.Error(), "nosecret-at-all") {
				t.Errorf("error shows the key: %v", err)
			}
			if _, nerr := New(tt.cfg); nerr == nil {
				t.Errorf("New accepted what Validate refuses")
			}
		})
	}
}

func TestKeyStateValid(t *testing.T) {
	t.Parallel()
	for _, s := range []KeyState{KeyActive, KeyInactive, KeyExpired, KeyDeleted, KeyMissingScope} {
		if !s.Valid() {
			t.Errorf("%q not valid", s)
		}
	}
	for _, s := range []KeyState{"", "Active", "revoked"} {
		if s.Valid() {
			t.Errorf("%q valid", s)
		}
	}
}

func TestFaultsString(t *testing.T) {
	t.Parallel()
	if got := (Faults{}).String(); got != "none" {
		t.Errorf("zero: %q", got)
	}
	got := Faults{FailRate: 0.1, LostReplyRate: 0.05, Rate: 5}.String()
	for _, want := range []string{"fail_rate=0.1", "lost_reply_rate=0.05 (mixed)", "rate=5/s burst=1"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q does not contain %q", got, want)
		}
	}
}
