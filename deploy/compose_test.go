package deploy_test

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
)

const composeFile = "compose.yaml"

// composeService is the part of a Compose service the test reads.
type composeService struct {
	Image       string            `yaml:"image"`
	Build       *composeBuild     `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	ReadOnly bool     `yaml:"read_only"`
	CapDrop  []string `yaml:"cap_drop"`
}

type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

// interpolated is a Compose variable that must be set: ${NAME:?message}.
var interpolated = regexp.MustCompile(`^\$\{[A-Z_]+:\?[^}]+\}$`)

// TestComposeFile: deploy/compose.yaml runs Redis with AOF and noeviction, and
// the worker, serve and the sandbox from the repository's Dockerfile, the
// worker and serve on that Redis and the worker on the sandbox; its only
// secret literal is the sandbox's test key.
func TestComposeFile(t *testing.T) {
	t.Parallel()
	var f struct {
		Services map[string]composeService `yaml:"services"`
	}
	if err := yaml.Unmarshal(readFile(t, composeFile), &f); err != nil {
		t.Fatalf("%s: %v", composeFile, err)
	}
	svc := func(name string) composeService {
		s, ok := f.Services[name]
		if !ok {
			t.Fatalf("%s has no service %q", composeFile, name)
		}
		return s
	}
	redis, worker, serve, sb := svc("redis"), svc("worker"), svc("serve"), svc("sandbox")

	for _, want := range [][]string{{"--appendonly", "yes"}, {"--maxmemory-policy", "noeviction"}} {
		if i := slices.Index(redis.Command, want[0]); i < 0 || i+1 >= len(redis.Command) || redis.Command[i+1] != want[1] {
			t.Errorf("redis runs %v, want %s %s", redis.Command, want[0], want[1])
		}
	}
	for name, s := range map[string]composeService{"worker": worker, "serve": serve, "sandbox": sb} {
		checkComposeImage(t, name, s)
		if len(s.Command) == 0 || s.Command[0] != name {
			t.Errorf("%s runs %v, want bulkinvite %s", name, s.Command, name)
		}
	}

	for name, s := range map[string]composeService{"worker": worker, "serve": serve} {
		u, err := url.Parse(s.Environment["REDIS_URL"])
		if err != nil || u.Hostname() != "redis" || u.User != nil {
			t.Errorf("%s: REDIS_URL %q, want the compose Redis without a password", name, s.Environment["REDIS_URL"])
		}
		if s.DependsOn["redis"].Condition != "service_healthy" {
			t.Errorf("%s does not wait for Redis to be healthy", name)
		}
		if k := s.Environment["FLOWMINGO_API_KEY"]; k != sandbox.DefaultKey {
			t.Errorf("%s: FLOWMINGO_API_KEY %q, want the sandbox's test key", name, k)
		}
	}
	api, err := url.Parse(worker.Environment["FLOWMINGO_API_URL"])
	if err != nil || api.Host != "sandbox:"+flagPort(t, sb.Command, "--addr") {
		t.Errorf("worker: FLOWMINGO_API_URL %q, want the sandbox service at its --addr port", worker.Environment["FLOWMINGO_API_URL"])
	}
	if _, ok := worker.DependsOn["sandbox"]; !ok {
		t.Error("the worker does not depend on the sandbox")
	}
	if !publishes(serve.Ports, flagPort(t, serve.Command, "--addr")) {
		t.Errorf("serve publishes %v, not its --addr port", serve.Ports)
	}
	if !publishes(worker.Ports, flagPort(t, worker.Command, "--metrics-addr")) {
		t.Errorf("the worker publishes %v, not its --metrics-addr port", worker.Ports)
	}
	if tok := serve.Environment["BULKINVITE_TOKENS"]; !interpolated.MatchString(tok) {
		t.Errorf("serve: BULKINVITE_TOKENS %q, want ${BULKINVITE_TOKENS:?...} from the user's shell", tok)
	}
	checkComposeSecrets(t, f.Services)
}

// checkComposeImage: built from the repository's Dockerfile, read-only, without
// capabilities.
func checkComposeImage(t *testing.T, name string, s composeService) {
	t.Helper()
	if s.Build == nil {
		t.Errorf("%s is not built", name)
		return
	}
	if _, err := os.Stat(filepath.Join(s.Build.Context, s.Build.Dockerfile)); err != nil || filepath.Clean(s.Build.Context) != ".." {
		t.Errorf("%s builds %s in %s, want the repository's Dockerfile: %v", name, s.Build.Dockerfile, s.Build.Context, err)
	}
	if !s.ReadOnly || !slices.Contains(s.CapDrop, "ALL") {
		t.Errorf("%s: read_only %v, cap_drop %v; want read-only without capabilities", name, s.ReadOnly, s.CapDrop)
	}
}

// checkComposeSecrets: no variable of any service holds a secret literal but
// the sandbox's test key.
func checkComposeSecrets(t *testing.T, services map[string]composeService) {
	t.Helper()
	for name, s := range services {
		for k, v := range s.Environment {
			secret := slices.Contains(secretEnv, k) || strings.Contains(v, "fl_live_")
			if k == "REDIS_URL" {
				continue // checked above: no password
			}
			if secret && v != sandbox.DefaultKey && !interpolated.MatchString(v) {
				t.Errorf("%s: %s holds a secret literal", name, k)
			}
		}
	}
}

// flagPort is the port of a HOST:PORT flag in a command.
func flagPort(t *testing.T, cmd []string, flag string) string {
	t.Helper()
	i := slices.Index(cmd, flag)
	if i < 0 || i+1 >= len(cmd) {
		t.Fatalf("%v has no %s", cmd, flag)
	}
	host, port, err := net.SplitHostPort(cmd[i+1])
	if err != nil || host != "0.0.0.0" {
		t.Errorf("%s %s: want 0.0.0.0:PORT, reachable from the other containers and the host", flag, cmd[i+1])
	}
	return port
}

// publishes tells whether one of ports (HOST:PORT:CONTAINER_PORT) publishes the container port.
func publishes(ports []string, port string) bool {
	return slices.ContainsFunc(ports, func(p string) bool { return strings.HasSuffix(p, ":"+port) })
}
