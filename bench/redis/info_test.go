package main

import (
	"reflect"
	"strings"
	"testing"
)

// commandStats is INFO commandstats as Redis 7.0 prints it (CRLF line ends).
const commandStats = "# Commandstats\r\n" +
	"cmdstat_evalsha:calls=2140,usec=51234,usec_per_call=23.94,rejected_calls=0,failed_calls=3\r\n" +
	"cmdstat_config|resetstat:calls=1,usec=33,usec_per_call=33.00,rejected_calls=0,failed_calls=0\r\n" +
	"cmdstat_hset:calls=10100,usec=9000,usec_per_call=0.89,rejected_calls=0,failed_calls=0\r\n" +
	"cmdstat_client|setinfo:calls=4,usec=4,usec_per_call=1.00,rejected_calls=0,failed_calls=0\r\n" +
	"cmdstat_eval:calls=7,usec=70,usec_per_call=10.00,rejected_calls=1,failed_calls=0\r\n" +
	"cmdstat_get:calls=10100,usec=2000,usec_per_call=0.20,rejected_calls=0,failed_calls=0\r\n"

func TestParseCommandStats(t *testing.T) {
	c, err := parseCommandStats(commandStats)
	if err != nil {
		t.Fatal(err)
	}
	want := calls{"evalsha": 2140, "config|resetstat": 1, "hset": 10100, "client|setinfo": 4, "eval": 7, "get": 10100}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("parseCommandStats = %v, want %v", c, want)
	}
	if got := c.total(); got != 22352 {
		t.Errorf("total = %d, want 22352", got)
	}
	if got := c.scripts(); got != 2147 {
		t.Errorf("scripts = %d, want 2147 (evalsha + eval)", got)
	}
	top := c.top(3)
	wantTop := []commandCount{{"get", 10100}, {"hset", 10100}, {"evalsha", 2140}}
	if !reflect.DeepEqual(top, wantTop) {
		t.Errorf("top(3) = %v, want %v (ties by name)", top, wantTop)
	}
	if got := c.top(100); len(got) != len(c) {
		t.Errorf("top(100) has %d commands, want all %d", len(got), len(c))
	}

	empty, err := parseCommandStats("# Commandstats\r\n")
	if err != nil || len(empty) != 0 || empty.total() != 0 {
		t.Errorf("empty commandstats = %v, %v", empty, err)
	}
	for _, bad := range []string{
		"cmdstat_get:usec=2,usec_per_call=2.00\r\n",
		"cmdstat_get:calls=x,usec=2\r\n",
		"cmdstat_get:calls=-1,usec=2\r\n",
	} {
		if _, err := parseCommandStats(bad); err == nil {
			t.Errorf("parseCommandStats(%q) succeeded", bad)
		}
	}
}

func TestCallsMinus(t *testing.T) {
	window := calls{"evalsha": 100, "config|resetstat": 1, "hgetall": 12, "info": 3}
	own := calls{"config|resetstat": 1}
	status := calls{"hgetall": 3, "info": 1}
	got, err := window.minus(own, 1)
	if err == nil {
		got, err = got.minus(status, 3)
	}
	if err != nil {
		t.Fatal(err)
	}
	if want := (calls{"evalsha": 100, "hgetall": 3}); !reflect.DeepEqual(got, want) {
		t.Errorf("window − own − 3 × status = %v, want %v", got, want)
	}
	if window["hgetall"] != 12 {
		t.Error("minus changed its receiver")
	}
	if _, err := window.minus(calls{"hgetall": 5}, 3); err == nil || !strings.Contains(err.Error(), "hgetall") {
		t.Errorf("subtracting more than was counted: err = %v, want one naming hgetall", err)
	}
}

func TestParseMemory(t *testing.T) {
	info := "# Memory\r\nused_memory:1038424\r\nused_memory_human:1014.09K\r\nused_memory_overhead:876560\r\n" +
		"used_memory_startup:876104\r\nused_memory_dataset:161864\r\nused_memory_dataset_perc:99.72%\r\n"
	got, err := parseMemory(info)
	if err != nil || got != (memory{Used: 1038424, Dataset: 161864}) {
		t.Errorf("parseMemory = %+v, %v", got, err)
	}
	if _, err := parseMemory("# Memory\r\nused_memory:12\r\n"); err == nil {
		t.Error("parseMemory without used_memory_dataset succeeded")
	}
}

func TestOnlineReplicas(t *testing.T) {
	for _, tc := range []struct {
		info string
		want int
	}{
		{"# Replication\r\nrole:master\r\nconnected_slaves:0\r\n", 0},
		{"role:master\r\nconnected_slaves:1\r\nslave0:ip=127.0.0.1,port=4242,state=wait_bgsave,offset=0,lag=0\r\n", 0},
		{"role:master\r\nconnected_slaves:2\r\nslave0:ip=127.0.0.1,port=4242,state=online,offset=14,lag=0\r\n" +
			"slave1:ip=127.0.0.1,port=4343,state=online,offset=14,lag=1\r\n", 2},
	} {
		if got := onlineReplicas(parseInfo(tc.info)); got != tc.want {
			t.Errorf("onlineReplicas(%q) = %d, want %d", tc.info, got, tc.want)
		}
	}
}

func TestClassify(t *testing.T) {
	for key, want := range map[string]string{
		// The layout of internal/store/doc.go.
		"bulkinvite:{b:night-1}":                   classBatch,
		"bulkinvite:{b:night-1}:st":                classBatch,
		"bulkinvite:{b:night-1}:seen":              classBatch,
		"bulkinvite:{b:night-1}:dl":                classDeadLetter,
		"bulkinvite:{b:night-1}:dlmv":              classDeadLetter,
		"bulkinvite:dljobs":                        classDeadLetter,
		"bulkinvite:dlbatches":                     classDeadLetter,
		"bulkinvite:{t:0a1b2c3d}:L:2946":           classLedger,
		"bulkinvite:{t:0a1b2c3d}:claims":           classLedger,
		"bulkinvite:batches":                       classOther,
		"bulkinvite:{authstop}":                    classOther,
		"bulkinvite:ratelimit:{f86cbd519712}:gcra": classOther,
		// The sending's activity (internal/activity): a batch's with the batch.
		"bulkinvite:{b:night-1}:act:493000": classBatch,
		"bulkinvite:activity:493000":        classOther,
		// The layout before it (7b94933).
		"bulkinvite:batch:night-1":           classBatch,
		"bulkinvite:batch:night-1:out":       classBatch,
		"bulkinvite:ledger:ab12:cd34":        classLedger,
		"bulkinvite:ledger:ab12:cd34:claim":  classLedger,
		"bulkinvite:dl:entries":              classDeadLetter,
		"bulkinvite:dl:index":                classDeadLetter,
		"bulkinvite:authstop:sandbox":        classOther,
		"asynq:{default}:t:0b7c":             classAsynq,
		"asynq:servers":                      classAsynq,
		"otherprefix:{b:night-1}":            classOther,
		"bulkinvite:{b:x}:dl:not-a-dl-hash?": classBatch,
	} {
		if got := classify("bulkinvite:", key); got != want {
			t.Errorf("classify(%q) = %q, want %q", key, got, want)
		}
	}
}
