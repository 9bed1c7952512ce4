package store

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/bulkinvite/bulkinvite/internal/redistest"
)

// TestWithLib: a script carries the parts of the library its body uses and
// the parts those use, in the library's order, and no other.
func TestWithLib(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		body string
		want []string // definitions the script holds, in this order
		not  []string // definitions it lacks
	}{
		{"none", "return 1", nil, []string{"local "}},
		{"a name in a comment or a string is no use", "-- pack(batch)\nreturn 'rget'", nil, []string{"local "}},
		{"through other parts", "return rget(KEYS[1], 'id')",
			[]string{"local PIECES", "local SCHEMA", "local function readVarint", "local function unpackValue", "local function rmget", "local function rget"},
			[]string{"local function pack(", "local function encode", "local function hmget", "local OPEN"}},
		{"a constant and a later library", "return {OPEN, ledgerPut}",
			[]string{"local OPEN", "local part", "local function hset", "local ENTRY", "local function be6", "local function ledgerPut"},
			[]string{"local function hmget", "local function ledgerGet", "local function nowMS"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := withLib(tc.body)
			if !strings.HasSuffix(got, tc.body) {
				t.Errorf("the script does not end with its body:\n%s", got)
			}
			at := 0
			for _, w := range tc.want {
				i := strings.Index(got[at:], w)
				if i < 0 {
					t.Errorf("the script lacks %q after the parts before it:\n%s", w, got)
					continue
				}
				at += i
			}
			for _, n := range tc.not {
				if strings.Contains(got, n) {
					t.Errorf("the script holds %q:\n%s", n, got)
				}
			}
		})
	}
}

// TestSplitLib: the parts are the whole library, cut at its definitions; a
// library that is not only definitions, or defines a name twice, is refused.
func TestSplitLib(t *testing.T) {
	t.Parallel()
	var whole strings.Builder
	for _, p := range lib {
		whole.WriteString(p.text)
	}
	if whole.String() != luaLib+claimLib+ledgerLib {
		t.Error("the parts of the library joined are not the library")
	}
	for _, tc := range []struct{ name, src string }{
		{"a statement", "local a = 1\nb = a\n"},
		{"a name twice", "local a = 1\nlocal function a() end\n"},
		{"a use before the definition", "local function a() return b end\nlocal b = 1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				if recover() == nil {
					t.Errorf("splitLib(%q) did not panic", tc.src)
				}
			}()
			splitLib(tc.src)
		})
	}
}

// TestScriptsLoad: every script the package builds compiles in Redis (SCRIPT
// LOAD), within Lua's limits on locals and upvalues.
func TestScriptsLoad(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t, redistest.Options{}).Client()
	ctx := context.Background()
	for _, s := range scripts {
		if err := s.Load(ctx, rdb).Err(); err != nil {
			t.Errorf("script %s: %v", s.Hash(), err)
		}
	}
}

// TestStateWrites: a step that reads candidate states and writes some
// (readStates, writeStates; here shiftScript) leaves the state bytes as one
// byte-wise write per change would: every other byte as it was, the string
// no longer than its last change needs, in the key st and in the record once
// folded there, over runs apart, seqs out of order or twice and past the end.
func TestStateWrites(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	long := strings.Repeat("\x00\x02", 700) // more than a part
	for _, tc := range []struct {
		name  string
		start string
		seqs  []int64
	}{
		{"a chunk", "\x00\x00\x01\x00\x02", []int64{0, 1, 2, 3, 4}},
		{"one change amid others", "\x00\x02\x02\x02\x02\x02\x02", []int64{0, 1, 2, 3, 4, 5, 6}},
		{"past the end", "\x02\x00", []int64{1, 3, 7}},
		{"runs apart, out of order, twice", "\x00\x02\x00", []int64{300, 2, 0, 80, 2, 150}},
		{"only unchanged", "\x02\x02", []int64{0, 1, 5}},
		{"long runs", long, []int64{1399, 0, 1, 2, 700, 1398, 1500}},
	} {
		for _, folded := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s folded=%v", tc.name, folded), func(t *testing.T) {
				id := fmt.Sprintf("%s-%v", tc.name, folded)
				batch, st := s.bkey(id, ""), s.bkey(id, "st")
				if folded {
					s.rdb.HSet(ctx, batch, "id", "1", fieldFoldedStates, tc.start)
				} else {
					s.rdb.HSet(ctx, batch, "id", "1")
					s.rdb.Set(ctx, st, tc.start, 0)
				}
				want := []byte(tc.start)
				for _, q := range tc.seqs {
					if q >= int64(len(want)) || want[q] == codeOpen {
						want = append(want, make([]byte, max(0, int(q)+1-len(want)))...)
						want[q] = codeSending
					}
				}
				a := shiftArgs{batch: batch, st: st, from: codeOpen, to: codeSending, seqs: tc.seqs}
				if err := s.eval(ctx, shiftScript, a.keys(), a.argv()...).Err(); err != nil {
					t.Fatal(err)
				}
				got := s.rdb.Get(ctx, st).Val()
				if folded {
					got = s.rdb.HGet(ctx, batch, fieldFoldedStates).Val()
				}
				if got != string(want) {
					t.Errorf("states %q, want %q", got, want)
				}
			})
		}
	}
}

// TestClaimReads pins how the claim scripts read a claim value (claimOf,
// holds): the owner's 8 bytes, the expiry's digits, then '.' and the run's
// digits, or nothing after the expiry (an older version's claim, which no run
// holds); anything else is no claim.
func TestClaimReads(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t, redistest.Options{}).Client()
	read := redis.NewScript(withLib(`
local o, untilMS, r = claimOf(ARGV[1])
return {o or '-', untilMS and string.format('%d', untilMS) or '-', r or '-', holds(ARGV[1], ARGV[2]) and 1 or 0}
`))
	for _, tc := range []struct {
		claim, run string
		want       string // owner, expiry, run ("-": none), holds
	}{
		{"ownerfp1" + "1700000000000.45", "45", "[ownerfp1 1700000000000 45 1]"},
		{"ownerfp1" + "1700000000000.45", "46", "[ownerfp1 1700000000000 45 0]"},
		{"ownerfp1" + "1700000000000.", "", "[ownerfp1 1700000000000  0]"},
		{"ownerfp1" + "1700000000000", "", "[ownerfp1 1700000000000  0]"},
		{"ownerfp1" + "17x.45", "45", "[- - - 0]"},
		{"ownerfp1" + "17.45x", "45", "[- - - 0]"},
		{"ownerfp1" + ".45", "45", "[- - - 0]"},
		{"ownerfp1", "", "[- - - 0]"},
		{"short", "", "[- - - 0]"},
	} {
		got, err := read.Run(context.Background(), rdb, nil, tc.claim, tc.run).Slice()
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != tc.want {
			t.Errorf("claim %q, run %q: %v, want %s", tc.claim, tc.run, got, tc.want)
		}
	}
}

// TestInSequence: each body of an inSequence script sees its own share of KEYS
// and ARGV, the library's functions too; the script answers the second's
// answer; an error in the first ends it before the second writes.
func TestInSequence(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t, redistest.Options{}).Client()
	ctx := context.Background()
	first := `redis.call('SET', KEYS[1], table.concat(ARGV, ',') .. '/' .. #KEYS)
redis.call('SET', KEYS[2], 'first')`
	second := `local seen = {}
for i = 1, #KEYS do seen[#seen + 1] = KEYS[i] end
for i = 1, #ARGV do seen[#seen + 1] = ARGV[i] end
redis.call('SET', KEYS[1], 'second')
return {seen, redis.call('GET', 'a1'), hmget(KEYS[2], {'f'})[1] or 'none'}`
	s := redis.NewScript(withLib(inSequence(first, second)))
	keys, argv := inSequenceArgs([]string{"a1", "a2"}, []any{"x", 7, "z"}, []string{"b1", "h"}, []any{"y"})
	got, err := s.Run(ctx, rdb, keys, argv...).Slice()
	if err != nil {
		t.Fatal(err)
	}
	if want := "[[b1 h y] x,7,z/2 none]"; fmt.Sprint(got) != want {
		t.Fatalf("answer %v; want %s", got, want)
	}
	for k, want := range map[string]string{"a1": "x,7,z/2", "a2": "first", "b1": "second"} {
		if v := rdb.Get(ctx, k).Val(); v != want {
			t.Errorf("%s = %q; want %q", k, v, want)
		}
	}

	failing := redis.NewScript(withLib(inSequence(`error('no')`, `redis.call('SET', KEYS[1], 'written')`)))
	keys, argv = inSequenceArgs([]string{"c1"}, nil, []string{"c2"}, nil)
	if err := failing.Run(ctx, rdb, keys, argv...).Err(); err == nil || !strings.Contains(err.Error(), "no") {
		t.Fatalf("err %v; want the first body's error", err)
	}
	if n := rdb.Exists(ctx, "c2").Val(); n != 0 {
		t.Fatal("the second body ran after the first failed")
	}
}
