package producer

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/bulkinvite/bulkinvite/internal/task"
)

// SpanEnqueue is the name of an import's span (Config.Tracer): from the first
// record read to the seal, the parent of its chunk tasks' spans in the workers.
const SpanEnqueue = "enqueue"

// tracerName is the instrumentation scope of the producer's spans.
const tracerName = "github.com/bulkinvite/bulkinvite/producer"

// The attributes of the enqueue span besides task.AttrBatchID.
const (
	attrExisting   = attribute.Key("bulkinvite.existing")
	attrAccepted   = attribute.Key("bulkinvite.accepted")
	attrRejected   = attribute.Key("bulkinvite.rejected")
	attrDuplicates = attribute.Key("bulkinvite.duplicates")
	attrSegments   = attribute.Key("bulkinvite.segments")
)

// Import reads every record of src, rejects the rows that cannot succeed, records the
// batch and enqueues its segments. Run again with the same BatchID and input after a
// crash, it completes the batch without enqueuing anything twice. Its span
// (SpanEnqueue) continues the trace of ctx, and its chunk tasks carry it.
func (p *Producer) Import(ctx context.Context, src Source, opts Options) (*Result, error) {
	ctx, span := p.tracer.Start(ctx, SpanEnqueue)
	defer span.End()
	res, err := p.importBatch(ctx, src, opts)
	if span.IsRecording() {
		if res != nil {
			span.SetAttributes(task.AttrBatchID.String(res.BatchID), attrExisting.Bool(res.Existing), attrAccepted.Int64(res.Accepted),
				attrRejected.Int64(res.Rejected), attrDuplicates.Int64(res.Duplicates), attrSegments.Int(res.Segments))
		}
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
	}
	return res, err
}
