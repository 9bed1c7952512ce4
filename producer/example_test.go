package producer_test

import (
	"context"
	"fmt"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/producer"
)

// Enqueue a batch from a Go service and read its status. The workers
// (`bulkinvite worker`, on the same Redis) send it; until one runs, every
// accepted candidate is pending.
func Example() {
	ctx := context.Background()
	// The service's own Redis client, on the Redis the workers use: a single node,
	// Sentinel or a Cluster. An in-memory Redis stands in for it here.
	mr, err := miniredis.Run()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()

	// The workers' key prefix (BULKINVITE_PREFIX; zero: the default).
	p := producer.FromRedis(rdb, producer.Config{Prefix: ""})

	cands := []payload.Candidate{
		{Name: "Alex Doe", Email: "alex@example.com"},
		{Name: "Sam Roe", Email: "sam@example.com", CVLink: "https://cv.example.com/sam.pdf"},
		{Name: "Alex again", Email: "ALEX@example.com"}, // the same person: sent once
		{Name: "Kim", Email: "kim@"},                    // rejected, with its reason
	}
	res, err := p.Import(ctx, producer.NewSliceSource(cands), producer.Options{
		// The same id twice is one batch: a retried call enqueues nothing twice.
		BatchID: "crm-sync-2026-12-01",
		Job: producer.Job{
			Target:            payload.Target{InterviewSetID: "019c5ea9-a792-7f0d-b671-4c3c1602094e"},
			InvitationMessage: "Hi {{candidate_name}}, please record your interview: {{interview_link}}",
		},
	})
	if err != nil { // errors.Is(err, producer.ErrUsage): the caller asked for something wrong
		fmt.Println(err)
		return
	}
	fmt.Printf("batch %s: %d accepted, %d rejected\n", res.BatchID, res.Accepted, res.Rejected)
	for _, r := range res.Rejects {
		fmt.Println("rejected:", r)
	}

	s, err := p.Status(ctx, res.BatchID) // producer.ErrBatchNotFound, producer.ErrBatchExpired
	if err != nil {
		fmt.Println(err)
		return
	}
	// What `bulkinvite status --json` prints: running, as the duplicate's outcome
	// is recorded; done once pending is 0.
	fmt.Printf("state %s: total %d, pending %d, skipped_duplicate %d, invited %d\n",
		s.State, s.Total, s.Pending, s.SkippedDuplicate, s.Invited)
	// Output:
	// batch crm-sync-2026-12-01: 3 accepted, 1 rejected
	// rejected: candidate 4: email: not a valid email address: "kim@"
	// state running: total 4, pending 2, skipped_duplicate 1, invited 0
}
