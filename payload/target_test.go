package payload_test

import (
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/payload"
)

func TestTargetKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		t    payload.Target
		want string
	}{
		{name: "interview set", t: payload.Target{InterviewSetID: uuidA}, want: "is:" + uuidA},
		{name: "interview set upper case", t: payload.Target{InterviewSetID: strings.ToUpper(uuidA)}, want: "is:" + uuidA},
		{name: "project", t: payload.Target{ProjectID: uuidB}, want: "p:" + uuidB},
		{name: "project and job post", t: payload.Target{ProjectID: uuidB, JobPostID: uuidC}, want: "p:" + uuidB + "/jp:" + uuidC},
		{name: "mixed case everywhere", t: payload.Target{ProjectID: strings.ToUpper(uuidB), JobPostID: strings.ToUpper(uuidC)}, want: "p:" + uuidB + "/jp:" + uuidC},
		{name: "interview set and project", t: payload.Target{InterviewSetID: uuidA, ProjectID: uuidB}, want: "is:" + uuidA + "/p:" + uuidB},
		{name: "zero", t: payload.Target{}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.t.Key(); got != tt.want {
				t.Errorf("Key() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTargetKeyDistinguishesTargets(t *testing.T) {
	t.Parallel()
	targets := []payload.Target{
		{InterviewSetID: uuidA},
		{ProjectID: uuidA},
		{ProjectID: uuidA, JobPostID: uuidB},
		{ProjectID: uuidA, JobPostID: uuidC},
		{ProjectID: uuidB, JobPostID: uuidA},
		{InterviewSetID: uuidA, ProjectID: uuidB},
		{InterviewSetID: uuidB},
	}
	seen := map[string]payload.Target{}
	for _, tg := range targets {
		k := tg.Key()
		if other, dup := seen[k]; dup {
			t.Errorf("targets %+v and %+v share key %q", other, tg, k)
		}
		seen[k] = tg
	}
}

func TestTargetStringAndIsZero(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		t      payload.Target
		want   string
		isZero bool
	}{
		{name: "interview set", t: payload.Target{InterviewSetID: uuidA}, want: "interview set " + uuidA},
		{name: "project", t: payload.Target{ProjectID: uuidB}, want: "project " + uuidB},
		{name: "job post", t: payload.Target{ProjectID: uuidB, JobPostID: uuidC}, want: "project " + uuidB + " job post " + uuidC},
		{name: "zero", t: payload.Target{}, isZero: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.t.String(); tt.want != "" && got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			if got := tt.t.IsZero(); got != tt.isZero {
				t.Errorf("IsZero() = %v, want %v", got, tt.isZero)
			}
		})
	}
}
