package sandbox_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/payload"
)

func Example() {
	sb, err := sandbox.Start(sandbox.Config{})
	if err != nil {
		panic(err)
	}
	defer sb.Close()

	body := `{"com_interview_set_id":"` + sandbox.DemoInterviewSetID + `","candidates":[` +
		`{"email":"alex@example.com"},{"email":"blake` + sandbox.TagInvitationError + `@example.com"}]}`
	req, _ := http.NewRequest(http.MethodPost, sb.URL+payload.InvitePath, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(sandbox.HeaderAPIKey, sandbox.DefaultKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()

	out, _ := payload.DecodeInviteResponse(b)
	fmt.Println(resp.StatusCode)
	for _, r := range out.Results {
		if r.HasError() {
			fmt.Println(r.EmailAddress, r.ErrorReason())
			continue
		}
		fmt.Println(r.EmailAddress, r.Invitation.StatusText, r.Submission.StatusText)
	}
	st := sb.Stats()
	fmt.Println("invites:", st.Invites, "errors:", st.CandidateErrors)
	// Output:
	// 200
	// alex@example.com pending need_interview
	// blake+invitation_error@example.com invitation_error
	// invites: 1 errors: 1
}
