package window_test

import (
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zones below, on a machine without tzdata

	"github.com/bulkinvite/bulkinvite/internal/window"
)

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in, want string // want: the canonical form
	}{
		{"time only, UTC by default", "09:00-17:00", "09:00-17:00 UTC"},
		{"days range and zone", "Mon-Fri 09:00-17:00 Europe/Berlin", "Mon-Fri 09:00-17:00 Europe/Berlin"},
		{"days any case", "mon-FRI 09:00-17:00", "Mon-Fri 09:00-17:00 UTC"},
		{"days list", "Mon,Wed,Fri 08:30-12:00 UTC", "Mon,Wed,Fri 08:30-12:00 UTC"},
		{"days list with spaces", "Mon, Wed, Fri 08:30-12:00", "Mon,Wed,Fri 08:30-12:00 UTC"},
		{"weekend", "Sat-Sun 10:00-14:00 America/New_York", "Sat-Sun 10:00-14:00 America/New_York"},
		{"range wrapping the weekend", "Fri-Mon 10:00-14:00", "Mon,Fri-Sun 10:00-14:00 UTC"},
		{"every day listed is every day", "Mon-Sun 10:00-14:00", "10:00-14:00 UTC"},
		{"mixed list and range", "Sat,Mon-Wed 10:00-14:00", "Mon-Wed,Sat 10:00-14:00 UTC"},
		{"past midnight", "22:00-06:00 Asia/Tokyo", "22:00-06:00 Asia/Tokyo"},
		{"to the end of the day", "Mon 18:00-24:00", "Mon 18:00-24:00 UTC"},
		{"whole day", "Sun 00:00-24:00", "Sun 00:00-24:00 UTC"},
		{"extra spaces", "  Tue   07:00-08:00   UTC ", "Tue 07:00-08:00 UTC"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w, err := window.Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if got := w.String(); got != tc.want {
				t.Errorf("Parse(%q).String() = %q, want %q", tc.in, got, tc.want)
			}
			again, err := window.Parse(w.String())
			if err != nil || again != w {
				t.Errorf("the canonical form %q reads back as %v, %v", w.String(), again, err)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in, want string // want: in the error
	}{
		{"empty", "  ", "empty send window"},
		{"no time", "Mon-Fri Europe/Berlin", "no time range"},
		{"bad day", "Mox-Fri 09:00-17:00", `unknown day "Mox"`},
		{"bad day in list", "Mon,Wex 09:00-17:00", `unknown day "Wex"`},
		{"full day name", "Monday 09:00-17:00", `unknown day "Monday"`},
		{"hour 25", "25:00-26:00", `bad time "25:00"`},
		{"minute 60", "09:60-17:00", `bad time "09:60"`},
		{"one digit", "9:00-17:00", `bad time "9:00"`},
		{"24:00 as a start", "24:00-02:00", `bad time "24:00"`},
		{"24:30 as an end", "20:00-24:30", `bad time "24:30"`},
		{"signed", "+9:00-17:00", `bad time "+9:00"`},
		{"no end", "09:00", `bad time range "09:00"`},
		{"empty range", "09:00-09:00", "the start and the end are the same"},
		{"unknown zone", "09:00-17:00 Europe/Berln", `unknown time zone "Europe/Berln"`},
		{"local zone", "09:00-17:00 Local", `unknown time zone "Local"`},
		{"two zones", "09:00-17:00 UTC Europe/Berlin", `unexpected "Europe/Berlin"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := window.Parse(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse(%q) = %v, want an error with %q", tc.in, err, tc.want)
			}
		})
	}
}

func mustParse(tb testing.TB, s string) window.Window {
	tb.Helper()
	w, err := window.Parse(s)
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestOpenAndNext checks Open and Next at instants around a window's edges,
// across midnight, over the weekend and across daylight-saving changes.
func TestOpenAndNext(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, window string
		at           string // RFC 3339
		open         bool
		next         string // RFC 3339, when closed
	}{
		// 2024-01-08 is a Monday; Berlin is UTC+1 in winter, UTC+2 in summer.
		{"before opening", "Mon-Fri 09:00-17:00 Europe/Berlin", "2024-01-08T07:59:59Z", false, "2024-01-08T08:00:00Z"},
		{"at opening", "Mon-Fri 09:00-17:00 Europe/Berlin", "2024-01-08T08:00:00Z", true, ""},
		{"last second", "Mon-Fri 09:00-17:00 Europe/Berlin", "2024-01-08T15:59:59Z", true, ""},
		{"at closing", "Mon-Fri 09:00-17:00 Europe/Berlin", "2024-01-08T16:00:00Z", false, "2024-01-09T08:00:00Z"},
		{"friday evening waits for monday", "Mon-Fri 09:00-17:00 Europe/Berlin", "2024-01-12T18:00:00Z", false, "2024-01-15T08:00:00Z"},
		{"summer time", "Mon-Fri 09:00-17:00 Europe/Berlin", "2024-07-01T06:00:00Z", false, "2024-07-01T07:00:00Z"},
		{"past midnight, evening", "Mon 22:00-06:00", "2024-01-08T23:00:00Z", true, ""},
		{"past midnight, next morning", "Mon 22:00-06:00", "2024-01-09T05:59:00Z", true, ""},
		{"past midnight, over", "Mon 22:00-06:00", "2024-01-09T06:00:00Z", false, "2024-01-15T22:00:00Z"},
		{"past midnight, not the day before", "Mon 22:00-06:00", "2024-01-08T05:00:00Z", false, "2024-01-08T22:00:00Z"},
		{"to 24:00", "Mon 18:00-24:00", "2024-01-08T23:59:59Z", true, ""},
		{"to 24:00, over", "Mon 18:00-24:00", "2024-01-09T00:00:00Z", false, "2024-01-15T18:00:00Z"},
		{"wrapping days", "Fri-Mon 10:00-11:00", "2024-01-09T10:30:00Z", false, "2024-01-12T10:00:00Z"},
		{"sunday in a wrapping range", "Fri-Mon 10:00-11:00", "2024-01-14T10:30:00Z", true, ""},
		// Berlin springs forward on 2024-03-31 at 02:00 CET (01:00Z) to 03:00 CEST:
		// a 02:30 start does not exist that day, and the window opens at the jump.
		{"spring forward: start in the gap", "02:30-04:00 Europe/Berlin", "2024-03-31T00:00:00Z", false, "2024-03-31T01:00:00Z"},
		{"spring forward: open after the gap", "02:30-04:00 Europe/Berlin", "2024-03-31T01:00:00Z", true, ""},
		{"spring forward: a normal window is an hour earlier in UTC", "09:00-17:00 Europe/Berlin", "2024-03-31T00:00:00Z", false, "2024-03-31T07:00:00Z"},
		{"spring forward: the day before", "09:00-17:00 Europe/Berlin", "2024-03-30T00:00:00Z", false, "2024-03-30T08:00:00Z"},
		// Berlin falls back on 2024-10-27 at 03:00 CEST (01:00Z) to 02:00 CET: 02:30
		// comes twice, at 00:30Z and 01:30Z.
		{"fall back: first 02:30", "02:30-02:45 Europe/Berlin", "2024-10-27T00:00:00Z", false, "2024-10-27T00:30:00Z"},
		{"fall back: open the first time", "02:30-02:45 Europe/Berlin", "2024-10-27T00:40:00Z", true, ""},
		{"fall back: between the two", "02:30-02:45 Europe/Berlin", "2024-10-27T00:50:00Z", false, "2024-10-27T01:30:00Z"},
		{"fall back: open the second time", "02:30-02:45 Europe/Berlin", "2024-10-27T01:40:00Z", true, ""},
		{"fall back: a normal window is an hour later in UTC", "09:00-17:00 Europe/Berlin", "2024-10-27T00:00:00Z", false, "2024-10-27T08:00:00Z"},
		// New York springs forward on 2024-03-10 at 02:00 EST (07:00Z) and falls back
		// on 2024-11-03 at 02:00 EDT (06:00Z): zones west of UTC.
		{"new york spring forward", "02:30-04:00 America/New_York", "2024-03-10T06:00:00Z", false, "2024-03-10T07:00:00Z"},
		{"new york fall back: between the two", "01:30-01:40 America/New_York", "2024-11-03T05:45:00Z", false, "2024-11-03T06:30:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := mustParse(t, tc.window)
			at := utc(tc.at)
			if got := w.Open(at); got != tc.open {
				t.Errorf("%s: Open(%s) = %v, want %v", tc.window, tc.at, got, tc.open)
			}
			want := at
			if !tc.open {
				want = utc(tc.next)
			}
			next := w.Next(at)
			if !next.Equal(want) {
				t.Errorf("%s: Next(%s) = %s, want %s", tc.window, tc.at, next.UTC().Format(time.RFC3339), want.Format(time.RFC3339))
			}
			if !w.Open(next) {
				t.Errorf("%s: not open at its Next(%s) = %s", tc.window, tc.at, next.UTC().Format(time.RFC3339))
			}
		})
	}
}

// TestNextIsTheFirstOpening walks the days around Berlin's clock
// changes for several windows and checks that Next is open and that the
// window is closed at every minute between t and Next(t).
func TestNextIsTheFirstOpening(t *testing.T) {
	t.Parallel()
	for _, spec := range []string{"02:30-03:30 Europe/Berlin", "Sun 01:00-02:30 Europe/Berlin", "Sat-Sun 23:00-02:15 Europe/Berlin", "Mon,Thu 09:00-17:00 Europe/Berlin"} {
		w := mustParse(t, spec)
		for _, day := range []string{"2024-03-29T00:00:00Z", "2024-10-25T00:00:00Z"} {
			from := utc(day)
			for m := 0; m < 3*24*60; m += 53 {
				at := from.Add(time.Duration(m) * time.Minute)
				next := w.Next(at)
				if next.Before(at) || !w.Open(next) {
					t.Fatalf("%s: Next(%s) = %s: before it or closed", spec, at.Format(time.RFC3339), next.Format(time.RFC3339))
				}
				for c := at; c.Before(next); c = c.Add(time.Minute) {
					if w.Open(c) {
						t.Fatalf("%s: Next(%s) = %s, but it is open at %s", spec, at.Format(time.RFC3339), next.Format(time.RFC3339), c.Format(time.RFC3339))
					}
				}
			}
		}
	}
}

func TestZeroWindowIsAlwaysOpen(t *testing.T) {
	t.Parallel()
	var w window.Window
	now := time.Now()
	if !w.IsZero() || !w.Open(now) || !w.Next(now).Equal(now) || w.String() != "" {
		t.Errorf("the zero window: IsZero %v, Open %v, Next %v, String %q", w.IsZero(), w.Open(now), w.Next(now), w.String())
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"Mon-Fri 09:00-17:00 Europe/Berlin", "22:00-06:00", "Fri-Mon 10:00-24:00 UTC", "Mon,Wed 00:00-00:01 Asia/Kolkata", "x", "9:00-17:00 Local"} {
		f.Add(s)
	}
	at := utc("2024-10-27T00:17:00Z")
	f.Fuzz(func(t *testing.T, s string) {
		w, err := window.Parse(s)
		if err != nil {
			return
		}
		again, err := window.Parse(w.String())
		if err != nil || again != w {
			t.Fatalf("Parse(%q).String() = %q reads back as %v, %v", s, w.String(), again, err)
		}
		if next := w.Next(at); next.Before(at) || !w.Open(next) {
			t.Fatalf("%q: Next = %s, before or closed", s, next)
		}
	})
}
