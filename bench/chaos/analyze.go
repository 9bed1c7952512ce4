package main

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/payload"
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
	// Ledger maps candidateKey(target, email) to the ledger's record of that
	// candidate's success (store.LedgerRecords); no entry: nothing recorded.
	Ledger map[string]*store.LedgerRecord
	// Outcomes maps a batch id to its recorded outcomes by seq, for every batch
	// of the run.
	Outcomes map[string]map[int64]payload.Outcome
	// DeadLetters is the dead-letter list at the end.
	DeadLetters []store.DeadLetter
	// ToReplay are the dead letters the replays were started on, as listed
	// before them.
	ToReplay []store.DeadLetter
	// Staged are the ids of the dead letters staged in a replay batch still
	// open: the store drops a replay's staging once it is fully enqueued.
	Staged map[string]bool
}

// figures are what classify makes of a run.
type figures struct {
	// Candidates is the number of input candidates.
	Candidates int
	// Invited: the ledger holds a success for the candidate and the vendor holds
	// at least one invite for it.
	Invited int
	// DeadLettered counts the input candidates in the dead-letter list at the
	// end, by the reason of their latest entry.
	DeadLettered map[payload.Reason]int
	// Lost: neither invited nor in the dead-letter list. LostEmails are the first few.
	Lost       int
	LostEmails []string
	// Vanished: dead letters to replay found in neither the dead-letter list
	// (as themselves or as the origin of a new entry), nor the staging of a
	// replay batch still open, and whose candidate has no success in our
	// ledger. Once a replay batch is fully enqueued its staging is gone, and
	// a success (which only the replay can have made: the dead letters were
	// made at a target the vendor does not know) is what is left of a dead
	// letter replayed and invited.
	Vanished int
	// Invites beyond the first for one candidate (the first is the one whose
	// request arrived first), split by when the request that made each arrived
	// at the vendor against the time our ledger recorded the candidate's
	// success: strictly after it (TwiceAfterSeen: sent again although the
	// success was recorded), or at or before it, or with no ledger record at all
	// (ThroughUnknown: sent again because the outcome of an earlier send was not
	// known). Duplicates is their sum. The ledger's time is in whole
	// milliseconds, rounded down, by Redis's clock, and the arrival the
	// sandbox's, one machine's clock: a request that arrived in the millisecond
	// of the record, before it, counts as after. The *Candidates fields count
	// the candidates concerned.
	TwiceAfterSeen, TwiceAfterSeenCandidates int
	ThroughUnknown, ThroughUnknownCandidates int
	Duplicates, DuplicateCandidates          int
	// FirstSend counts the candidates invited more than once by where their
	// first invite fell (the fault window holding its time, or "no fault") and
	// the vendor's answer to the request that made it (answerOf): which fault
	// kept that send from being taken as done.
	FirstSend map[string]int
	// Oddities, which no fault should cause:
	//  - RecordedNotAtVendor: input candidates whose success the ledger holds
	//    but for whom the vendor holds no invite;
	//  - RecordedBeforeInvite: input candidates whose ledger record is older
	//    than the arrival of every request that invited them (by a whole
	//    millisecond at least): a success recorded before the vendor saw any
	//    send of the candidate;
	//  - StrayInvites: invites for nobody of the input (another email, or an
	//    input email at another target);
	//  - InvitedAndDeadLettered: input candidates both invited and in the
	//    dead-letter list;
	//  - InvitesWithoutRequest: invites of input candidates whose request the
	//    sandbox has no record of (their own time stands for the request's
	//    arrival, which can only be earlier);
	//  - SuccessesBeyondLedger: how many more successes (invited or cv_queued)
	//    the batches recorded, all batches together, than there are input
	//    candidates with a ledger record: a person's success recorded for two
	//    batch candidates (the later one rewrote the ledger's record, and the
	//    time the resends are placed against), or a success recorded without
	//    its ledger entry;
	//  - LedgerBeyondSuccesses: the reverse, how many more input candidates
	//    have a ledger record than the batches recorded successes: a success
	//    written to the ledger whose batch never recorded it (only expected
	//    while a batch is not done).
	RecordedNotAtVendor, RecordedBeforeInvite, StrayInvites, InvitedAndDeadLettered int
	InvitesWithoutRequest, SuccessesBeyondLedger, LedgerBeyondSuccesses             int
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
	byReq := make(map[int64]sandbox.RequestRecord, len(requests))
	for _, r := range requests {
		byReq[r.Seq] = r
	}
	// arrival is when the request that made inv arrived at the vendor; the
	// invite's own time when the sandbox has no record of the request.
	arrival := func(inv sandbox.Invite) time.Time {
		if r, ok := byReq[inv.Request]; ok {
			return r.At
		}
		return inv.At
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
	succeeded := map[string]bool{} // lower-case emails of the input candidates with a ledger record
	recorded := 0                  // how many
	for _, c := range cands {
		k := candidateKey(c.Target, c.Email)
		known[k] = true
		invs := byKey[k]
		// In the order the requests that made them arrived: the sandbox numbers
		// requests in that order.
		slices.SortStableFunc(invs, func(a, b sandbox.Invite) int {
			return cmp.Or(cmp.Compare(a.Request, b.Request), a.At.Compare(b.At))
		})

		for _, inv := range invs {
			if _, ok := byReq[inv.Request]; !ok {
				f.InvitesWithoutRequest++
			}
		}
		led := rec.Ledger[k]
		if led != nil {
			recorded++
			succeeded[strings.ToLower(c.Email)] = true
		}
		invited := led != nil && len(invs) > 0
		if led != nil && len(invs) == 0 {
			f.RecordedNotAtVendor++
		}
		if invited && arrival(invs[0]).Sub(led.At) >= time.Millisecond {
			f.RecordedBeforeInvite++
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

		if len(invs) < 2 {
			continue
		}
		f.Duplicates += len(invs) - 1
		f.DuplicateCandidates++
		first := "unknown request"
		if r, ok := byReq[invs[0].Request]; ok {
			first = answerOf(r)
		}
		f.FirstSend[windowOf(windows, invs[0].At)+", answered "+first]++
		after, unknown := 0, 0
		for _, inv := range invs[1:] {
			if led != nil && arrival(inv).After(led.At) {
				after++
			} else {
				unknown++
			}
		}
		if after > 0 {
			f.TwiceAfterSeen += after
			f.TwiceAfterSeenCandidates++
		}
		if unknown > 0 {
			f.ThroughUnknown += unknown
			f.ThroughUnknownCandidates++
		}
	}
	for k, invs := range byKey {
		if !known[k] {
			f.StrayInvites += len(invs)
		}
	}

	successes := 0
	for _, outcomes := range rec.Outcomes {
		for _, o := range outcomes {
			if o == payload.OutcomeInvited || o == payload.OutcomeCVQueued {
				successes++
			}
		}
	}
	f.SuccessesBeyondLedger = max(0, successes-recorded)
	f.LedgerBeyondSuccesses = max(0, recorded-successes)

	for _, d := range rec.ToReplay {
		if !inList[d.ID] && !rec.Staged[d.ID] && !succeeded[strings.ToLower(d.Candidate.Email)] {
			f.Vanished++
		}
	}
	return f
}
