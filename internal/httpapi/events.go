package httpapi

import (
	"net/http"

	"github.com/bulkinvite/bulkinvite/internal/store"
)

// EventList is the answer to GET /v1/batches/{id}/events: the batch's event
// log, oldest first. The log is bounded (store.MaxEvents), so it comes whole,
// without pages.
type EventList struct {
	Events []Event `json:"events"`
}

// Event is one entry of a batch's event log: when (RFC 3339 in UTC, to the
// millisecond), what (one of store.EventKinds), by whom (a token's name,
// "cli@<host>", "worker@<host>") and a short detail.
type Event struct {
	At     string `json:"at"`
	What   string `json:"what"`
	By     string `json:"by"`
	Detail string `json:"detail"`
}

// EventTime is the layout of Event.At.
const EventTime = "2006-01-02T15:04:05.000Z07:00"

// EventOf is a recorded event as the API gives it.
func EventOf(e store.Event) Event {
	return Event{At: e.At.UTC().Format(EventTime), What: e.What, By: e.By, Detail: e.Detail}
}

// listEvents is GET /v1/batches/{id}/events: who did what to the batch, for as
// long as the batch is kept.
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	_, err := pageParams(r.URL.Query(), 0, 0)
	if err == nil {
		_, err = s.visibleBatch(r, id)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	evs, err := s.store.Events(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := EventList{Events: make([]Event, 0, len(evs))}
	for _, e := range evs {
		out.Events = append(out.Events, EventOf(e))
	}
	writeJSON(w, http.StatusOK, out)
}
