// Package window owns the grammar of a batch's send window, the weekly hours in
// which its candidates may be sent (`Mon-Fri 09:00-17:00 Europe/Berlin`): Parse
// reads one, Open says whether it is open at an instant and Next when it opens
// next, by the wall clock of its time zone, across daylight-saving changes.
//
// It holds no batch and reads no clock: the worker's gate (worker/schedule.go)
// asks it about the time it reads, and the store about the time a status is read.
// Time zones come from the system's tzdata or, in the bulkinvite binary, from the
// copy time/tzdata embeds.
package window

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Window is a parsed send window. The zero Window is always open.
type Window struct {
	days       [7]bool // by time.Weekday; all false: every day
	start, end int     // seconds of the day; end may be 24:00, or before start (past midnight)
	loc        *time.Location
}

// ErrEmpty is Parse's error for a window of nothing but spaces.
var ErrEmpty = errors.New("empty send window: give HH:MM-HH:MM, with days and a time zone if wanted")

var allDays = [7]bool{true, true, true, true, true, true, true}

var dayNames = [7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

// Parse reads a send window: optional days, a time range, an optional IANA time
// zone (default UTC), separated by spaces.
//
//	days   a day (Mon ... Sun, any case), a range of days (Mon-Fri; Fri-Mon wraps
//	       over the weekend), or a comma-separated list of either (Mon,Wed,Fri);
//	       none: every day
//	time   HH:MM-HH:MM on the 24-hour clock; the end may be 24:00, and an end
//	       before the start runs past midnight (22:00-06:00), into the day after
//	       each listed day
//	zone   an IANA zone name (Europe/Berlin, America/New_York, UTC)
//
// A window is open from its start (included) to its end (excluded) by the wall
// clock of its zone: `Mon-Fri 09:00-17:00 Europe/Berlin` is open 09:00 to 17:00
// Berlin time, summer and winter.
func Parse(s string) (Window, error) {
	fields := strings.Fields(s)
	at := -1
	for i, f := range fields {
		if strings.Contains(f, ":") {
			at = i
			break
		}
	}
	if len(fields) == 0 {
		return Window{}, ErrEmpty
	}
	if at < 0 {
		return Window{}, fmt.Errorf("no time range in %q: give HH:MM-HH:MM, as in Mon-Fri 09:00-17:00 Europe/Berlin", s)
	}
	var w Window
	var err error
	if at > 0 {
		if w.days, err = parseDays(strings.Join(fields[:at], ",")); err != nil {
			return Window{}, err
		}
		if w.days == allDays {
			w.days = [7]bool{}
		}
	}
	if w.start, w.end, err = parseRange(fields[at]); err != nil {
		return Window{}, err
	}
	switch rest := fields[at+1:]; len(rest) {
	case 0:
		w.loc = time.UTC
	case 1:
		if w.loc, err = zone(rest[0]); err != nil {
			return Window{}, err
		}
	default:
		return Window{}, fmt.Errorf("unexpected %q after the time zone %q: give days, HH:MM-HH:MM and one zone", strings.Join(rest[1:], " "), rest[0])
	}
	return w, nil
}

// parseDays reads a comma-separated list of days and day ranges.
func parseDays(s string) ([7]bool, error) {
	var days [7]bool
	for item := range strings.SplitSeq(s, ",") {
		if item == "" {
			continue
		}
		from, to, isRange := strings.Cut(item, "-")
		a, err := day(from)
		if err != nil {
			return days, err
		}
		b := a
		if isRange {
			if b, err = day(to); err != nil {
				return days, err
			}
		}
		for d := a; ; d = (d + 1) % 7 {
			days[d] = true
			if d == b {
				break
			}
		}
	}
	return days, nil
}

func day(s string) (time.Weekday, error) {
	for i, n := range dayNames {
		if strings.EqualFold(s, n) {
			return time.Weekday(i), nil
		}
	}
	return 0, fmt.Errorf("unknown day %q: use Mon, Tue, Wed, Thu, Fri, Sat or Sun, a range such as Mon-Fri, or a list such as Mon,Wed,Fri", s)
}

// parseRange reads HH:MM-HH:MM into seconds of the day.
func parseRange(s string) (start, end int, err error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("bad time range %q: give HH:MM-HH:MM", s)
	}
	if start, err = clock(a, false); err != nil {
		return 0, 0, err
	}
	if end, err = clock(b, true); err != nil {
		return 0, 0, err
	}
	if start == end {
		return 0, 0, fmt.Errorf("bad time range %q: the start and the end are the same", s)
	}
	return start, end, nil
}

// clock reads HH:MM (24:00 only as an end) into seconds of the day.
func clock(s string, isEnd bool) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	if ok && len(h) == 2 && len(m) == 2 {
		hh, herr := strconv.Atoi(h)
		mm, merr := strconv.Atoi(m)
		switch {
		case herr != nil || merr != nil || h[0] == '+' || m[0] == '+' || h[0] == '-' || m[0] == '-':
		case hh == 24 && mm == 0 && isEnd:
			return 24 * 3600, nil
		case hh < 24 && mm < 60:
			return hh*3600 + mm*60, nil
		}
	}
	if isEnd {
		return 0, fmt.Errorf("bad time %q: give HH:MM from 00:00 to 24:00", s)
	}
	return 0, fmt.Errorf("bad time %q: give HH:MM from 00:00 to 23:59", s)
}

// zones caches the time zones loaded: time.LoadLocation reads tzdata each time.
var zones sync.Map // name -> *time.Location

// zone loads an IANA time zone. "Local" is refused: it would mean another zone
// on each machine.
func zone(name string) (*time.Location, error) {
	if l, ok := zones.Load(name); ok {
		return l.(*time.Location), nil
	}
	if strings.EqualFold(name, "local") {
		return nil, fmt.Errorf("unknown time zone %q: name an IANA zone such as Europe/Berlin or UTC", name)
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q: name an IANA zone such as Europe/Berlin or UTC", name)
	}
	zones.Store(name, l)
	return l, nil
}

// Open reports whether the window is open at t.
func (w Window) Open(t time.Time) bool {
	if w.loc == nil {
		return true
	}
	lt := t.In(w.loc)
	h, m, s := lt.Clock()
	sec := h*3600 + m*60 + s
	today := w.on(lt.Weekday())
	if w.start < w.end {
		return today && sec >= w.start && sec < w.end
	}
	yesterday := w.on((lt.Weekday() + 6) % 7)
	return today && sec >= w.start || yesterday && sec < w.end
}

// on reports whether the window opens on day d.
func (w Window) on(d time.Weekday) bool {
	return w.days == [7]bool{} || w.days[d]
}

// Next returns the first instant at or after t at which the window is open: t
// itself when it is open then.
func (w Window) Next(t time.Time) time.Time {
	if w.Open(t) {
		return t
	}
	next := w.nextStart(t)
	// The clocks going back may also reopen the window in the middle: at a change
	// of the zone's offset before that start.
	for _, change := t.In(w.loc).ZoneBounds(); !change.IsZero() && change.Before(next); _, change = change.ZoneBounds() {
		if w.Open(change) {
			return change
		}
	}
	return next
}

// nextStart returns the first instant at or after t at which the window opens
// by its start time (its openings on each day).
func (w Window) nextStart(t time.Time) time.Time {
	y, mo, d := t.In(w.loc).Date()
	for i := 0; i <= 8; i++ {
		date := time.Date(y, mo, d+i, 12, 0, 0, 0, w.loc)
		if !w.on(date.Weekday()) {
			continue
		}
		for _, at := range w.openings(date) {
			if !at.Before(t) {
				return at
			}
		}
	}
	// Unreachable: a window opens at least once a week.
	return t
}

// openings returns, in order, the instants at which the window opens on date's
// day: its start by the wall clock; twice when the clocks go back over it; and
// when the clocks go forward over it, the instant they jump past it.
func (w Window) openings(date time.Time) []time.Time {
	y, mo, d := date.Date()
	at := time.Date(y, mo, d, w.start/3600, w.start%3600/60, 0, 0, w.loc)
	start, end := at.ZoneBounds()
	if h, m, _ := at.Clock(); h*3600+m*60 != w.start {
		// The start does not exist that day: time.Date gave a wall time off by the
		// gap, after it or before it. The window opens at the jump.
		ay, amo, ad := at.Date()
		got := time.Date(ay, amo, ad, h, m, 0, 0, time.UTC)
		want := time.Date(y, mo, d, w.start/3600, w.start%3600/60, 0, 0, time.UTC)
		if got.After(want) {
			return []time.Time{start}
		}
		return []time.Time{end}
	}
	out := []time.Time{at}
	_, off := at.Zone()
	if !start.IsZero() {
		// The clocks went back into at's zone: the same wall time also came before.
		if _, before := start.Add(-time.Second).Zone(); before > off {
			if earlier := at.Add(-time.Duration(before-off) * time.Second); earlier.Before(start) && sameClock(earlier, at) {
				out = []time.Time{earlier, at}
			}
		}
	}
	if !end.IsZero() {
		// The clocks go back out of at's zone: the same wall time comes again.
		if _, after := end.Zone(); after < off {
			if later := at.Add(time.Duration(off-after) * time.Second); !later.Before(end) && sameClock(later, at) {
				out = append(out, later)
			}
		}
	}
	return out
}

func sameClock(a, b time.Time) bool {
	ah, am, as := a.Clock()
	bh, bm, bs := b.Clock()
	return ah == bh && am == bm && as == bs
}

// String is the window in canonical form, which Parse reads back: days in week
// order, the time range, the zone (`Mon-Fri 09:00-17:00 Europe/Berlin`).
func (w Window) String() string {
	if w.loc == nil {
		return ""
	}
	var b strings.Builder
	if days := w.dayList(); days != "" {
		b.WriteString(days)
		b.WriteByte(' ')
	}
	fmt.Fprintf(&b, "%02d:%02d-%02d:%02d %s", w.start/3600, w.start%3600/60, w.end/3600, w.end%3600/60, w.loc)
	return b.String()
}

// dayList writes the days as ranges of consecutive days, Monday first; "" for
// every day.
func (w Window) dayList() string {
	if w.days == [7]bool{} {
		return ""
	}
	var parts []string
	for i := 0; i < 7; {
		d := (i + 1) % 7 // Monday first
		if !w.days[d] {
			i++
			continue
		}
		j := i
		for j+1 < 7 && w.days[(j+2)%7] {
			j++
		}
		part := dayNames[d]
		if j > i {
			part += "-" + dayNames[(j+1)%7]
		}
		parts = append(parts, part)
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// IsZero reports whether w is the zero Window, always open.
func (w Window) IsZero() bool { return w.loc == nil }
