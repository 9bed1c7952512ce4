// Package task owns the wire format of bulkinvite's own queue: the job a batch's
// candidates share, the segment, chunk and callback task payloads producers and
// workers write and read, with their version and deterministic task ids, the task
// type names and the queues tasks go to: three logical queues (Queues), each
// served on a Redis Cluster as ShardCount asynq queues, its shards (Sharded,
// Shards, ChunkQueue), so that the Cluster spreads them over its masters, and
// elsewhere as the one asynq queue of its name. On a Cluster, workers must be
// upgraded to the shards before producers: an older worker serves only the
// logical names.
//
// Its one I/O is EnqueueChunk, the single way the producer and the worker enqueue a
// chunk task: through an Enqueuer the caller passes (an asynq.Client), treating a
// task id asynq still holds as done. It opens no connection and reads nothing. The
// vendor's request and response bodies are package payload's; reading tasks and every
// other enqueue are producer's and worker's.
package task
