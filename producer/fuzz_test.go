package producer_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/bulkinvite/bulkinvite/payload"
	"github.com/bulkinvite/bulkinvite/producer"
)

// checkStream reads src to its end and checks what every reader promises: Next
// ends (at most one record per input byte, plus one); every record is either a
// normalised candidate that passes validation or carries a RowError at its own row;
// rows only grow; a fatal error is not io.EOF, says something, and is sticky.
func checkStream(t *testing.T, src producer.Source, inputLen int, where string, consecutive bool) {
	t.Helper()
	var last int64
	for n := 0; ; n++ {
		if n > inputLen+1 {
			t.Fatalf("more than %d records from %d bytes", n, inputLen)
		}
		rec, err := src.Next()
		if err != nil {
			if err != io.EOF && err.Error() == "" {
				t.Fatal("fatal error with an empty message")
			}
			if again, _ := src.Next(); again != (producer.Record{}) {
				t.Fatalf("Next after %v returned a record %+v", err, again)
			}
			if _, again := src.Next(); again == nil || (err == io.EOF) != (again == io.EOF) {
				t.Fatalf("Next after %v returned %v", err, again)
			}
			return
		}
		if rec.Row < 1 || rec.Row <= last || (consecutive && rec.Row != last+1) {
			t.Fatalf("record %d: Row %d after %d", n, rec.Row, last)
		}
		last = rec.Row
		if rec.Err == nil {
			if err := payload.ValidateCandidate(-1, rec.Candidate); err != nil {
				t.Fatalf("record %d accepted but invalid: %v (%+v)", n, err, rec.Candidate)
			}
			if rec.Candidate != producer.Normalize(rec.Candidate) {
				t.Fatalf("record %d not normalised: %+v", n, rec.Candidate)
			}
			continue
		}
		if rec.Err.Row != rec.Row || rec.Err.Where != where || rec.Err.Msg == "" {
			t.Fatalf("record %d: RowError %+v for Row %d", n, rec.Err, rec.Row)
		}
		if !bytes.HasPrefix([]byte(rec.Err.Error()), []byte(where+" ")) {
			t.Fatalf("record %d: Error() = %q", n, rec.Err.Error())
		}
	}
}

func FuzzCSVSource(f *testing.F) {
	for _, s := range []string{
		"email,cv_link\nalex@example.com,\n,https://example.com/cv.pdf\n",
		"\ufeffATS Candidate ID,First Name,Last Name,Email Address,CV URL,Department\r\n" + uuidA + ",Alex,Doe,alex@example.com,,Sales\r\n",
		"name,email\n\"Alex\nDoe\",alex@example.com\n\"Bo\r\n\r\nBo\",bo@example.com\ncy,cy@example.com\n",
		"name,email\nAl\"ex,alex@example.com\n\"Al\"ex,x\nBo,\"bo@example.com\n",
		"Email;Name\nalex@example.com;Alex\n",
		"name\temail\tcv\n\talex@example.com\t\n",
		"email,E-Mail,,resume,cv\nx@,y,z,http://h,https://h\n,,,,\n",
		"email,name,first\na@example.com,\"Jos\xe9\",\"Al\x1b[31m\"\nb@example.com,\"A\r\n\tB\",\"\u202eC\"\n",
		"", "\n\n", "email", "name,phone\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		src, err := producer.NewCSVSource(bytes.NewReader(b))
		if err != nil {
			if src != nil || !errors.Is(err, producer.ErrCSVHeader) {
				t.Fatalf("NewCSVSource: %v (source %v)", err, src)
			}
			return
		}
		_ = src.Ignored()
		checkStream(t, src, len(b), producer.WhereLine, false)
	})
}

func FuzzJSONLSource(f *testing.F) {
	for _, s := range []string{
		`{"email":"alex@example.com"}` + "\n" + `{"cv_link":"https://example.com/cv.pdf","name":"Bo"}` + "\n",
		"\ufeff\n" + `{"email":"alex@example.com"}` + "\r\n\r\n" + `{"email": "bo@example.com",` + "\n",
		`[1]` + "\n" + `"x"` + "\nnull\n42\n" + `{"email":7}` + "\n" + `{"name":"N"}`,
		`{"ats_candidate_id":"` + uuidA + `","email":"x@","cv_link":"http://h"} {}`,
		"{\"email\":\"a@example.com\",\"Name\":\"Jos\xe9\",\"x\":\"\xff\"}\n" + `{"email":"b@example.com","name":"A\r\n\tB\u001b"}`,
		"", "\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkStream(t, producer.NewJSONLSource(bytes.NewReader(b)), len(b), producer.WhereLine, false)
	})
}

func FuzzJSONSource(f *testing.F) {
	for _, s := range []string{
		seedRequest,
		`[{"email":"alex@example.com"},"bo@example.com",42,null,[{"email":"x"}],true,{"email":7},{"email":"bo@example.com"}]`,
		`{"candidates":[{"email":"alex@example.com"}],"com_project_id":"` + uuidA + `","send_invite":false,"x":{"y":[1,{}]}}`,
		`{"candidates":[{"email":"alex@example.com"}],"candidates":[]}`,
		`{"email":"alex@example.com"}`,
		`[{"email":"alex@example.com"},{"email":`,
		`[] x`, ``, `"s"`, `{"com_project_id":5}`,
		`{"x":` + strings.Repeat(`[{"a":`, 33) + `1` + strings.Repeat(`}]`, 33) + `,"candidates":[{"email":"alex@example.com"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		src := producer.NewJSONSource(bytes.NewReader(b))
		checkStream(t, src, len(b), producer.WhereCandidate, true)
		_ = src.Meta()
	})
}

// FuzzScanRequest: scanning a body agrees with reading it: the same fatal error or
// none, the same request-level fields and as many candidates as records.
func FuzzScanRequest(f *testing.F) {
	for _, s := range []string{
		seedRequest,
		`{"candidates":[{"email":"alex@example.com"}],"batch_id":"b-1","callback_url":" https://x.example/cb ","com_project_id":"` + uuidA + `"}`,
		`{"batch_id":5,"candidates":[]}`,
		`[{"email":"alex@example.com"},42]`,
		`{"candidates":[{"email":`, ``, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// Extra keys make a value the reader skips count: only check they do not panic.
		_, _ = producer.ScanRequest(bytes.NewReader(b), "batch_id", "callback_url")
		req, err := producer.ScanRequest(bytes.NewReader(b))
		src := producer.NewJSONSource(bytes.NewReader(b))
		var n int64
		var rerr error
		for {
			if _, rerr = src.Next(); rerr != nil {
				break
			}
			n++
		}
		if rerr == io.EOF {
			rerr = nil
		}
		if (err == nil) != (rerr == nil) {
			t.Fatalf("ScanRequest: %v; reading: %v", err, rerr)
		}
		if err != nil {
			return
		}
		m := src.Meta()
		sameSend := (req.SendInvite == nil) == (m.SendInvite == nil) && (m.SendInvite == nil || *m.SendInvite == *req.SendInvite)
		if req.Candidates != n || req.Target != m.Target || req.InvitationMessage != m.InvitationMessage || !sameSend {
			t.Fatalf("ScanRequest %+v; reading: %d candidates, %+v", req, n, src.Meta())
		}
	})
}
