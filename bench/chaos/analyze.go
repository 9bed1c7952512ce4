package main

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/store"
)

// candidate is one input candidate of a run: imported, or replayed from a
// dead letter.
type candidate struct {
	Email string
	// Target is where the candidate must end invited.
	Target payload.Target
}

// records is what our side holds at the end of a run.
type records struct {
	// Ledger maps candidateKey(target, email) to the raw ledger value of that
	// candidate (store.LedgerKey); no entry: nothing recorded.
	Ledger map[string]string
	// Outcomes maps a batch id to its recorded outcomes by seq; only the batches
	// that ledger values name are needed.
	Outcomes map[string]map[int64]payload.Outcome
	// DeadLetters is the dead-letter list at the end.
	DeadLetters []store.DeadLetter
	// ToReplay are the ids of the dead letters the replays were started on.
	ToReplay []string
	// Staged are the ids of the dead letters staged in some replay batch.
	Staged map[string]bool
}

// figures are what classify makes of a run.
type figures struct {
	// Candidates is the number of input candidates.
	Candidates int
	// Invited: the outcome recorded (ledger, and the outcome it names) and the
	// vendor holds an invite.
	Invited int
	// DeadLettered counts the input candidates in the dead-letter list at the
	// end, by the reason of their latest entry.
	DeadLettered map[payload.Reason]int
	// Lost: neither invited nor in the dead-letter list. LostEmails are the first few.
	Lost       int
	LostEmails []string
	// Vanished: dead letters to replay found in neither the dead-letter list
	// (as themselves or as the origin of a new entry) nor any replay batch.
	Vanished int
	// Invites beyond the first for one candidate, split by where they fall
	// against the invitation our ledger recorded: after it (TwiceAfterSeen),
	// before it or without one (ThroughUnknown); Duplicates is their sum. The
	// *Candidates fields count the candidates concerned.
	TwiceAfterSeen, TwiceAfterSeenCandidates int
	ThroughUnknown, ThroughUnknownCandidates int
	Duplicates, DuplicateCandidates          int
	// FirstSend counts the candidates invited more than once by where their
	// first invite fell (the fault window holding its time, or "no fault") and
	// the vendor's answer to the request that made it (answerOf): which fault
	// kept that send from being taken as done.
	FirstSend map[string]int
	// Oddities that should not happen: a recorded success the vendor knows
	// nothing of, a ledger naming an invitation the vendor never made, a ledger
	// value that does not parse, invites for nobody of the input, and candidates
	// both invited and in the dead-letter list.
	RecordedNotAtVendor, LedgerNotAtVendor, LedgerUnreadable, StrayInvites, InvitedAndDeadLettered int
}

// ledgerEntry is what the ledger says of a candidate's recorded success.
type ledgerEntry struct {
	// BatchID and Seq name the batch and candidate whose success was recorded;
	// BatchID is empty when the value does not say.
	BatchID string
	Seq     int64
	// InvitationID is the vendor's id of the invitation we saw succeed; empty
	// when the value does not say.
	InvitationID string
}

// parseLedger reads a ledger value. Today's format is
// "<batchID>:<seq> invitation=<invitation id>" (the invitation part absent for
// a success without an invitation). This is the only place that knows it.
func parseLedger(v string) (ledgerEntry, error) {
	who, inv, _ := strings.Cut(strings.TrimSpace(v), " ")
	i := strings.LastIndexByte(who, ':')
	if i <= 0 {
		return ledgerEntry{}, fmt.Errorf("ledger value %q: no <batch>:<seq>", v)
	}
	seq, err := strconv.ParseInt(who[i+1:], 10, 64)
	if err != nil {
		return ledgerEntry{}, fmt.Errorf("ledger value %q: seq: %w", v, err)
	}
	e := ledgerEntry{BatchID: who[:i], Seq: seq}
	if inv != "" {
		id, ok := strings.CutPrefix(inv, "invitation=")
		if !ok || id == "" {
			return ledgerEntry{}, errors.New("ledger value " + strconv.Quote(v) + ": want invitation=<id> after the seq")
		}
		e.InvitationID = id
	}
	return e, nil
}

// candidateKey identifies a candidate at a target, as the vendor counts
// invites: ids and email ignoring case.
func candidateKey(t payload.Target, email string) string {
	return t.Key() + "\x00" + strings.ToLower(email)
}

// maxLostShown bounds figures.LostEmails.
const maxLostShown = 5

// window is a stretch of time around a fault in which a send may have been
// caught by it.
type window struct {
	Name     string
	From, To time.Time
}

// windowOf names the first window holding t, or "no fault".
func windowOf(ws []window, t time.Time) string {
	for _, w := range ws {
		if !t.Before(w.From) && !t.After(w.To) {
			return w.Name
		}
	}
	return "no fault"
}

// answerOf names the vendor's answer to a request: its status, and the fault
// the sandbox injected, if any ("200", "504 lost_reply", "0 lost_reply").
func answerOf(r sandbox.RequestRecord) string {
	if r.Fault != "" {
		return strconv.Itoa(r.Status) + " " + r.Fault
	}
	return strconv.Itoa(r.Status)
}

// classify compares the vendor's record (invites, and the requests that made
// them) with ours (rec) for the input candidates cands; windows place the
// first sends of candidates invited twice.
func classify(cands []candidate, invites []sandbox.Invite, requests []sandbox.RequestRecord, windows []window, rec records) figures {
	f := figures{Candidates: len(cands), DeadLettered: map[payload.Reason]int{}, FirstSend: map[string]int{}}
	answer := make(map[int64]string, len(requests))
	for _, r := range requests {
		answer[r.Seq] = answerOf(r)
	}

	byKey := map[string][]sandbox.Invite{}
	for _, inv := range invites {
		k := candidateKey(inv.Target, inv.Email)
		byKey[k] = append(byKey[k], inv)
	}
	dlReason := map[string]payload.Reason{} // lower-case email -> reason of its latest entry
	inList := map[string]bool{}             // dead-letter ids in the list, and the ids they replay
	for _, d := range rec.DeadLetters {
		dlReason[strings.ToLower(d.Candidate.Email)] = d.Reason
		inList[d.ID] = true
		if d.ReplayedFrom != "" {
			inList[d.ReplayedFrom] = true
		}
	}

	known := map[string]bool{}
	for _, c := range cands {
		k := candidateKey(c.Target, c.Email)
		known[k] = true
		invs := byKey[k]

		var led *ledgerEntry
		if v, ok := rec.Ledger[k]; ok {
			if e, err := parseLedger(v); err != nil {
				f.LedgerUnreadable++
			} else {
				led = &e
			}
		}
		recorded := led != nil
		if recorded && led.BatchID != "" {
			o := rec.Outcomes[led.BatchID][led.Seq]
			recorded = o == payload.OutcomeInvited || o == payload.OutcomeCVQueued
		}
		invited := recorded && len(invs) > 0
		if recorded && len(invs) == 0 {
			f.RecordedNotAtVendor++
		}
		reason, dead := dlReason[strings.ToLower(c.Email)]
		switch {
		case invited && dead:
			f.InvitedAndDeadLettered++
		case !invited && !dead:
			f.Lost++
			if len(f.LostEmails) < maxLostShown {
				f.LostEmails = append(f.LostEmails, c.Email)
			}
		}
		if invited {
			f.Invited++
		}
		if dead {
			f.DeadLettered[reason]++
		}

		slices.SortStableFunc(invs, func(a, b sandbox.Invite) int {
			return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.Request, b.Request))
		})
		at := -1 // the recorded invitation's place among the vendor's, in time order
		if led != nil && led.InvitationID != "" && len(invs) > 0 {
			at = slices.IndexFunc(invs, func(inv sandbox.Invite) bool { return inv.InvitationID == led.InvitationID })
			if at < 0 {
				f.LedgerNotAtVendor++
			}
		}
		if len(invs) < 2 {
			continue
		}
		extra := len(invs) - 1
		f.Duplicates += extra
		f.DuplicateCandidates++
		first, ok := answer[invs[0].Request]
		if !ok {
			first = "unknown request"
		}
		f.FirstSend[windowOf(windows, invs[0].At)+", answered "+first]++
		if at < 0 { // no invitation recorded: every invite after the first went through an unknown outcome
			f.ThroughUnknown += extra
			f.ThroughUnknownCandidates++
			continue
		}
		if after := len(invs) - 1 - at; after > 0 {
			f.TwiceAfterSeen += after
			f.TwiceAfterSeenCandidates++
		}
		if at > 0 {
			f.ThroughUnknown += at
			f.ThroughUnknownCandidates++
		}
	}
	for k, invs := range byKey {
		if !known[k] {
			f.StrayInvites += len(invs)
		}
	}

	for _, id := range rec.ToReplay {
		if !inList[id] && !rec.Staged[id] {
			f.Vanished++
		}
	}
	return f
}
