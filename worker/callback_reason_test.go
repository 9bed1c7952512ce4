package worker_test

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/bulkinvite/bulkinvite/internal/callback"
	"github.com/bulkinvite/bulkinvite/internal/pipelinetest"
	"github.com/bulkinvite/bulkinvite/internal/store"
	"github.com/bulkinvite/bulkinvite/internal/task"
	"github.com/bulkinvite/bulkinvite/producer"
	"github.com/bulkinvite/bulkinvite/worker"
)

// TestCallbackLastErrorIsACategory: a callback that cannot be delivered shows a
// coarse category as its last_error (here connect_refused), not the address and
// port the delivery tried, and not the URL's path; the worker's log has the
// details, with the URL masked.
func TestCallbackLastErrorIsACategory(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now: connections are refused

	b := pipelinetest.New(t, pipelinetest.Options{})
	sender, err := callback.New(callback.Config{Secret: "callback-k3y", AllowPrivate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	var logged syncBuffer
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&logged), zap.InfoLevel))
	b.StartWorker(pipelinetest.WorkerOptions{Notifier: sender, Log: log, Worker: worker.Config{
		ChunkSize: 5, CallbackPoll: 100 * time.Millisecond, CallbackRetryMin: 100 * time.Millisecond, CallbackRetryMax: 200 * time.Millisecond,
	}})
	opts := producer.Options{BatchID: "cb-down", Job: task.Job{Target: pipelinetest.Target}, CallbackURL: "http://" + addr + "/secret-token"}
	if _, err := b.Producer.Import(context.Background(), producer.NewSliceSource(pipelinetest.Candidates("r", 2)), opts); err != nil {
		t.Fatal(err)
	}
	bt := b.WaitFor("cb-down", wait, "a failed callback attempt", func(bt *store.Batch) bool {
		return bt.Callback != nil && bt.Callback.Attempts >= 1
	})
	st, _ := json.Marshal(bt.Status())
	if cs := bt.Status().Callback; cs.LastError != callback.ReasonConnectRefused || cs.URL != "http://"+addr+"/****" {
		t.Errorf("callback state %+v", cs)
	}
	if strings.Contains(string(st), "secret-token") || strings.Contains(string(st), "dial") || strings.Contains(string(st), "connection refused") {
		t.Errorf("the status shows the path or what the dial met: %s", st)
	}
	if out := logged.String(); !strings.Contains(out, "connection refused") || strings.Contains(out, "secret-token") {
		t.Errorf("the log lacks the details or shows the path:\n%s", out)
	}
}
