package store

import (
	"crypto/sha256"
	"strconv"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/payload"
)

// TestFingerprintsAsSpelt pins candidateFP and ownerFP to what they are taken
// of, spelt as strings: they key ledgers and claims that outlive a build, so
// however they are computed they must not move.
func TestFingerprintsAsSpelt(t *testing.T) {
	t.Parallel()
	sum := func(v string) string { s := sha256.Sum256([]byte(v)); return string(s[:8]) }
	long := strings.Repeat("x", 200)
	for _, tc := range []struct {
		name string
		c    payload.Candidate
		want string
	}{
		{"lower-case email", payload.Candidate{Email: "ada@example.com"}, "e:ada@example.com"},
		{"email in capitals", payload.Candidate{Email: "Ada.LOVELACE@Example.COM", CVLink: "https://cv/1"}, "e:ada.lovelace@example.com"},
		{"email beyond ASCII", payload.Candidate{Email: "ÉLODIE@Exämple.com"}, "e:" + strings.ToLower("ÉLODIE@Exämple.com")},
		{"email not UTF-8", payload.Candidate{Email: "A\xffB@x.io"}, "e:" + strings.ToLower("A\xffB@x.io")},
		{"email longer than the stack buffer", payload.Candidate{Email: "A" + long + "@x.io"}, "e:a" + long + "@x.io"},
		{"CV only", payload.Candidate{CVLink: "https://cv.example.com/Ada.pdf"}, "c:https://cv.example.com/Ada.pdf"},
		{"CV link longer than the stack buffer", payload.Candidate{CVLink: long}, "c:" + long},
	} {
		if got := candidateFP(tc.c); got != sum(tc.want) {
			t.Errorf("%s: candidateFP %x, want the fingerprint of %q", tc.name, got, tc.want)
		}
	}
	for _, tc := range []struct {
		batch string
		seq   int64
	}{{"b", 0}, {"nightly-2026-12-01", 123456789}, {long, 7}, {"x:y", -1}} {
		want := "o:" + tc.batch + ":" + strconv.FormatInt(tc.seq, 10)
		if got := ownerFP(tc.batch, tc.seq); got != sum(want) {
			t.Errorf("ownerFP(%.20q, %d) %x, want the fingerprint of %.30q", tc.batch, tc.seq, got, want)
		}
	}
}

// TestTargetKeysOfEachTarget: tkey remembers the last target's hash, and a
// key of another target is that target's.
func TestTargetKeysOfEachTarget(t *testing.T) {
	t.Parallel()
	s := New(nil, Config{})
	a, b := payload.Target{InterviewSetID: "019c5ea9-a792-7f0d-b671-4c3c1602094e"}, payload.Target{ProjectID: "019c5ea9-a792-7f0d-b671-4c3c1602094f"}
	for _, tg := range []payload.Target{a, a, b, a, b, b} {
		if got, want := s.tkey(tg, "claims"), s.cfg.Prefix+"{t:"+targetHash(tg)+"}:claims"; got != want {
			t.Errorf("tkey(%v) = %q, want %q", tg, got, want)
		}
	}
}
