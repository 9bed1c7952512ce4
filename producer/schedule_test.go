package producer_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/bulkinvite/bulkinvite/internal/redistest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/producer"
)

// TestNewSchedule: a schedule's errors name the field at fault; a window is
// kept in its canonical form; neither field makes no schedule.
func TestNewSchedule(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name       string
		notBefore  time.Time
		window     string
		want       *task.Schedule
		field, msg string
	}{
		{name: "none"},
		{name: "start", notBefore: now.Add(time.Hour), want: &task.Schedule{NotBefore: now.Add(time.Hour).UnixMilli()}},
		{name: "start past", notBefore: now.Add(-time.Hour), want: &task.Schedule{NotBefore: now.Add(-time.Hour).UnixMilli()}},
		{name: "window canonical", window: "mon-fri 09:00-17:00 Europe/Berlin", want: &task.Schedule{Window: "Mon-Fri 09:00-17:00 Europe/Berlin"}},
		{name: "start too far", notBefore: now.AddDate(2, 0, 0), field: producer.FieldNotBefore, msg: "more than 366 days ahead"},
		{name: "bad zone", window: "09:00-17:00 Europe/Berln", field: producer.FieldSendWindow, msg: `unknown time zone "Europe/Berln"`},
		{name: "bad day", window: "Mo-Fr 09:00-17:00", field: producer.FieldSendWindow, msg: `unknown day "Mo"`},
		{name: "bad time", window: "09:00-25:00", field: producer.FieldSendWindow, msg: `bad time "25:00"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sc, err := producer.NewSchedule(tc.notBefore, tc.window, now)
			var se *producer.ScheduleError
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("NewSchedule: %v", err)
			case tc.field == "" && (sc == nil) != (tc.want == nil), tc.want != nil && *sc != *tc.want:
				t.Errorf("NewSchedule = %+v, want %+v", sc, tc.want)
			case tc.field != "" && (!errors.As(err, &se) || se.Field != tc.field || !strings.Contains(err.Error(), tc.msg)):
				t.Errorf("NewSchedule: %v, want an error of %s with %q", err, tc.field, tc.msg)
			}
		})
	}
}

// TestImportSchedule: a job's bad window is a usage error naming send_window,
// before anything is written; a good schedule is recorded canonical, and a
// re-run with another not-before time completes the batch keeping the first.
func TestImportSchedule(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t, redistest.Options{}).Client()
	st := store.New(rdb, store.Config{})
	p := producer.New(st, asynq.NewClientFromRedisClient(rdb), producer.Config{SegmentSize: 10})
	ctx := context.Background()
	target := payload.Target{InterviewSetID: uuidA}
	cands := []payload.Candidate{{Email: "a@example.com"}, {Email: "b@example.com"}}
	job := func(sc task.Schedule) task.Job { return task.Job{Target: target, Schedule: &sc} }

	_, err := p.Import(ctx, producer.NewSliceSource(cands), producer.Options{BatchID: "bad", Job: job(task.Schedule{Window: "Mon 9:00-17:00"})})
	if !errors.Is(err, producer.ErrUsage) || !strings.Contains(err.Error(), "send_window: bad time") {
		t.Errorf("bad window: %v, want a usage error naming send_window", err)
	}
	if _, err := st.Batch(ctx, "bad"); !errors.Is(err, store.ErrBatchNotFound) {
		t.Errorf("a batch was written for a bad window: %v", err)
	}

	first := time.Now().Add(time.Hour).UnixMilli()
	if _, err := p.Import(ctx, producer.NewSliceSource(cands), producer.Options{BatchID: "s", Job: job(task.Schedule{NotBefore: first, Window: "sat-sun 10:00-12:00"})}); err != nil {
		t.Fatal(err)
	}
	res, err := p.Import(ctx, producer.NewSliceSource(cands), producer.Options{BatchID: "s", Job: job(task.Schedule{NotBefore: first + 1000})})
	if err != nil || !res.Existing {
		t.Fatalf("re-run with another not-before time: %+v, %v", res, err)
	}
	b, err := st.Batch(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if sc := b.Job.Schedule; sc == nil || sc.NotBefore != first || sc.Window != "Sat-Sun 10:00-12:00 UTC" {
		t.Errorf("recorded schedule %+v, want the first run's, canonical", sc)
	}
	if b.State() != store.StateScheduled {
		t.Errorf("state %s, want scheduled", b.State())
	}
}
