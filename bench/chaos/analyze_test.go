package main

import (
	"reflect"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/store"
)

var (
	target = payload.Target{InterviewSetID: sandbox.DemoInterviewSetID}
	t0     = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
)

// inv is the vendor's invite id for email, made by request req s seconds after t0.
func inv(email, id string, req int64, s int) sandbox.Invite {
	return sandbox.Invite{Target: target, Email: email, InvitationID: id, Request: req, At: t0.Add(time.Duration(s) * time.Second)}
}

func cands(emails ...string) []candidate {
	out := make([]candidate, len(emails))
	for i, e := range emails {
		out[i] = candidate{Email: e, Target: target}
	}
	return out
}

// ledger maps each email to a ledger value.
func ledger(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[candidateKey(target, kv[i])] = kv[i+1]
	}
	return m
}

// invited records seqs 0..n-1 of batch "b" as invited.
func invited(n int) map[string]map[int64]payload.Outcome {
	m := map[int64]payload.Outcome{}
	for i := range n {
		m[int64(i)] = payload.OutcomeInvited
	}
	return map[string]map[int64]payload.Outcome{"b": m}
}

// requests are the sandbox's records of the requests the invites name.
var requests = []sandbox.RequestRecord{
	{Seq: 1, Status: 200}, {Seq: 2, Status: 0, Fault: "lost_reply"}, {Seq: 3, Status: 504, Fault: "lost_reply"},
	{Seq: 7, Status: 200}, {Seq: 9, Status: 200}, {Seq: 20, Status: 200},
}

// windows: a Redis outage from t0+4s to t0+6s, a link cut from t0+5s to t0+9s.
var windows = []window{
	{Name: "kill-redis", From: t0.Add(4 * time.Second), To: t0.Add(6 * time.Second)},
	{Name: "cut-api", From: t0.Add(5 * time.Second), To: t0.Add(9 * time.Second)},
}

func dl(id, email string, reason payload.Reason, replayedFrom string) store.DeadLetter {
	return store.DeadLetter{ID: id, Reason: reason, Candidate: payload.Candidate{Email: email}, ReplayedFrom: replayedFrom}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cands   []candidate
		invites []sandbox.Invite
		rec     records
		want    figures
	}{
		{
			name:    "each invited once, as recorded",
			cands:   cands("a@x.com", "b@x.com"),
			invites: []sandbox.Invite{inv("a@x.com", "A", 1, 0), inv("b@x.com", "B", 1, 0)},
			rec:     records{Ledger: ledger("a@x.com", "b:0 invitation=A", "b@x.com", "b:1 invitation=B"), Outcomes: invited(2)},
			want:    figures{Candidates: 2, Invited: 2},
		},
		{
			name:  "nothing anywhere: lost",
			cands: cands("a@x.com"),
			want:  figures{Candidates: 1, Lost: 1, LostEmails: []string{"a@x.com"}},
		},
		{
			name:  "in the dead-letter list: not lost",
			cands: cands("a@x.com"),
			rec:   records{DeadLetters: []store.DeadLetter{dl("b:0", "A@X.com", payload.ReasonUnknownOutcome, "")}},
			want:  figures{Candidates: 1, DeadLettered: map[payload.Reason]int{payload.ReasonUnknownOutcome: 1}},
		},
		{
			name:  "dead-lettered twice: counted once, by its latest reason",
			cands: cands("a@x.com"),
			rec: records{DeadLetters: []store.DeadLetter{
				dl("b:0", "a@x.com", payload.ReasonTargetNotFound, ""), dl("r:0", "a@x.com", payload.ReasonRetriesExhausted, "b:0")}},
			want: figures{Candidates: 1, DeadLettered: map[payload.Reason]int{payload.ReasonRetriesExhausted: 1}},
		},
		{
			name:    "the vendor invited, nothing recorded nor dead-lettered: lost",
			cands:   cands("a@x.com"),
			invites: []sandbox.Invite{inv("a@x.com", "A", 1, 0)},
			want:    figures{Candidates: 1, Lost: 1, LostEmails: []string{"a@x.com"}},
		},
		{
			name:    "the ledger names a seq whose outcome is not a success: not invited",
			cands:   cands("a@x.com"),
			invites: []sandbox.Invite{inv("a@x.com", "A", 1, 0)},
			rec: records{Ledger: ledger("a@x.com", "b:3 invitation=A"),
				Outcomes: map[string]map[int64]payload.Outcome{"b": {3: payload.OutcomeDeadLettered}}},
			want: figures{Candidates: 1, Lost: 1, LostEmails: []string{"a@x.com"}},
		},
		{
			name:  "recorded, but the vendor holds no invite",
			cands: cands("a@x.com"),
			rec:   records{Ledger: ledger("a@x.com", "b:0 invitation=A"), Outcomes: invited(1)},
			want:  figures{Candidates: 1, Lost: 1, LostEmails: []string{"a@x.com"}, RecordedNotAtVendor: 1},
		},
		{
			name:    "sent again after the recorded success",
			cands:   cands("a@x.com"),
			invites: []sandbox.Invite{inv("a@x.com", "B", 9, 5), inv("a@x.com", "A", 1, 0)},
			rec:     records{Ledger: ledger("a@x.com", "b:0 invitation=A"), Outcomes: invited(1)},
			want: figures{Candidates: 1, Invited: 1, FirstSend: map[string]int{"no fault, answered 200": 1},
				TwiceAfterSeen: 1, TwiceAfterSeenCandidates: 1, Duplicates: 1, DuplicateCandidates: 1},
		},
		{
			name:    "a lost reply, sent again, the second success recorded",
			cands:   cands("a@x.com"),
			invites: []sandbox.Invite{inv("a@x.com", "A", 3, 0), inv("a@x.com", "B", 9, 5)},
			rec:     records{Ledger: ledger("a@x.com", "b:0 invitation=B"), Outcomes: invited(1)},
			want: figures{Candidates: 1, Invited: 1, FirstSend: map[string]int{"no fault, answered 504 lost_reply": 1},
				ThroughUnknown: 1, ThroughUnknownCandidates: 1, Duplicates: 1, DuplicateCandidates: 1},
		},
		{
			name:  "recorded the middle one of three",
			cands: cands("a@x.com"),
			invites: []sandbox.Invite{inv("a@x.com", "C", 20, 9), inv("a@x.com", "A", 1, 0),
				inv("a@x.com", "B", 9, 5)},
			rec: records{Ledger: ledger("a@x.com", "b:0 invitation=B"), Outcomes: invited(1)},
			want: figures{Candidates: 1, Invited: 1, FirstSend: map[string]int{"no fault, answered 200": 1},
				TwiceAfterSeen: 1, TwiceAfterSeenCandidates: 1, ThroughUnknown: 1, ThroughUnknownCandidates: 1,
				Duplicates: 2, DuplicateCandidates: 1},
		},
		{
			name:    "a first send inside fault windows falls in the first that holds it",
			cands:   cands("a@x.com", "b@x.com"),
			invites: []sandbox.Invite{inv("a@x.com", "A", 7, 5), inv("a@x.com", "B", 9, 20), inv("b@x.com", "C", 1, 9), inv("b@x.com", "D", 20, 30)},
			rec:     records{Ledger: ledger("a@x.com", "b:0 invitation=B", "b@x.com", "b:1 invitation=D"), Outcomes: invited(2)},
			want: figures{Candidates: 2, Invited: 2, FirstSend: map[string]int{"kill-redis, answered 200": 1, "cut-api, answered 200": 1},
				ThroughUnknown: 2, ThroughUnknownCandidates: 2, Duplicates: 2, DuplicateCandidates: 2},
		},
		{
			name:    "invites at the same instant are ordered by request",
			cands:   cands("a@x.com"),
			invites: []sandbox.Invite{inv("a@x.com", "late", 7, 0), inv("a@x.com", "early", 3, 0)},
			rec:     records{Ledger: ledger("a@x.com", "b:0 invitation=early"), Outcomes: invited(1)},
			want: figures{Candidates: 1, Invited: 1, FirstSend: map[string]int{"no fault, answered 504 lost_reply": 1},
				TwiceAfterSeen: 1, TwiceAfterSeenCandidates: 1, Duplicates: 1, DuplicateCandidates: 1},
		},
		{
			name:  "no ledger record: every invite after the first went through an unknown outcome",
			cands: cands("a@x.com"),
			invites: []sandbox.Invite{inv("a@x.com", "A", 2, 0), inv("a@x.com", "B", 7, 1),
				inv("A@X.COM", "C", 9, 2)},
			rec: records{DeadLetters: []store.DeadLetter{dl("b:0", "a@x.com", payload.ReasonUnknownOutcome, "")}},
			want: figures{Candidates: 1, DeadLettered: map[payload.Reason]int{payload.ReasonUnknownOutcome: 1},
				FirstSend: map[string]int{"no fault, answered 0 lost_reply": 1}, ThroughUnknown: 2, ThroughUnknownCandidates: 1, Duplicates: 2, DuplicateCandidates: 1},
		},
		{
			name:    "the ledger names an invitation the vendor never made",
			cands:   cands("a@x.com"),
			invites: []sandbox.Invite{inv("a@x.com", "A", 99, 0), inv("a@x.com", "B", 1, 1)},
			rec:     records{Ledger: ledger("a@x.com", "b:0 invitation=Z"), Outcomes: invited(1)},
			want: figures{Candidates: 1, Invited: 1, LedgerNotAtVendor: 1, FirstSend: map[string]int{"no fault, answered unknown request": 1},
				ThroughUnknown: 1, ThroughUnknownCandidates: 1, Duplicates: 1, DuplicateCandidates: 1},
		},
		{
			name:    "an unreadable ledger value counts as no record",
			cands:   cands("a@x.com"),
			invites: []sandbox.Invite{inv("a@x.com", "A", 1, 0)},
			rec:     records{Ledger: ledger("a@x.com", "garbage"), Outcomes: invited(1)},
			want:    figures{Candidates: 1, Lost: 1, LostEmails: []string{"a@x.com"}, LedgerUnreadable: 1},
		},
		{
			name:    "invited and dead-lettered both",
			cands:   cands("a@x.com"),
			invites: []sandbox.Invite{inv("a@x.com", "A", 1, 0)},
			rec: records{Ledger: ledger("a@x.com", "b:0 invitation=A"), Outcomes: invited(1),
				DeadLetters: []store.DeadLetter{dl("r:0", "a@x.com", payload.ReasonUnknownOutcome, "")}},
			want: figures{Candidates: 1, Invited: 1, InvitedAndDeadLettered: 1,
				DeadLettered: map[payload.Reason]int{payload.ReasonUnknownOutcome: 1}},
		},
		{
			name:    "invites for nobody of the input, or at another target, are stray",
			cands:   cands("a@x.com"),
			invites: []sandbox.Invite{inv("a@x.com", "A", 1, 0), inv("z@x.com", "Z", 1, 0), {Target: payload.Target{InterviewSetID: "other"}, Email: "a@x.com"}},
			rec:     records{Ledger: ledger("a@x.com", "b:0 invitation=A"), Outcomes: invited(1)},
			want:    figures{Candidates: 1, Invited: 1, StrayInvites: 2},
		},
		{
			name:    "a success recorded without an invitation id",
			cands:   cands("a@x.com"),
			invites: []sandbox.Invite{inv("a@x.com", "A", 1, 0)},
			rec:     records{Ledger: ledger("a@x.com", "b:0"), Outcomes: invited(1)},
			want:    figures{Candidates: 1, Invited: 1},
		},
		{
			name: "dead letters to replay: in the list, replayed into a new entry, staged, or vanished",
			rec: records{
				ToReplay:    []string{"d:1", "d:2", "d:3", "d:4"},
				DeadLetters: []store.DeadLetter{dl("d:1", "one@x.com", payload.ReasonTargetNotFound, ""), dl("r:0", "two@x.com", payload.ReasonUnknownOutcome, "d:2")},
				Staged:      map[string]bool{"d:3": true},
			},
			want: figures{Vanished: 1},
		},
		{
			name:  "only the first few lost emails are kept",
			cands: cands("1@x.com", "2@x.com", "3@x.com", "4@x.com", "5@x.com", "6@x.com"),
			want: figures{Candidates: 6, Lost: 6,
				LostEmails: []string{"1@x.com", "2@x.com", "3@x.com", "4@x.com", "5@x.com"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.want.DeadLettered == nil {
				tt.want.DeadLettered = map[payload.Reason]int{}
			}
			if tt.want.FirstSend == nil {
				tt.want.FirstSend = map[string]int{}
			}
			got := classify(tt.cands, tt.invites, requests, windows, tt.rec)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("classify:\n got  %+v\n want %+v", got, tt.want)
			}
		})
	}
}

func TestParseLedger(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    ledgerEntry
		wantErr bool
	}{
		{in: "nightly:12 invitation=019c-abc", want: ledgerEntry{BatchID: "nightly", Seq: 12, InvitationID: "019c-abc"}},
		{in: "a:b:7 invitation=x", want: ledgerEntry{BatchID: "a:b", Seq: 7, InvitationID: "x"}},
		{in: "batch:0", want: ledgerEntry{BatchID: "batch", Seq: 0}},
		{in: "garbage", wantErr: true},
		{in: ":3 invitation=x", wantErr: true},
		{in: "b:x invitation=y", wantErr: true},
		{in: "b:1 other=y", wantErr: true},
		{in: "b:1 invitation=", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := parseLedger(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseLedger(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
