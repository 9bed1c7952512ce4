package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
)

// What an event of a batch's log says happened (Event.What). The words are
// contract: scripts and the dashboard read them.
const (
	EventCreated           = "created"            // the batch was created; its import's counts follow at the seal
	EventPaused            = "paused"             // a person paused it
	EventResumed           = "resumed"            // a person resumed it
	EventCancelled         = "cancelled"          // a person cancelled it
	EventReplayed          = "replayed"           // dead letters of it went into a replay batch
	EventPurged            = "purged"             // dead letters of it were deleted
	EventCallbackDelivered = "callback_delivered" // its callback's receiver answered 2xx
	EventCallbackFailed    = "callback_failed"    // its callback was given up on
	EventAuthStopped       = "auth_stopped"       // a chunk of it met a 401/403: sending stopped
	EventAuthResumed       = "auth_resumed"       // the auth stop it waited on was cleared
)

// EventKinds lists every Event.What, in the order above.
var EventKinds = []string{EventCreated, EventPaused, EventResumed, EventCancelled, EventReplayed, EventPurged,
	EventCallbackDelivered, EventCallbackFailed, EventAuthStopped, EventAuthResumed}

// Event is one entry of a batch's event log: who did what to it, and when.
type Event struct {
	// At is when it happened (the recording process's clock), to the millisecond.
	At time.Time
	// What is one of EventKinds.
	What string
	// By is who did it: a token's name, "cli@<host>" for the CLI,
	// "worker@<host>" for a worker (auth.AtHost).
	By string
	// Detail says what in a few words ("purged 3 dead letters"), at most
	// MaxEventDetail bytes (longer is cut).
	Detail string
}

// MaxEvents bounds a batch's event log: past it, the oldest entry after the
// first (the batch's creation) is dropped. MaxEventDetail bounds an entry's
// detail, in bytes.
const (
	MaxEvents      = 200
	MaxEventDetail = 300
)

// storedEvent is an Event as its log holds it, compact JSON. D must stay the
// last field: withNote (lua.go) adds to the detail by writing before the
// entry's closing `"}`.
type storedEvent struct {
	T int64  `json:"t"` // unix ms
	W string `json:"w"`
	B string `json:"b"`
	D string `json:"d"`
}

// encodeEvent is e as its log holds it; a zero At is now.
func (s *Store) encodeEvent(e Event) string {
	if e.At.IsZero() {
		e.At = s.now()
	}
	b, _ := json.Marshal(storedEvent{T: e.At.UnixMilli(), W: e.What, B: e.By, D: cut(e.Detail, MaxEventDetail)})
	return string(b)
}

func decodeEvent(v string) (Event, error) {
	var se storedEvent
	if err := json.Unmarshal([]byte(v), &se); err != nil {
		return Event{}, err
	}
	return Event{At: time.UnixMilli(se.T).UTC(), What: se.W, By: se.B, Detail: se.D}, nil
}

// cut shortens s to at most n bytes, on a rune boundary, marking the cut with "…".
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n-len("…")]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// RecordEvent appends e to the batch's event log, in one step with the check
// that the batch's record is there: a batch whose record is gone (expired)
// gets nothing written, and no error. The log lives as long as the record.
func (s *Store) RecordEvent(ctx context.Context, batchID string, e Event) error {
	a := eventArgs{batch: s.bkey(batchID, ""), ev: s.bkey(batchID, "ev"), entry: s.encodeEvent(e), max: MaxEvents}
	if err := s.eval(ctx, eventScript, a.keys(), a.argv()...).Err(); err != nil {
		return fmt.Errorf("record the %s event of batch %s: %w", e.What, batchID, err)
	}
	return nil
}

// Events returns the batch's event log, oldest first: at most MaxEvents, the
// batch's creation first. A batch without a log (created before logs were
// kept, or gone) has none. The creation is told from the record (createdEvent)
// unless the log holds it (a record written before).
func (s *Store) Events(ctx context.Context, batchID string) ([]Event, error) {
	var lr *redis.StringSliceCmd
	var rec *redis.SliceCmd
	_, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		lr = pipe.LRange(ctx, s.bkey(batchID, "ev"), 0, -1)
		rec = pipe.HMGet(ctx, s.bkey(batchID, ""), recordFields(createdFields...)...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the events of batch %s: %w", batchID, err)
	}
	fields, err := recordValues(createdFields, rec.Val())
	if err != nil {
		return nil, fmt.Errorf("read the events of batch %s: %w", batchID, err)
	}
	vs := lr.Val()
	out := make([]Event, 0, len(vs)+1)
	if c, ok := createdEvent(fields); ok && (len(vs) == 0 || !strings.Contains(vs[0], `"w":"`+EventCreated+`"`)) {
		out = append(out, c)
	}
	for _, v := range vs {
		e, err := decodeEvent(v)
		if err != nil {
			return nil, fmt.Errorf("event of batch %s: %w", batchID, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// createdDetail is what the created event says of m: where the batch came
// from (the import's source, the address of an HTTP client; the batches a
// replay replays), "" when nothing is known. The first seal adds the import's
// counts (sealScript).
func createdDetail(m Meta) string {
	var parts []string
	switch {
	case len(m.ReplayOf) > 0:
		parts = append(parts, "replay of dead letters of "+BatchList(m.ReplayOf))
	case m.Source != "":
		parts = append(parts, "source "+m.Source)
	}
	if m.From != "" {
		parts = append(parts, "from "+m.From)
	}
	return strings.Join(parts, ", ")
}

// createdFields are the record's fields createdEvent reads, in its order.
var createdFields = []string{"id", "by", "created_at", "source", "replay_of", "from", "sealed", "accepted", "rejected", "owner"}

// createdEvent is the created event of a record read as HMGET createdFields:
// who created it, when, from where, and once sealed the import's counts, as
// the creating script wrote it into the log before (with the seal's note).
// A record without a by field (written before) or none at all has none; an
// empty by is the owner (CreateBatch writes no copy of it).
func createdEvent(v []any) (Event, bool) {
	f := make([]string, len(createdFields))
	for i, x := range v {
		f[i], _ = x.(string)
	}
	if f[0] == "" || v[1] == nil {
		return Event{}, false
	}
	m := Meta{Source: f[3], From: f[5]}
	if f[4] != "" {
		m.ReplayOf = strings.Split(f[4], ",")
	}
	d := cut(createdDetail(m), MaxEventDetail)
	if f[6] == "1" {
		if d != "" {
			d += "; "
		}
		d += fmt.Sprintf("%d accepted, %d rejected", atoi64(f[7]), atoi64(f[8]))
	}
	by := f[1]
	if by == "" {
		by = f[9]
	}
	return Event{At: msTime(f[2]), What: EventCreated, By: by, Detail: d}, true
}

// listedBatches bounds the batch ids BatchList names.
const listedBatches = 5

// BatchList names batches in an event's detail: "batch a", "batches a, b",
// "batches a, b, c, d, e and 3 more".
func BatchList(ids []string) string {
	if len(ids) == 1 {
		return "batch " + ids[0]
	}
	s := "batches " + strings.Join(ids[:min(len(ids), listedBatches)], ", ")
	if len(ids) > listedBatches {
		s += fmt.Sprintf(" and %d more", len(ids)-listedBatches)
	}
	return s
}

// deadLetterCount is "1 dead letter", "3 dead letters".
func deadLetterCount(n int) string {
	if n == 1 {
		return "1 dead letter"
	}
	return strconv.Itoa(n) + " dead letters"
}

// RecordReplayed writes in the log of batch source that n of its dead letters
// went into the replay batch replay, by by.
func (s *Store) RecordReplayed(ctx context.Context, source, replay string, n int, by string) error {
	return s.RecordEvent(ctx, source, Event{What: EventReplayed, By: by,
		Detail: "replayed " + deadLetterCount(n) + " into batch " + replay})
}
