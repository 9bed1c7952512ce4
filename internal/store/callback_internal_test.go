package store

import "testing"

func TestMaskURL(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"https://hooks.example.com/secret-token":        "https://hooks.example.com/****",
		"https://hooks.example.com/done?token=s3cret":   "https://hooks.example.com/****",
		"https://hooks.example.com:8443/?sig=x":         "https://hooks.example.com:8443/****",
		"https://hooks.example.com/":                    "https://hooks.example.com/",
		"http://hooks.example.com":                      "http://hooks.example.com/",
		"https://hooks.example.com/a%zz/secret":         "(unparsable URL)",
		"not a url with a secret":                       "(unparsable URL)",
		"https://h.example/T0KEN/x?y=1&z=2#left-anyway": "https://h.example/****",
	} {
		if got := maskURL(raw); got != want {
			t.Errorf("maskURL(%q) = %q, want %q", raw, got, want)
		}
	}
}

// TestRecordedCallbackErrorIsACategory: what status shows as last_error is a
// category, whatever an attempt's error says; text an older record holds shows
// as "error".
func TestRecordedCallbackErrorIsACategory(t *testing.T) {
	t.Parallel()
	for recorded, want := range map[string]string{
		"":                "",
		"connect_refused": "connect_refused",
		"http_status_5xx": "http_status_5xx",
		"POST the callback: dial tcp 203.0.113.9:8443: connect: connection refused": "error",
	} {
		if got := shownReason(recorded); got != want {
			t.Errorf("shownReason(%q) = %q, want %q", recorded, got, want)
		}
	}
	if got := (CallbackAttempt{Reason: ""}).reason(); got != "error" {
		t.Errorf("no reason recorded as %q", got)
	}
	if got := (CallbackAttempt{Reason: "dial tcp 10.0.0.1:80"}).reason(); got != "error" {
		t.Errorf("a text reason recorded as %q", got)
	}
}
