package main

import (
	"reflect"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/payload"
)

var (
	target = payload.Target{InterviewSetID: sandbox.DemoInterviewSetID}
	t0     = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
)

// at is s seconds after t0.
func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

// inv is the vendor's invite for email, made s seconds after t0 by request req
// (see requests for when that arrived).
func inv(email string, req int64, s float64) sandbox.Invite {
	return sandbox.Invite{Target: target, Email: email, Request: req, At: at(s)}
}

func cands(emails ...string) []candidate {
	out := make([]candidate, len(emails))
	for i, e := range emails {
		out[i] = candidate{Email: e, Target: target}
	}
	return out
}

// ledger maps each email to a ledger record of an invite, recorded s seconds
// after t0.
func ledger(recorded map[string]float64) map[string]*store.LedgerRecord {
	m := map[string]*store.LedgerRecord{}
	for email, s := range recorded {
		m[candidateKey(target, email)] = &store.LedgerRecord{Outcome: payload.OutcomeInvited, At: at(s)}
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

// requests are the sandbox's records of the requests the invites name, with
// the time each arrived: the sandbox numbers them in that order.
var requests = []sandbox.RequestRecord{
	{Seq: 1, At: at(0), Status: 200}, {Seq: 2, At: at(0), Status: 0, Fault: "lost_reply"},
	{Seq: 3, At: at(0.5), Status: 504, Fault: "lost_reply"}, {Seq: 7, At: at(4), Status: 200},
	{Seq: 8, At: at(4).Add(500 * time.Microsecond), Status: 200},
	{Seq: 9, At: at(5), Status: 200}, {Seq: 20, At: at(9), Status: 200}, {Seq: 30, At: at(30), Status: 200},
}

// windows: a Redis outage from t0+4s to t0+6s, a link cut from t0+5s to t0+9s.
var windows = []window{
	{Name: "kill-redis", From: at(4), To: at(6)},
	{Name: "cut-api", From: at(5), To: at(9)},
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
			invites: []sandbox.Invite{inv("a@x.com", 1, 0.3), inv("b@x.com", 7, 4.5)},
			rec:     records{Ledger: ledger(map[string]float64{"a@x.com": 1, "b@x.com": 5}), Outcomes: invited(2)},
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
			invites: []sandbox.Invite{inv("a@x.com", 1, 0.3)},
			want:    figures{Candidates: 1, Lost: 1, LostEmails: []string{"a@x.com"}},
		},
		{
			name:  "recorded, but the vendor holds no invite: lost",
			cands: cands("a@x.com"),
			rec:   records{Ledger: ledger(map[string]float64{"a@x.com": 1}), Outcomes: invited(1)},
			want:  figures{Candidates: 1, Lost: 1, LostEmails: []string{"a@x.com"}, RecordedNotAtVendor: 1},
		},
		{
			name:    "a success queued for CV processing counts as invited",
			cands:   cands("a@x.com"),
			invites: []sandbox.Invite{inv("a@x.com", 1, 0.3)},
			rec: records{Ledger: map[string]*store.LedgerRecord{
				candidateKey(target, "a@x.com"): {Outcome: payload.OutcomeCVQueued, At: at(1)}},
				Outcomes: map[string]map[int64]payload.Outcome{"b": {0: payload.OutcomeCVQueued}}},
			want: figures{Candidates: 1, Invited: 1},
		},
		{
			name:    "sent again after the recorded success",
			cands:   cands("a@x.com"),
			invites: []sandbox.Invite{inv("a@x.com", 20, 9.2), inv("a@x.com", 1, 0.3)},
			rec:     records{Ledger: ledger(map[string]float64{"a@x.com": 1}), Outcomes: invited(1)},
			want: figures{Candidates: 1, Invited: 1, FirstSend: map[string]int{"no fault, answered 200": 1},
				TwiceAfterSeen: 1, TwiceAfterSeenCandidates: 1, Duplicates: 1, DuplicateCandidates: 1},
		},
		{
			name:    "a lost reply, sent again, the second success recorded: through an unknown outcome",
			cands:   cands("a@x.com"),
			invites: []sandbox.Invite{inv("a@x.com", 3, 1), inv("a@x.com", 9, 5.5)},
			rec:     records{Ledger: ledger(map[string]float64{"a@x.com": 6}), Outcomes: invited(1)},
			want: figures{Candidates: 1, Invited: 1, FirstSend: map[string]int{"no fault, answered 504 lost_reply": 1},
				ThroughUnknown: 1, ThroughUnknownCandidates: 1, Duplicates: 1, DuplicateCandidates: 1},
		},
		{
			name:    "a send that arrived before the record is not after it, though its invite was made after",
			cands:   cands("a@x.com"),
			invites: []sandbox.Invite{inv("a@x.com", 1, 0.3), inv("a@x.com", 3, 3)},
			rec:     records{Ledger: ledger(map[string]float64{"a@x.com": 1}), Outcomes: invited(1)},
			want: figures{Candidates: 1, Invited: 1, FirstSend: map[string]int{"no fault, answered 200": 1},
				ThroughUnknown: 1, ThroughUnknownCandidates: 1, Duplicates: 1, DuplicateCandidates: 1},
		},
		{
			name:    "a send that arrived the very instant of the record is not after it",
			cands:   cands("a@x.com"),
			invites: []sandbox.Invite{inv("a@x.com", 1, 0.3), inv("a@x.com", 20, 9.2)},
			rec:     records{Ledger: ledger(map[string]float64{"a@x.com": 9}), Outcomes: invited(1)},
			want: figures{Candidates: 1, Invited: 1, FirstSend: map[string]int{"no fault, answered 200": 1},
				ThroughUnknown: 1, ThroughUnknownCandidates: 1, Duplicates: 1, DuplicateCandidates: 1},
		},
		{
			name:    "a send that arrived a millisecond after the record is after it",
			cands:   cands("a@x.com"),
			invites: []sandbox.Invite{inv("a@x.com", 1, 0.3), inv("a@x.com", 20, 9.2)},
			rec:     records{Ledger: ledger(map[string]float64{"a@x.com": 8.999}), Outcomes: invited(1)},
			want: figures{Candidates: 1, Invited: 1, FirstSend: map[string]int{"no fault, answered 200": 1},
				TwiceAfterSeen: 1, TwiceAfterSeenCandidates: 1, Duplicates: 1, DuplicateCandidates: 1},
		},
		{
			name:  "recorded between the second and third of three sends",
			cands: cands("a@x.com"),
			invites: []sandbox.Invite{inv("a@x.com", 20, 9.2), inv("a@x.com", 1, 0.2),
				inv("a@x.com", 9, 5.2)},
			rec: records{Ledger: ledger(map[string]float64{"a@x.com": 6}), Outcomes: invited(1)},
			want: figures{Candidates: 1, Invited: 1, FirstSend: map[string]int{"no fault, answered 200": 1},
				TwiceAfterSeen: 1, TwiceAfterSeenCandidates: 1, ThroughUnknown: 1, ThroughUnknownCandidates: 1,
				Duplicates: 2, DuplicateCandidates: 1},
		},
		{
			name:  "a first send inside fault windows falls in the first that holds it",
			cands: cands("a@x.com", "b@x.com"),
			invites: []sandbox.Invite{inv("a@x.com", 7, 5), inv("a@x.com", 30, 30), inv("b@x.com", 20, 9),
				inv("b@x.com", 30, 30.5)},
			rec: records{Ledger: ledger(map[string]float64{"a@x.com": 31, "b@x.com": 31}), Outcomes: invited(2)},
			want: figures{Candidates: 2, Invited: 2, FirstSend: map[string]int{"kill-redis, answered 200": 1, "cut-api, answered 200": 1},
				ThroughUnknown: 2, ThroughUnknownCandidates: 2, Duplicates: 2, DuplicateCandidates: 2},
		},
		{
			name:    "the first send is the request that arrived first, not the invite made first",
			cands:   cands("a@x.com"),
			invites: []sandbox.Invite{inv("a@x.com", 3, 1), inv("a@x.com", 2, 2.5)},
			rec:     records{Ledger: ledger(map[string]float64{"a@x.com": 3}), Outcomes: invited(1)},
			want: figures{Candidates: 1, Invited: 1, FirstSend: map[string]int{"no fault, answered 0 lost_reply": 1},
				ThroughUnknown: 1, ThroughUnknownCandidates: 1, Duplicates: 1, DuplicateCandidates: 1},
		},
		{
			name:  "no ledger record: every invite after the first went through an unknown outcome",
			cands: cands("a@x.com"),
			invites: []sandbox.Invite{inv("a@x.com", 2, 0.2), inv("a@x.com", 7, 4.1),
				inv("A@X.COM", 9, 5.1)},
			rec: records{DeadLetters: []store.DeadLetter{dl("b:0", "a@x.com", payload.ReasonUnknownOutcome, "")}},
			want: figures{Candidates: 1, DeadLettered: map[payload.Reason]int{payload.ReasonUnknownOutcome: 1},
				FirstSend: map[string]int{"no fault, answered 0 lost_reply": 1}, ThroughUnknown: 2, ThroughUnknownCandidates: 1, Duplicates: 2, DuplicateCandidates: 1},
		},
		{
			// The ledger's time is rounded down to the millisecond: a's success
			// was recorded before 4s, its first send arrived at 4s; b's may
			// have been recorded after its first send arrived, at 4.0005s.
			name:    "a success recorded before any send of the candidate arrived",
			cands:   cands("a@x.com", "b@x.com"),
			invites: []sandbox.Invite{inv("a@x.com", 7, 4.2), inv("a@x.com", 20, 9.2), inv("b@x.com", 8, 4.2)},
			rec:     records{Ledger: ledger(map[string]float64{"a@x.com": 3.999, "b@x.com": 4}), Outcomes: invited(2)},
			want: figures{Candidates: 2, Invited: 2, RecordedBeforeInvite: 1, FirstSend: map[string]int{"kill-redis, answered 200": 1},
				TwiceAfterSeen: 1, TwiceAfterSeenCandidates: 1, Duplicates: 1, DuplicateCandidates: 1},
		},
		{
			name:    "an invite whose request the sandbox has no record of",
			cands:   cands("a@x.com"),
			invites: []sandbox.Invite{inv("a@x.com", 0, 0.1), inv("a@x.com", 1, 0.3)},
			rec:     records{Ledger: ledger(map[string]float64{"a@x.com": 1}), Outcomes: invited(1)},
			want: figures{Candidates: 1, Invited: 1, FirstSend: map[string]int{"no fault, answered unknown request": 1},
				InvitesWithoutRequest: 1, ThroughUnknown: 1, ThroughUnknownCandidates: 1, Duplicates: 1, DuplicateCandidates: 1},
		},
		{
			name:    "more successes in the batches than ledger records",
			cands:   cands("a@x.com", "b@x.com"),
			invites: []sandbox.Invite{inv("a@x.com", 1, 0.3), inv("b@x.com", 1, 0.3)},
			rec: records{Ledger: ledger(map[string]float64{"a@x.com": 1, "b@x.com": 1}), Outcomes: map[string]map[int64]payload.Outcome{
				"b": {0: payload.OutcomeInvited, 1: payload.OutcomeCVQueued, 2: payload.OutcomeDeadLettered, 3: payload.OutcomeSkippedDuplicate},
				"r": {0: payload.OutcomeInvited}}},
			want: figures{Candidates: 2, Invited: 2, SuccessesBeyondLedger: 1},
		},
		{
			name:    "more ledger records than successes in the batches",
			cands:   cands("a@x.com", "b@x.com"),
			invites: []sandbox.Invite{inv("a@x.com", 1, 0.3), inv("b@x.com", 1, 0.3)},
			rec: records{Ledger: ledger(map[string]float64{"a@x.com": 1, "b@x.com": 1}), Outcomes: map[string]map[int64]payload.Outcome{
				"b": {0: payload.OutcomeInvited, 1: payload.OutcomeDeadLettered}}},
			want: figures{Candidates: 2, Invited: 2, LedgerBeyondSuccesses: 1},
		},
		{
			name:    "invited and dead-lettered both",
			cands:   cands("a@x.com"),
			invites: []sandbox.Invite{inv("a@x.com", 1, 0.3)},
			rec: records{Ledger: ledger(map[string]float64{"a@x.com": 1}), Outcomes: invited(1),
				DeadLetters: []store.DeadLetter{dl("r:0", "a@x.com", payload.ReasonUnknownOutcome, "")}},
			want: figures{Candidates: 1, Invited: 1, InvitedAndDeadLettered: 1,
				DeadLettered: map[payload.Reason]int{payload.ReasonUnknownOutcome: 1}},
		},
		{
			name:  "invites for nobody of the input, or at another target, are stray",
			cands: cands("a@x.com"),
			invites: []sandbox.Invite{inv("a@x.com", 1, 0.3), inv("z@x.com", 1, 0.3), inv("Z@x.com", 7, 4.2),
				{Target: payload.Target{InterviewSetID: "other"}, Email: "a@x.com", Request: 1, At: at(0.3)}},
			rec:  records{Ledger: ledger(map[string]float64{"a@x.com": 1}), Outcomes: invited(1)},
			want: figures{Candidates: 1, Invited: 1, StrayInvites: 3},
		},
		{
			name:    "dead letters to replay: in the list, replayed into a new entry, staged, invited, or vanished",
			cands:   cands("five@x.com"),
			invites: []sandbox.Invite{inv("five@x.com", 1, 0.3)},
			rec: records{
				ToReplay: []store.DeadLetter{dl("d:1", "one@x.com", payload.ReasonTargetNotFound, ""),
					dl("d:2", "two@x.com", payload.ReasonTargetNotFound, ""), dl("d:3", "three@x.com", payload.ReasonTargetNotFound, ""),
					dl("d:4", "four@x.com", payload.ReasonTargetNotFound, ""), dl("d:5", "Five@x.com", payload.ReasonTargetNotFound, "")},
				DeadLetters: []store.DeadLetter{dl("d:1", "one@x.com", payload.ReasonTargetNotFound, ""), dl("r:0", "two@x.com", payload.ReasonUnknownOutcome, "d:2")},
				Staged:      map[string]bool{"d:3": true},
				Ledger:      ledger(map[string]float64{"five@x.com": 1}),
				Outcomes:    invited(1),
			},
			want: figures{Candidates: 1, Invited: 1, Vanished: 1},
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
