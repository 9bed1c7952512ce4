package producer

import (
	"fmt"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/internal/window"
)

// MaxScheduleAhead is how far ahead a batch's not-before time may be: further
// is taken for a typo (a year too many) rather than a plan.
const MaxScheduleAhead = 366 * 24 * time.Hour

// ScheduleError is a schedule the import refuses, naming the field at fault as
// the HTTP API names it: FieldNotBefore or FieldSendWindow.
type ScheduleError struct {
	Field string
	Err   error
}

// The schedule's fields, as the HTTP body names them.
const (
	FieldNotBefore  = "not_before"
	FieldSendWindow = "send_window"
)

func (e *ScheduleError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *ScheduleError) Unwrap() error { return e.Err }

// NewSchedule checks a not-before time (zero for none) and a send window ("" for
// none), seen at now, and returns the schedule they make: nil for neither, the
// window in its canonical form. A time past is no error: the batch sends at once.
func NewSchedule(notBefore time.Time, sendWindow string, now time.Time) (*task.Schedule, error) {
	var sc task.Schedule
	if !notBefore.IsZero() {
		if notBefore.After(now.Add(MaxScheduleAhead)) {
			return nil, &ScheduleError{FieldNotBefore, fmt.Errorf("%s is more than %d days ahead", notBefore.UTC().Format(time.RFC3339), int(MaxScheduleAhead.Hours()/24))}
		}
		if notBefore.UnixMilli() <= 0 {
			return nil, &ScheduleError{FieldNotBefore, fmt.Errorf("%s is before 1970", notBefore.UTC().Format(time.RFC3339))}
		}
		sc.NotBefore = notBefore.UnixMilli()
	}
	if sendWindow != "" {
		w, err := window.Parse(sendWindow)
		if err != nil {
			return nil, &ScheduleError{FieldSendWindow, err}
		}
		sc.Window = w.String()
	}
	if sc == (task.Schedule{}) {
		return nil, nil
	}
	return &sc, nil
}

// checkSchedule checks the job's schedule as NewSchedule does, and puts it in
// its canonical form (a copy: the caller's stays as it was).
func checkSchedule(job *task.Job, now time.Time) error {
	if job.Schedule == nil {
		return nil
	}
	sc, err := NewSchedule(job.Schedule.Start(), job.Schedule.Window, now)
	job.Schedule = sc
	return err
}
