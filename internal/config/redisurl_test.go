package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseRedisURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		url  string
		want RedisTarget
	}{
		{"default", "redis://127.0.0.1:6379/0", RedisTarget{Network: "tcp", Addrs: []string{"127.0.0.1:6379"}}},
		{"password, db", "redis://:pw@redis.internal:6380/3",
			RedisTarget{Network: "tcp", Addrs: []string{"redis.internal:6380"}, Password: "pw", DB: 3}},
		{"ACL user", "redis://bulk:pw@10.0.0.1:6379/0",
			RedisTarget{Network: "tcp", Addrs: []string{"10.0.0.1:6379"}, Username: "bulk", Password: "pw"}},
		{"user info without a colon is a password, as redis-cli reads it", "redis://pw@h:1",
			RedisTarget{Network: "tcp", Addrs: []string{"h:1"}, Password: "pw"}},
		{"percent-encoded password", "redis://u:p%40ss%2Fw%3Ard@h:1/0",
			RedisTarget{Network: "tcp", Addrs: []string{"h:1"}, Username: "u", Password: "p@ss/w:rd"}},
		{"no port, no path", "redis://h", RedisTarget{Network: "tcp", Addrs: []string{"h:6379"}}},
		{"no host", "redis:///2", RedisTarget{Network: "tcp", Addrs: []string{"localhost:6379"}, DB: 2}},
		{"IPv6", "redis://[::1]:7000/0", RedisTarget{Network: "tcp", Addrs: []string{"[::1]:7000"}}},
		{"TLS", "rediss://u:pw@cache.example.com:6380/1",
			RedisTarget{Network: "tcp", Addrs: []string{"cache.example.com:6380"}, Username: "u", Password: "pw", DB: 1, TLS: true}},
		{"cluster seeds", "redis://:pw@a:7101?addr=b:7102&addr=c:7103",
			RedisTarget{Network: "tcp", Addrs: []string{"a:7101", "b:7102", "c:7103"}, Password: "pw"}},
		{"a seed's port defaults to 6379", "redis://a:7101?addr=b",
			RedisTarget{Network: "tcp", Addrs: []string{"a:7101", "b:6379"}}},
		{"cluster seeds over TLS with /0", "rediss://a:7101/0?addr=b:7102",
			RedisTarget{Network: "tcp", Addrs: []string{"a:7101", "b:7102"}, TLS: true}},
		{"sentinel", "redis-sentinel://s1:26379,s2:26380/2?master=mymaster",
			RedisTarget{Network: "tcp", Addrs: []string{"s1:26379", "s2:26380"}, DB: 2, MasterName: "mymaster"}},
		{"sentinel: the URL's password is the master's, sentinel_password the sentinels'",
			"redis-sentinel://bulk:pw@s1,s2:1/0?master=m&sentinel_password=spw&sentinel_username=sen",
			RedisTarget{Network: "tcp", Addrs: []string{"s1:26379", "s2:1"}, Username: "bulk", Password: "pw",
				MasterName: "m", SentinelUsername: "sen", SentinelPassword: "spw"}},
		{"socket", "redis-socket://:pw@/run/redis.sock?db=4",
			RedisTarget{Network: "unix", Addrs: []string{"/run/redis.sock"}, Password: "pw", DB: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseRedisURL(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestParseRedisURLErrors: every refusal says what is wrong, and Validate names
// REDIS_URL; no error shows a password.
func TestParseRedisURLErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		url  string
		want []string
	}{
		{"sentinel without master", "redis-sentinel://:S3cret@s1:26379/0", []string{"?master=NAME", "redis-sentinel://:xxxxx@s1:26379/0"}},
		{"sentinel with an empty master", "redis-sentinel://s1/0?master=&sentinel_password=S3cret", []string{"?master=NAME", "sentinel_password=xxxxx"}},
		{"go-redis's master_name", "redis-sentinel://u:S3cret@s1/0?master=m&master_name=m", []string{"?master_name=", "master="}},
		{"unknown parameter", "redis://:S3cret@h:1/0?dial_timeout=3", []string{"?dial_timeout=", "addr="}},
		{"password as a parameter", "redis://h:1/0?password=S3cret", []string{"?password=", "password=xxxxx"}},
		{"cluster seeds with a database", "redis://:S3cret@a:1/2?addr=b:2", []string{"database 0", "/2"}},
		{"seed that is not host:port", "redis://a:1?addr=b:1:2", []string{`"b:1:2"`, "HOST:PORT"}},
		{"seed with a bad port", "redis://a:1?addr=b:0", []string{"invalid port", "1..65535"}},
		{"sentinel with a bad port", "redis-sentinel://s1:x,s2:26379/0?master=m", []string{`"s1:x"`, "invalid port"}},
		{"sentinel with an empty host", "redis-sentinel://,s2/0?master=m", []string{"no host"}},
		{"database not a number", "redis://u:S3cret@h:1/zero", []string{"database number", "/zero"}},
		{"negative database", "redis://h:1/-1", []string{"database number"}},
		{"two path segments", "redis://h:1/0/1", []string{"database number"}},
		{"bad port", "redis://u:S3cret@h:99x/0", []string{`invalid port ":99x"`, "redis://u:xxxxx@h:99x/0", "want redis://HOST:PORT/DB"}},
		{"port out of range", "redis://h:70000/0", []string{"1..65535"}},
		{"unencoded slash in the password", "redis://:S3cret/x@h:1/0", []string{"percent-encoded", "%2F"}},
		{"unencoded hash in the password", "rediss://u:S3cret#x@h:1/0", []string{"percent-encoded"}},
		{"bad escape in a password parameter", "redis-sentinel://s/0?master=m&sentinel_password=S3cret%zz", []string{"percent-encoded"}},
		{"fragment", "redis://h:1/0#x", []string{"fragment"}},
		{"scheme", "mysql://root:S3cret@db/0", []string{`"mysql"`, "redis://HOST:PORT/DB", "redis-sentinel://"}},
		{"no scheme", ":S3cret@127.0.0.1:6379", []string{"missing protocol scheme", "redis://HOST:PORT/DB"}},
		{"socket without a path", "redis-socket://", []string{"socket's path"}},
		{"socket with a bad db", "redis-socket:///s?db=x", []string{"database number"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseRedisURL(tt.url)
			if err == nil {
				t.Fatalf("ParseRedisURL(%q) succeeded", tt.url)
			}
			c := Default()
			c.RedisURL = tt.url
			verr := c.Validate()
			if verr == nil || !strings.HasPrefix(verr.Error(), "REDIS_URL: ") {
				t.Errorf("Validate = %v, want it to name REDIS_URL", verr)
			}
			for _, msg := range []string{err.Error(), verr.Error()} {
				if strings.Contains(msg, "S3cret") {
					t.Errorf("the password is in the error: %s", msg)
				}
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func FuzzParseRedisURL(f *testing.F) {
	for _, s := range []string{
		"redis://u:pw@h:1/0", "rediss://h?addr=a:1&addr=b:2", "redis-sentinel://:pw@s1,s2:2/1?master=m&sentinel_password=x",
		"redis-socket:///s?db=1", "redis://:p/w@h:1/0", "redis://[::1]:1/0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseRedisURL(s)
		if err != nil {
			return
		}
		if len(got.Addrs) == 0 {
			t.Errorf("ParseRedisURL(%q) = %+v: no address", s, got)
		}
		if got.Sentinel() != (strings.HasPrefix(s, "redis-sentinel:")) {
			t.Errorf("ParseRedisURL(%q) = %+v: master name and scheme disagree", s, got)
		}
	})
}
