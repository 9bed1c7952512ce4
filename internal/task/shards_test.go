package task

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/redis/go-redis/v9"
)

// clusterSlots is Redis Cluster's count of hash slots.
const clusterSlots = 16384

// slot is the Redis Cluster hash slot of asynq queue q's keys: CRC16
// (XMODEM) of the hash tag asynq puts them under, {q}, mod 16384.
func slot(q string) int {
	var crc uint16
	for i := 0; i < len(q); i++ {
		crc ^= uint16(q[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % clusterSlots
}

// TestShardSlotsAreSpread: every logical queue has ShardCount shards, itself
// first; no name twice; shard k's slot is within 128 of the first's plus
// k×2048, so that a Cluster of 2 to 8 masters, its slots split evenly, holds
// each queue's shards as evenly as 8 can be split.
func TestShardSlotsAreSpread(t *testing.T) {
	if got := slot("123456789"); got != 0x31C3%clusterSlots {
		t.Fatalf("CRC16 of 123456789: slot %d, want %d (Redis Cluster's test vector)", got, 0x31C3%clusterSlots)
	}
	seen := map[string]bool{}
	for _, l := range Queues {
		s := Shards(l)
		if len(s) != ShardCount || s[0] != l {
			t.Fatalf("Shards(%s) = %v: want %d, %s first", l, s, ShardCount, l)
		}
		step := clusterSlots / ShardCount
		for k, q := range s {
			if seen[q] {
				t.Errorf("shard %s named twice", q)
			}
			seen[q] = true
			if got, ok := LogicalQueue(q); !ok || got != l {
				t.Errorf("LogicalQueue(%s) = %q, %v; want %s", q, got, ok, l)
			}
			ideal := (slot(l) + k*step) % clusterSlots
			off := (slot(q)-ideal+clusterSlots+clusterSlots/2)%clusterSlots - clusterSlots/2
			if off < -128 || off > 128 {
				t.Errorf("shard %d of %s, %s: slot %d is %d from %d", k, l, q, slot(q), off, ideal)
			}
		}
		for masters := 2; masters <= ShardCount; masters++ {
			per := make([]int, masters)
			for _, q := range s {
				per[slot(q)*masters/clusterSlots]++
			}
			if most := slices.Max(per); most > (ShardCount+masters-1)/masters {
				t.Errorf("%s on %d masters: shards per master %v", l, masters, per)
			}
		}
	}
	if got := AllShards(); len(got) != len(seen) {
		t.Errorf("AllShards() has %d names, want %d", len(got), len(seen))
	}
	if _, ok := LogicalQueue("other"); ok {
		t.Error("LogicalQueue(other) says it is a shard")
	}
}

// TestChunkQueue: a batch's chunks go round every shard of the queue, evenly,
// the same every time, whatever the segments' size; a queue that is no
// logical one is kept.
func TestChunkQueue(t *testing.T) {
	for b := range 30 {
		batch := fmt.Sprintf("batch-%d", b)
		per := map[string]int{}
		for seg := range 8 {
			for c := range 20 { // 1,000-candidate segments of 50-candidate chunks
				q := ChunkQueue(true, QueueBulk, batch, seg, c, SegmentChunks(1000, 50))
				if q != ChunkQueue(true, QueueBulk, batch, seg, c, 20) {
					t.Fatalf("%s s%d c%d: not the same queue twice", batch, seg, c)
				}
				per[q]++
			}
		}
		for _, q := range Shards(QueueBulk) {
			if per[q] != 20 {
				t.Errorf("%s: %d of its 160 chunks on %s, want 20 on each shard: %v", batch, per[q], q, per)
			}
		}
		// A small batch: 4 segments of 2 chunks, on 8 shards.
		small := map[string]bool{}
		for seg := range 4 {
			for c := range 2 {
				small[ChunkQueue(true, QueueDefault, batch, seg, c, SegmentChunks(100, 50))] = true
			}
		}
		if len(small) != ShardCount {
			t.Errorf("%s: 8 chunks of 4 segments on %d shards, want one on each", batch, len(small))
		}
	}
	if got := ChunkQueue(true, "other", "b", 0, 3, 1); got != "other" {
		t.Errorf("ChunkQueue(other) = %q", got)
	}
	w := ShardWeights(true, map[string]int{QueueDefault: 6, QueueBulk: 1, "other": 2})
	if len(w) != 2*ShardCount+1 || w["default.13"] != 6 || w["bulk.122"] != 1 || w["other"] != 2 {
		t.Errorf("ShardWeights: %v", w)
	}
}

// TestUnshardedQueues: off a Redis Cluster every chunk goes to the bare
// logical queue and a worker serves the bare names with their weights; only a
// Cluster client shards.
func TestUnshardedQueues(t *testing.T) {
	for _, q := range Queues {
		for c := range 16 {
			if got := ChunkQueue(false, q, "batch", c/4, c%4, 4); got != q {
				t.Errorf("unsharded chunk %d of %s on %s, want %s", c, q, got, q)
			}
		}
	}
	weights := map[string]int{QueueDefault: 6, QueueReplay: 3, QueueBulk: 1}
	if w := ShardWeights(false, weights); !maps.Equal(w, weights) {
		t.Errorf("unsharded ShardWeights: %v, want %v", w, weights)
	}
	single := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	sentinel := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "m", SentinelAddrs: []string{"127.0.0.1:1"}})
	cluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	for _, c := range []struct {
		name string
		rdb  redis.UniversalClient
		want bool
	}{{"single node", single, false}, {"sentinel", sentinel, false}, {"cluster", cluster, true}} {
		if got := Sharded(c.rdb); got != c.want {
			t.Errorf("Sharded(%s) = %v, want %v", c.name, got, c.want)
		}
		_ = c.rdb.Close()
	}
}
