package sqssink

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenwire/tokenwire/internal/outbox"
	"github.com/tokenwire/tokenwire/internal/outbox/outboxtest"
)

// sqsEndpoint serves SendMessageBatch in the AWS JSON 1.0 protocol that
// aws-sdk-go-v2's SQS client speaks. goaws v0.4.5 routes only the older
// query protocol (a form field "Action"), so the test serves the JSON
// protocol itself. It fails the first requests with 500, rejects bodies
// containing "poison" as a sender fault, and records the rest.
type sqsEndpoint struct {
	mu       sync.Mutex
	failures int
	batches  []int
	got      []entry
	problems []string
}

type entry struct {
	ID                     string `json:"Id"`
	MessageBody            string `json:"MessageBody"`
	MessageGroupID         string `json:"MessageGroupId"`
	MessageDeduplicationID string `json:"MessageDeduplicationId"`
}

func (s *sqsEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if target := r.Header.Get("X-Amz-Target"); target != "AmazonSQS.SendMessageBatch" {
		s.problems = append(s.problems, "X-Amz-Target "+target)
	}
	if auth := r.Header.Get("Authorization"); !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDTOKENWIRETEST/") || !strings.Contains(auth, "/eu-west-1/sqs/") {
		s.problems = append(s.problems, "Authorization "+auth)
	}
	if s.failures > 0 {
		s.failures--
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `{"__type":"com.amazonaws.sqs#InternalError","message":"try again"}`)
		return
	}
	var in struct {
		QueueURL string  `json:"QueueUrl"`
		Entries  []entry `json:"Entries"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		s.problems = append(s.problems, err.Error())
	}
	type failed struct {
		ID          string `json:"Id"`
		SenderFault bool
		Code        string
		Message     string
	}
	var out struct {
		Successful []map[string]string `json:"Successful"`
		Failed     []failed            `json:"Failed"`
	}
	out.Successful = []map[string]string{}
	out.Failed = []failed{}
	s.batches = append(s.batches, len(in.Entries))
	for _, e := range in.Entries {
		if strings.Contains(e.MessageBody, "poison") {
			out.Failed = append(out.Failed, failed{ID: e.ID, SenderFault: true, Code: "InvalidMessageContents", Message: "bad body"})
			continue
		}
		sum := md5.Sum([]byte(e.MessageBody))
		out.Successful = append(out.Successful, map[string]string{"Id": e.ID, "MessageId": "m-" + e.ID, "MD5OfMessageBody": hex.EncodeToString(sum[:])})
		s.got = append(s.got, e)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_ = json.NewEncoder(w).Encode(out)
}

func TestSQSFIFOBatches(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTOKENWIRETEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	ep := &sqsEndpoint{failures: 2}
	srv := httptest.NewServer(ep)
	defer srv.Close()
	d, err := New(context.Background(), Options{QueueURL: srv.URL + "/123456789012/events.fifo", Region: "eu-west-1", Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	q := outboxtest.Queue(t, "sqs")
	for i := range 25 {
		body := fmt.Sprintf(`{"id":"e%02d","subject":"user%d"}`, i, i%3)
		if i == 7 {
			body = `{"id":"e07","subject":"user1","note":"poison"}`
		}
		outboxtest.Enqueue(t, q, body)
	}
	policy := outboxtest.FastRetry
	policy.Batch = 25
	dl := outbox.Deliver(q, d, policy, outboxtest.Quiet)
	defer dl.Stop()
	outboxtest.WaitEmpty(t, q, 10*time.Second)

	ep.mu.Lock()
	defer ep.mu.Unlock()
	if len(ep.problems) > 0 {
		t.Errorf("endpoint saw problems: %q", ep.problems)
	}
	if len(ep.got) != 24 {
		t.Fatalf("endpoint accepted %d messages, want 24", len(ep.got))
	}
	for _, n := range ep.batches {
		if n > maxBatchEntries {
			t.Errorf("a batch held %d entries, over the SQS limit of 10", n)
		}
	}
	for _, e := range ep.got {
		var p struct{ ID, Subject string }
		_ = json.Unmarshal([]byte(e.MessageBody), &p)
		if e.MessageGroupID != p.Subject || e.MessageDeduplicationID != p.ID {
			t.Errorf("message %s: group %q, dedup %q; want the subject and the event id", p.ID, e.MessageGroupID, e.MessageDeduplicationID)
		}
	}
	dead, _ := q.DeadLetters()
	if len(dead) != 1 || !strings.Contains(string(dead[0].Payload), "poison") || !strings.Contains(dead[0].Reason, "InvalidMessageContents") {
		t.Errorf("dead letters = %+v, want the message SQS rejected as a sender fault", dead)
	}
}
