package config

import "testing"

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"no secret", "redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
		{"password", "redis://:S3cret@10.0.0.1:6379/0", "redis://:xxxxx@10.0.0.1:6379/0"},
		{"ACL user and password", "rediss://app:S3cret@redis.internal:6380/2", "rediss://app:xxxxx@redis.internal:6380/2"},
		{"user info without colon is a password to redis-cli", "redis://S3cret@10.0.0.1:6379", "redis://xxxxx@10.0.0.1:6379"},
		{"percent-encoded password", "redis://:S3%40cret@h:1/0", "redis://:xxxxx@h:1/0"},
		{"unencoded slash and at", "redis://app:S3/cr@t@h:1/0", "redis://app:xxxxx@h:1/0"},
		{"unencoded hash", "redis://:S3cr#t@h:1/0", "redis://:xxxxx@h:1/0"},
		{"sentinel, several hosts, query passwords", "redis-sentinel://u:S3cret@s1:26379,s2:26379/0?master=m&sentinel_password=S3c2&password=S3c3",
			"redis-sentinel://u:xxxxx@s1:26379,s2:26379/0?master=m&sentinel_password=xxxxx&password=xxxxx"},
		{"secret-looking parameters only", "https://api.example.com/?api_key=S3&x=1&Token=S4#frag", "https://api.example.com/?api_key=xxxxx&x=1&Token=xxxxx#frag"},
		{"no scheme", ":S3cret@127.0.0.1:6379", ":xxxxx@127.0.0.1:6379"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := RedactURL(tt.in); got != tt.want {
				t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRedactURLs(t *testing.T) {
	t.Parallel()
	in := `dial "redis://:S3cret@h:1/0": refused; also rediss://u:S4@h2 and https://example.com/x`
	want := `dial "redis://:xxxxx@h:1/0": refused; also rediss://u:xxxxx@h2 and https://example.com/x`
	if got := RedactURLs(in); got != want {
		t.Errorf("RedactURLs =\n%s\nwant\n%s", got, want)
	}
}
