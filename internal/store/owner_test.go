package store

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/bulkinvite/bulkinvite/internal/task"
)

// TestOwners: a batch keeps the owner it was created with (a later create under
// its id changes nothing); the owner's pages of batches and of dead letters list
// its batches only, across short pages, and a batch without an owner is no
// one's.
func TestOwners(t *testing.T) {
	t.Parallel()
	st := setup(t)
	ctx := context.Background()
	var wantA []string
	for i := range 450 { // more than ownedPageChunk*2: pages come back short
		id, owner := fmt.Sprintf("b%03d", i), "bob"
		if i%100 == 7 {
			id, owner = fmt.Sprintf("a%03d", i), "alice"
			wantA = append([]string{id}, wantA...) // newest first
		}
		if _, _, err := st.CreateBatch(ctx, Meta{ID: id, Job: task.Job{Target: target}, SegmentSize: 10, Owner: owner}); err != nil {
			t.Fatal(err)
		}
	}
	b, created, err := st.CreateBatch(ctx, Meta{ID: wantA[0], Job: task.Job{Target: target}, SegmentSize: 10, Owner: "bob"})
	if err != nil || created || b.Owner != "alice" {
		t.Fatalf("re-create under alice's id: owner %q, created %v, %v", b.Owner, created, err)
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		ids, next, err := st.OwnedBatchPage(ctx, "alice", cursor, 2)
		if err != nil || pages > 50 {
			t.Fatal(pages, err)
		}
		got = append(got, ids...)
		if cursor = next; cursor == "" {
			break
		}
	}
	if !slices.Equal(got, wantA) {
		t.Errorf("alice's batches: %v, want %v", got, wantA)
	}
	if ids, _, _ := st.OwnedBatchPage(ctx, "", "", 10); len(ids) != 0 {
		t.Errorf("owner \"\" lists %v", ids)
	}

	deadLetters(t, st, "a007", 3)
	deadLetters(t, st, "b000", 4)
	deadLetters(t, st, "legacy", 5) // created without an owner
	for owner, want := range map[string]int{"alice": 3, "bob": 4, "": 12, "nobody": 0} {
		n := 0
		if err := st.DeadLetters(ctx, Filter{Owner: owner}, func(*DeadLetter) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		page, _, err := st.DeadLetterPage(ctx, Filter{Owner: owner}, "", 100)
		if err != nil || n != want || len(page) != want {
			t.Errorf("owner %q: %d dead letters, page of %d (%v), want %d", owner, n, len(page), err, want)
		}
	}
	if page, _, _ := st.DeadLetterPage(ctx, Filter{Owner: "bob", BatchID: "a007"}, "", 100); len(page) != 0 {
		t.Errorf("bob lists alice's batch's dead letters: %d", len(page))
	}
}
