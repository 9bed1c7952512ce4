package task

import (
	"hash/fnv"
	"maps"
	"slices"

	"github.com/redis/go-redis/v9"
)

// ShardCount is how many asynq queues each logical queue is served as on a
// Redis Cluster (Sharded).
//
// asynq keeps all of a queue's keys under the hash tag {<queue name>}, so on a
// Redis Cluster one asynq queue — every task hash, its pending list, and every
// dequeue, forward and done script — lives on one master. The batches' own
// data is spread by batch id; the tasks are spread by sharding each logical
// queue: with 8 shards whose hash slots are evenly spaced (2,048 slots apart),
// each master of an evenly split Cluster of 2, 4 or 8 masters serves the same
// number of a queue's shards, and of 3 masters 3, 3 and 2. More shards would
// spread finer but cost every worker more: asynq tries its queues one script
// each, so an idle worker's look, and a pickup that misses, costs a script
// per shard (the cost is counted in docs/architecture.md).
const ShardCount = 8

// Sharded reports whether the logical queues are served as their shards on
// rdb: only on a Redis Cluster (a *redis.ClusterClient, as redisconn.Open
// returns for one). A single node or Sentinel's master holds every queue
// anyway, so shards would spread nothing and only cost: asynq tries its queues
// one dequeue script each and runs its forwarder per queue, so 24 queues
// instead of 3 cost every drain and every idle worker more Redis commands
// (counted in docs/architecture.md, "Redis keys"). There producers enqueue on
// the bare logical names and workers serve only them. The producer and the
// worker decide it once each, from the Redis client they are given.
func Sharded(rdb redis.UniversalClient) bool {
	_, ok := rdb.(*redis.ClusterClient)
	return ok
}

// shards are the asynq queue names of each logical queue. The first is the
// logical name itself, so that the tasks of an older producer (which knows only
// the logical names) are still served, and an older worker (which serves only
// them) still serves the callbacks and a share of the chunks. The others are
// "<name>.<n>" with n chosen so that shard k's slot (CRC16 of its name, mod
// 16384: asynq's keys are asynq:{<name>}:...) lies within 128 slots of the
// first's plus k×2048: consecutive shards are a Cluster's eighth apart, and a
// batch's chunks (ChunkQueue) go round them. They are queue names in Redis, a
// stable contract: never renumber them; TestShardSlotsAreSpread checks them.
var shards = map[string][]string{
	QueueDefault: {"default", "default.13", "default.3", "default.10", "default.2", "default.11", "default.1", "default.12"},
	QueueBulk:    {"bulk", "bulk.18", "bulk.6", "bulk.13", "bulk.7", "bulk.12", "bulk.4", "bulk.122"},
	QueueReplay:  {"replay", "replay.13", "replay.169", "replay.10", "replay.69", "replay.11", "replay.99", "replay.12"},
}

// Shards returns the asynq queues logical queue q is served as, q itself
// first; a name that is no logical queue (Queues) is its own one shard.
func Shards(q string) []string {
	if s, ok := shards[q]; ok {
		return slices.Clone(s)
	}
	return []string{q}
}

// AllShards returns every shard of every logical queue, in the order of Queues.
func AllShards() []string {
	var out []string
	for _, q := range Queues {
		out = append(out, shards[q]...)
	}
	return out
}

// LogicalQueue returns the logical queue asynq queue q is a shard of, and
// whether it is one; a logical name is its own first shard.
func LogicalQueue(q string) (string, bool) {
	for _, l := range Queues {
		if slices.Contains(shards[l], q) {
			return l, true
		}
	}
	return "", false
}

// ShardWeights expands weights of logical queues (ServeConfig.Queues,
// BULKINVITE_QUEUE_WEIGHTS) into the asynq queues a worker serves: when
// sharded (Sharded), the weights of their shards, each shard with its logical
// queue's weight, so that the shares of the logical queues stay those of the
// weights; otherwise the weights as they are, the bare names. A name that is
// no logical queue keeps its weight.
func ShardWeights(sharded bool, weights map[string]int) map[string]int {
	if !sharded {
		return maps.Clone(weights)
	}
	out := make(map[string]int, len(weights)*ShardCount)
	for q, w := range weights {
		for _, s := range Shards(q) {
			out[s] = w
		}
	}
	return out
}

// ChunkQueue returns the asynq queue chunk (segment, chunk) of batch batchID
// goes to on logical queue q: q itself unless sharded (Sharded); when sharded,
// the shard of q, where each segment of the batch is cut into
// perSegment chunks (SegmentChunks): the batch's chunks go round the shards in
// their order, from one the batch id picks, so that its drain uses every shard
// and every master, and the chunks of a batch stay first in, first out within
// each shard. It is the same every time for the same chunk, so that an enqueue
// run again meets the task id it enqueued before. A queue that is no logical
// queue is returned as is.
func ChunkQueue(sharded bool, q, batchID string, segment, chunk, perSegment int) string {
	s, ok := shards[q]
	if !sharded || !ok {
		return q
	}
	h := fnv.New32a()
	h.Write([]byte(batchID))
	return s[(uint(h.Sum32())+uint(segment)*uint(perSegment)+uint(chunk))%uint(len(s))]
}

// SegmentChunks is how many chunks of at most chunkSize candidates a segment
// of segmentSize candidates is cut into.
func SegmentChunks(segmentSize, chunkSize int) int {
	return max(1, (segmentSize+chunkSize-1)/max(1, chunkSize))
}
