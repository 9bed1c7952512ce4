package deploy_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/bulkinvite/bulkinvite/internal/httpapi"
	"github.com/bulkinvite/bulkinvite/internal/metrics"
	"github.com/bulkinvite/bulkinvite/worker"
)

const (
	chartDir       = "helm/bulkinvite"
	fullValues     = chartDir + "/ci/full-values.yaml"
	chartAlerts    = chartDir + "/files/alerts.yaml"
	docsAlerts     = "../docs/alerts.yaml"
	binary         = "/usr/local/bin/bulkinvite" // where the Dockerfile puts it
	secretDir      = "/run/secrets/bulkinvite"   // where the chart mounts secrets given asFile
	workerName     = "bi-bulkinvite-worker"
	serveName      = "bi-bulkinvite-serve"
	releaseName    = "bi"
	requireHelmEnv = "BULKINVITE_REQUIRE_HELM"
)

// secretEnv are the variables that hold a secret (or a URL with a password):
// each must come from a Secret, by secretKeyRef or as a file of a secret volume
// (its *_FILE variable).
var secretEnv = []string{"REDIS_URL", "FLOWMINGO_API_KEY", "BULKINVITE_TOKENS", "BULKINVITE_CALLBACK_SECRET"}

// TestChartAlertsAreTheDocs: the chart's PrometheusRule carries docs/alerts.yaml's
// rules, through a copy in the chart (helm reads no file outside it).
func TestChartAlertsAreTheDocs(t *testing.T) {
	t.Parallel()
	docs, chart := readFile(t, docsAlerts), readFile(t, chartAlerts)
	if !bytes.Equal(docs, chart) {
		t.Errorf("%s differs from %s: cp docs/alerts.yaml deploy/%s", chartAlerts, docsAlerts, chartAlerts)
	}
}

// TestChartRenders renders the chart with its default values and with
// ci/full-values.yaml, and checks what every install must hold.
func TestChartRenders(t *testing.T) {
	t.Parallel()
	helm := helmBinary(t)
	tests := []struct {
		name   string
		values []string
		check  func(t *testing.T, m manifests)
	}{
		{"default", nil, checkDefault},
		{"full", []string{fullValues}, checkFull},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := render(helm, tt.values)
			if err != nil {
				t.Fatal(err)
			}
			m := parseManifests(t, out)
			checkWorkloads(t, m)
			checkNoSecretValues(t, m, out)
			tt.check(t, m)
		})
	}
}

// TestChartRefuses: values that would put a secret in the chart, or leave one
// out, fail the render, naming what to set.
func TestChartRefuses(t *testing.T) {
	t.Parallel()
	helm := helmBinary(t)
	tests := []struct {
		name string
		set  string
		want string
	}{
		{"a key in settings", "settings.FLOWMINGO_API_KEY=fl_live_abcd.secret", "settings.FLOWMINGO_API_KEY: set it with secrets.apiKey"},
		{"a Redis URL in settings", "settings.REDIS_URL=redis://:pw@redis:6379/0", "settings.REDIS_URL: set it with secrets.redisURL"},
		{"the shutdown timeout in settings", "settings.BULKINVITE_SHUTDOWN_TIMEOUT=10m", "worker.shutdownTimeoutSeconds"},
		{"not a setting", "settings.PATH=/tmp", "settings.PATH: not a setting"},
		{"no Redis Secret", "secrets.redisURL.name=", "secrets.redisURL.name"},
		{"no key Secret", "secrets.apiKey.name=", "secrets.apiKey.name"},
		{"no tokens Secret", "secrets.tokens.name=", "secrets.tokens.name"},
		{"KEDA without Prometheus", "worker.autoscaling.enabled=true", "worker.autoscaling.prometheusServerAddress"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := render(helm, nil, "--set", tt.set)
			if err == nil {
				t.Fatalf("--set %s rendered:\n%s", tt.set, out)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("--set %s: %v, want it to name %q", tt.set, err, tt.want)
			}
		})
	}
}

// helmBinary is BULKINVITE_HELM, else helm on PATH; without either the test
// skips, or fails when BULKINVITE_REQUIRE_HELM=1.
func helmBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("BULKINVITE_HELM"); p != "" {
		return p
	}
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	if os.Getenv(requireHelmEnv) == "1" {
		t.Fatalf("no helm: set BULKINVITE_HELM or put helm on PATH (%s=1)", requireHelmEnv)
	}
	t.Skip("no helm (BULKINVITE_HELM or on PATH): the chart is not rendered")
	return ""
}

// render runs helm template on the chart with the values files and extra arguments.
func render(helm string, values []string, args ...string) (string, error) {
	cmd := []string{"template", releaseName, chartDir}
	for _, v := range values {
		cmd = append(cmd, "--values", v)
	}
	var stdout, stderr bytes.Buffer
	c := exec.Command(helm, append(cmd, args...)...)
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w: %s", strings.Join(cmd, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// obj is one rendered manifest, as decoded YAML.
type obj = map[string]any

// manifests are a render's objects, by "Kind/name".
type manifests map[string]obj

func parseManifests(t *testing.T, out string) manifests {
	t.Helper()
	m := manifests{}
	dec := yaml.NewDecoder(strings.NewReader(out))
	for {
		var o obj
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("rendered manifests: %v", err)
		}
		if o == nil {
			continue
		}
		id := str(o, "kind") + "/" + str(o, "metadata", "name")
		if _, dup := m[id]; dup {
			t.Errorf("%s rendered twice", id)
		}
		m[id] = o
	}
	return m
}

// get walks a path of map keys and list indexes.
func get(o any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			mm, _ := o.(obj)
			o = mm[k]
		case int:
			l, _ := o.([]any)
			if k >= len(l) {
				return nil
			}
			o = l[k]
		}
	}
	return o
}

func str(o any, path ...any) string { s, _ := get(o, path...).(string); return s }

func list(o any, path ...any) []any { l, _ := get(o, path...).([]any); return l }

func num(o any, path ...any) (int, bool) { n, ok := get(o, path...).(int); return n, ok }

func (m manifests) must(t *testing.T, id string) obj {
	t.Helper()
	o, ok := m[id]
	if !ok {
		t.Fatalf("no %s among %v", id, m.ids())
	}
	return o
}

func (m manifests) ids() []string {
	var ids []string
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// container is the pod template's container of that name.
func container(t *testing.T, d obj, name string) obj {
	t.Helper()
	for _, c := range list(d, "spec", "template", "spec", "containers") {
		if str(c, "name") == name {
			return c.(obj)
		}
	}
	t.Fatalf("%s has no container %q", str(d, "metadata", "name"), name)
	return nil
}

// env is a container's environment, by name.
func env(c obj) map[string]obj {
	e := map[string]obj{}
	for _, v := range list(c, "env") {
		e[str(v, "name")] = v.(obj)
	}
	return e
}

// checkWorkloads checks the worker and serve Deployments of every render.
func checkWorkloads(t *testing.T, m manifests) {
	t.Helper()
	w := m.must(t, "Deployment/"+workerName)
	wc := container(t, w, "worker")
	checkCommand(t, wc, "worker", "--metrics-addr", "metrics")
	checkProbes(t, wc, metrics.Path, "metrics")
	shutdown, err := time.ParseDuration(str(env(wc)["BULKINVITE_SHUTDOWN_TIMEOUT"], "value"))
	if err != nil {
		t.Errorf("worker's BULKINVITE_SHUTDOWN_TIMEOUT: %v", err)
	}
	checkGrace(t, w, shutdown)

	s := m.must(t, "Deployment/"+serveName)
	sc := container(t, s, "serve")
	checkCommand(t, sc, "serve", "--addr", "http")
	checkProbes(t, sc, "/healthz", "http")
	checkGrace(t, s, httpapi.DefaultShutdownTimeout)
	if p := str(m.must(t, "Service/"+serveName), "spec", "ports", 0, "targetPort"); p != "http" {
		t.Errorf("serve's Service targets port %q, want http", p)
	}
	for _, d := range []obj{w, s} {
		checkSecurity(t, d)
		checkSecretsFromSecrets(t, d)
		checkSettings(t, d)
	}
	if _, ok := env(wc)["REDIS_URL"]; !ok {
		t.Error("the worker has no REDIS_URL")
	}
	if !hasEither(env(wc), "FLOWMINGO_API_KEY") {
		t.Error("the worker has no FLOWMINGO_API_KEY or FLOWMINGO_API_KEY_FILE")
	}
	if !hasEither(env(sc), "BULKINVITE_TOKENS") {
		t.Error("serve has no BULKINVITE_TOKENS or BULKINVITE_TOKENS_FILE")
	}
	pdb := m.must(t, "PodDisruptionBudget/"+workerName)
	if !reflect.DeepEqual(get(pdb, "spec", "selector", "matchLabels"), get(w, "spec", "selector", "matchLabels")) {
		t.Errorf("the PodDisruptionBudget selects %v, the worker's pods are %v",
			get(pdb, "spec", "selector", "matchLabels"), get(w, "spec", "selector", "matchLabels"))
	}
}

// checkSettings: each setting's value is a string as bulkinvite parses it; a
// number written in the values file keeps its digits (no 1e+09).
func checkSettings(t *testing.T, d obj) {
	t.Helper()
	for _, c := range list(d, "spec", "template", "spec", "containers") {
		for name, v := range env(c.(obj)) {
			if val, ok := v["value"]; ok {
				if s, isString := val.(string); !isString || strings.Contains(s, "e+") {
					t.Errorf("%s: %s=%v, want the setting as written", str(c, "name"), name, val)
				}
			}
		}
	}
}

func hasEither(e map[string]obj, name string) bool {
	_, a := e[name]
	_, b := e[name+"_FILE"]
	return a || b
}

// checkCommand: the image's binary runs the subcommand, listening (flag) on
// 0.0.0.0 at the container port named port.
func checkCommand(t *testing.T, c obj, sub, flag, port string) {
	t.Helper()
	name := str(c, "name")
	if cmd := list(c, "command"); len(cmd) != 1 || cmd[0] != binary {
		t.Errorf("%s: command %v, want [%s]", name, cmd, binary)
	}
	args := list(c, "args")
	if len(args) < 3 || args[0] != sub || args[1] != flag {
		t.Fatalf("%s: args %v, want [%s %s ADDR ...]", name, args, sub, flag)
	}
	var want string
	for _, p := range list(c, "ports") {
		if str(p, "name") == port {
			n, _ := num(p, "containerPort")
			want = fmt.Sprintf("0.0.0.0:%d", n)
		}
	}
	if args[2] != want {
		t.Errorf("%s: %s %v, want %q (the container port %q)", name, flag, args[2], want, port)
	}
}

// checkProbes: liveness and readiness GET path on the named port.
func checkProbes(t *testing.T, c obj, path, port string) {
	t.Helper()
	for _, p := range []string{"livenessProbe", "readinessProbe"} {
		if got, gotPort := str(c, p, "httpGet", "path"), str(c, p, "httpGet", "port"); got != path || gotPort != port {
			t.Errorf("%s: %s GETs %q on %q, want %q on %q", str(c, "name"), p, got, gotPort, path, port)
		}
		if n, ok := num(c, p, "timeoutSeconds"); !ok || n < 1 {
			t.Errorf("%s: %s has no timeoutSeconds", str(c, "name"), p)
		}
	}
}

// checkGrace: Kubernetes waits longer than the process lets its work finish.
func checkGrace(t *testing.T, d obj, shutdown time.Duration) {
	t.Helper()
	grace, ok := num(d, "spec", "template", "spec", "terminationGracePeriodSeconds")
	if !ok || time.Duration(grace)*time.Second <= shutdown {
		t.Errorf("%s: terminationGracePeriodSeconds %d, want more than the shutdown timeout %s",
			str(d, "metadata", "name"), grace, shutdown)
	}
}

// checkSecurity: non-root by number, read-only root filesystem, no privilege
// escalation, no capabilities, no service account token.
func checkSecurity(t *testing.T, d obj) {
	t.Helper()
	name := str(d, "metadata", "name")
	pod := get(d, "spec", "template", "spec")
	if get(pod, "securityContext", "runAsNonRoot") != true {
		t.Errorf("%s: pod without runAsNonRoot", name)
	}
	if uid, ok := num(pod, "securityContext", "runAsUser"); !ok || uid == 0 {
		t.Errorf("%s: runAsUser %v, want a non-root uid (the image's user is a name)", name, get(pod, "securityContext", "runAsUser"))
	}
	if get(pod, "automountServiceAccountToken") != false {
		t.Errorf("%s: mounts a service account token", name)
	}
	for _, c := range list(pod, "containers") {
		sc := get(c, "securityContext")
		for _, k := range []string{"runAsNonRoot", "readOnlyRootFilesystem"} {
			if get(sc, k) != true {
				t.Errorf("%s/%s: securityContext.%s is not true", name, str(c, "name"), k)
			}
		}
		if get(sc, "allowPrivilegeEscalation") != false {
			t.Errorf("%s/%s: allowPrivilegeEscalation is not false", name, str(c, "name"))
		}
		if !slices.Contains(list(sc, "capabilities", "drop"), any("ALL")) {
			t.Errorf("%s/%s: capabilities.drop lacks ALL", name, str(c, "name"))
		}
	}
}

// checkSecretsFromSecrets: each secret variable comes from a secretKeyRef, or
// is a *_FILE naming a file mounted from a volume made of Secrets only.
func checkSecretsFromSecrets(t *testing.T, d obj) {
	t.Helper()
	pod := get(d, "spec", "template", "spec")
	fromSecrets := map[string]bool{} // volume names
	for _, v := range list(pod, "volumes") {
		fromSecrets[str(v, "name")] = secretVolume(v)
	}
	for _, c := range list(pod, "containers") {
		where := str(d, "metadata", "name") + "/" + str(c, "name")
		e := env(c.(obj))
		for _, name := range secretEnv {
			if v, ok := e[name]; ok {
				if _, literal := v["value"]; literal || str(v, "valueFrom", "secretKeyRef", "name") == "" {
					t.Errorf("%s: %s is not from a secretKeyRef: %v", where, name, v)
				}
			}
			if v, ok := e[name+"_FILE"]; ok {
				if !mountedFrom(c, str(v, "value"), fromSecrets) {
					t.Errorf("%s: %s_FILE=%s is not in a volume of Secrets", where, name, str(v, "value"))
				}
			}
		}
	}
}

// secretVolume tells whether a volume holds Secrets and nothing else.
func secretVolume(v any) bool {
	if get(v, "secret") != nil {
		return true
	}
	sources := list(v, "projected", "sources")
	for _, s := range sources {
		if get(s, "secret") == nil {
			return false
		}
	}
	return len(sources) > 0
}

// mountedFrom tells whether path lies in a mount of one of the volumes ok names.
func mountedFrom(c any, path string, ok map[string]bool) bool {
	for _, m := range list(c, "volumeMounts") {
		if dir := str(m, "mountPath"); ok[str(m, "name")] && strings.HasPrefix(path, strings.TrimSuffix(dir, "/")+"/") {
			return true
		}
	}
	return false
}

// checkNoSecretValues: the chart creates no Secret and renders no key or URL.
func checkNoSecretValues(t *testing.T, m manifests, out string) {
	t.Helper()
	for id := range m {
		if strings.HasPrefix(id, "Secret/") {
			t.Errorf("the chart renders %s: secrets are the user's", id)
		}
	}
	for _, s := range []string{"fl_live_", "redis://", "rediss://", "redis-sentinel://"} {
		if strings.Contains(out, s) {
			t.Errorf("the rendered manifests hold %q", s)
		}
	}
}

// checkDefault: the default values give a fixed number of workers, the worker's
// own default shutdown timeout, and nothing that needs a CRD.
func checkDefault(t *testing.T, m manifests) {
	t.Helper()
	w := m.must(t, "Deployment/"+workerName)
	if _, ok := num(w, "spec", "replicas"); !ok {
		t.Error("the worker Deployment has no replicas")
	}
	if got := str(env(container(t, w, "worker"))["BULKINVITE_SHUTDOWN_TIMEOUT"], "value"); got != fmt.Sprintf("%ds", int(worker.DefaultShutdownTimeout.Seconds())) {
		t.Errorf("BULKINVITE_SHUTDOWN_TIMEOUT %q, want the worker's default %s", got, worker.DefaultShutdownTimeout)
	}
	for id := range m {
		if k, _, _ := strings.Cut(id, "/"); slices.Contains([]string{"ServiceMonitor", "PrometheusRule", "ScaledObject"}, k) {
			t.Errorf("the default values render %s", id)
		}
	}
}

// checkFull: with every option, the alert rules are docs/alerts.yaml's, KEDA
// scales the worker Deployment on our metrics, and the ServiceMonitor scrapes
// the workers' metrics port.
func checkFull(t *testing.T, m manifests) {
	t.Helper()
	var docs obj
	if err := yaml.Unmarshal(readFile(t, docsAlerts), &docs); err != nil {
		t.Fatal(err)
	}
	rule := m.must(t, "PrometheusRule/bi-bulkinvite")
	if !reflect.DeepEqual(get(rule, "spec", "groups"), docs["groups"]) {
		t.Errorf("the PrometheusRule's groups differ from %s", docsAlerts)
	}

	w := m.must(t, "Deployment/"+workerName)
	if _, ok := num(w, "spec", "replicas"); ok {
		t.Error("the worker Deployment sets replicas, which KEDA owns")
	}
	so := m.must(t, "ScaledObject/"+workerName)
	if got := str(so, "spec", "scaleTargetRef", "name"); got != workerName {
		t.Errorf("the ScaledObject scales %q", got)
	}
	trig := get(so, "spec", "triggers", 0)
	if str(trig, "type") != "prometheus" || !strings.Contains(str(trig, "metadata", "query"), "asynq_tasks_enqueued_total") ||
		str(trig, "metadata", "threshold") == "" || str(trig, "metadata", "serverAddress") == "" {
		t.Errorf("the ScaledObject's trigger: %v", trig)
	}

	sm := m.must(t, "ServiceMonitor/bi-bulkinvite")
	svc := m.must(t, "Service/"+workerName+"-metrics")
	for k, v := range get(sm, "spec", "selector", "matchLabels").(obj) {
		if get(svc, "metadata", "labels", k) != v {
			t.Errorf("the ServiceMonitor selects %s=%v, which the workers' metrics Service lacks", k, v)
		}
	}
	if str(sm, "spec", "endpoints", 0, "port") != str(svc, "spec", "ports", 0, "name") {
		t.Errorf("the ServiceMonitor scrapes port %q, the Service's is %q", str(sm, "spec", "endpoints", 0, "port"), str(svc, "spec", "ports", 0, "name"))
	}
	if !reflect.DeepEqual(get(svc, "spec", "selector"), get(w, "spec", "selector", "matchLabels")) {
		t.Error("the workers' metrics Service does not select the worker pods")
	}
	if str(sm, "spec", "endpoints", 1, "authorization", "credentials", "name") == "" {
		t.Error("the ServiceMonitor scrapes serve without a token from a Secret")
	}
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
