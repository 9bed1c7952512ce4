package worker

import (
	"strings"
	"testing"
	"time"

	"github.com/bulkinvite/bulkinvite/internal/task"
)

// TestHoldUntil: when a chunk of each schedule may send, seen at a Monday 07:00
// UTC (08:00 in Berlin).
func TestHoldUntil(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 1, 8, 7, 0, 0, 0, time.UTC)
	at := func(h, m int) time.Time { return time.Date(2024, 1, 8, h, m, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name  string
		sc    task.Schedule
		until time.Time // now: may send
		why   string
	}{
		{"nothing", task.Schedule{}, now, ""},
		{"start passed", task.Schedule{NotBefore: at(6, 0).UnixMilli()}, now, ""},
		{"start ahead", task.Schedule{NotBefore: at(7, 30).UnixMilli()}, at(7, 30), "not before 2024-01-08T07:30:00Z"},
		{"window open", task.Schedule{Window: "Mon 07:00-08:00"}, now, ""},
		{"window closed", task.Schedule{Window: "Mon-Fri 09:00-17:00 Europe/Berlin"}, at(8, 0), "send window Mon-Fri 09:00-17:00 Europe/Berlin"},
		{"start ahead inside the window", task.Schedule{NotBefore: at(7, 30).UnixMilli(), Window: "Mon 07:00-08:00"}, at(7, 30), "not before"},
		{"start ahead outside the window", task.Schedule{NotBefore: at(8, 30).UnixMilli(), Window: "Mon 07:00-08:00"}, at(7, 0).AddDate(0, 0, 7), "opens 2024-01-15T07:00:00Z"},
		{"window unreadable", task.Schedule{Window: "Mon 07:00-08:00 Mars/Olympus"}, now.Add(MaxScheduleWait), "unreadable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			until, why := holdUntil(&tc.sc, now)
			if !until.Equal(tc.until) || !strings.Contains(why, tc.why) {
				t.Errorf("holdUntil = %s, %q; want %s and %q", until, why, tc.until, tc.why)
			}
		})
	}
}
