{{/* The chart's name, and the objects' base name: the release's, with the chart's name unless it holds it. */}}
{{- define "bulkinvite.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "bulkinvite.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object; "bulkinvite.selectorLabels" with a component picks the worker's or serve's pods. */}}
{{- define "bulkinvite.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "bulkinvite.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "bulkinvite.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bulkinvite.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "bulkinvite.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/*
The pod's security context: the image's nonroot user by number (Kubernetes
cannot check runAsNonRoot against the name "nonroot"), the runtime's default
seccomp profile, no service account token.
*/}}
{{- define "bulkinvite.podSecurity" -}}
automountServiceAccountToken: false
securityContext:
  runAsNonRoot: true
  runAsUser: 65532
  runAsGroup: 65532
  fsGroup: 65532
  seccompProfile:
    type: RuntimeDefault
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The container's security context: read-only root, no privilege escalation, no capabilities. */}}
{{- define "bulkinvite.containerSecurity" -}}
securityContext:
  runAsNonRoot: true
  readOnlyRootFilesystem: true
  allowPrivilegeEscalation: false
  capabilities:
    drop: ["ALL"]
{{- end -}}

{{/* Where a secret given asFile is mounted, under one projected volume. */}}
{{- define "bulkinvite.secretDir" -}}/run/secrets/bulkinvite{{- end -}}

{{/*
One secret's environment variable: dict "secret" (a .Values.secrets entry),
"env" (its variable; asFile sets env_FILE) and "file" (its file name when asFile).
*/}}
{{- define "bulkinvite.secretEnv" -}}
{{- if .secret.asFile }}
- name: {{ .env }}_FILE
  value: {{ include "bulkinvite.secretDir" . }}/{{ .file }}
{{- else }}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret.name }}
      key: {{ .secret.key }}
{{- end }}
{{- end -}}

{{/* The projected volume's source for one secret given asFile: dict "secret", "file". */}}
{{- define "bulkinvite.secretSource" -}}
{{- if .secret.asFile }}
- secret:
    name: {{ .secret.name }}
    items:
      - key: {{ .secret.key }}
        path: {{ .file }}
{{- end }}
{{- end -}}

{{/* Names .Values.settings may not set, with where each comes from instead. */}}
{{- define "bulkinvite.reservedSettings" -}}
REDIS_URL: secrets.redisURL
FLOWMINGO_API_KEY: secrets.apiKey
FLOWMINGO_API_KEY_FILE: secrets.apiKey.asFile
BULKINVITE_TOKENS: secrets.tokens
BULKINVITE_TOKENS_FILE: secrets.tokens.asFile
BULKINVITE_CALLBACK_SECRET: secrets.callbackSecret
BULKINVITE_CALLBACK_SECRET_FILE: secrets.callbackSecret.asFile
BULKINVITE_SHUTDOWN_TIMEOUT: worker.shutdownTimeoutSeconds
BULKINVITE_CONFIG: settings (each setting by its variable)
{{- end -}}

{{/* .Values.settings as environment variables, after checking their names. */}}
{{- define "bulkinvite.settingsEnv" -}}
{{- $reserved := include "bulkinvite.reservedSettings" . | fromYaml }}
{{- range $name, $value := .Values.settings }}
{{- if hasKey $reserved $name }}
{{- fail (printf "settings.%s: set it with %s" $name (get $reserved $name)) }}
{{- end }}
{{- if not (or (hasPrefix "BULKINVITE_" $name) (has $name (list "FLOWMINGO_API_URL" "GOGC" "GOMEMLIMIT"))) }}
{{- fail (printf "settings.%s: not a setting (BULKINVITE_*, FLOWMINGO_API_URL, GOGC or GOMEMLIMIT)" $name) }}
{{- end }}
{{- $v := toString $value }}
{{- if and (kindIs "float64" $value) (eq (floor $value) $value) }}
{{- /* a YAML integer reaches the template as a float: 1073741824, not 1.073741824e+09 */}}
{{- $v = printf "%d" (int64 $value) }}
{{- end }}
- name: {{ $name }}
  value: {{ $v | quote }}
{{- end }}
{{- end -}}

{{/* The secrets both the worker and serve read, and the settings. */}}
{{- define "bulkinvite.commonEnv" -}}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "secrets.redisURL.name: the Secret holding REDIS_URL" .Values.secrets.redisURL.name }}
      key: {{ .Values.secrets.redisURL.key }}
{{- $_ := required "secrets.apiKey.name: the Secret holding the Flowmingo API key" .Values.secrets.apiKey.name }}
{{- include "bulkinvite.secretEnv" (dict "secret" .Values.secrets.apiKey "env" "FLOWMINGO_API_KEY" "file" "api-key") }}
{{- if .Values.secrets.callbackSecret.name }}
{{- include "bulkinvite.secretEnv" (dict "secret" .Values.secrets.callbackSecret "env" "BULKINVITE_CALLBACK_SECRET" "file" "callback-secret") }}
{{- end }}
{{- include "bulkinvite.settingsEnv" . }}
{{- end -}}

{{/*
The projected volume's sources of a pod's secrets given asFile: dict "root"
and "tokens" (whether serve's tokens are among them).
*/}}
{{- define "bulkinvite.secretSources" -}}
{{- $v := .root.Values.secrets }}
{{- include "bulkinvite.secretSource" (dict "secret" $v.apiKey "file" "api-key") }}
{{- if $v.callbackSecret.name }}
{{- include "bulkinvite.secretSource" (dict "secret" $v.callbackSecret "file" "callback-secret") }}
{{- end }}
{{- if .tokens }}
{{- include "bulkinvite.secretSource" (dict "secret" $v.tokens "file" "tokens") }}
{{- end }}
{{- end -}}

{{/*
A pod's volumes: /tmp (an emptyDir of at most "sizeLimit") and the secrets
given asFile, under one projected volume; dict "root", "tokens", "sizeLimit".
*/}}
{{- define "bulkinvite.volumes" -}}
{{- $sources := include "bulkinvite.secretSources" . -}}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: {{ .sizeLimit }}
{{- if $sources }}
  - name: secrets
    projected:
      defaultMode: 0440
      sources:
{{- $sources | trim | nindent 8 }}
{{- end }}
{{- end -}}

{{/* The container's mounts of those volumes; dict "root", "tokens". */}}
{{- define "bulkinvite.volumeMounts" -}}
volumeMounts:
  - name: tmp
    mountPath: /tmp
{{- if include "bulkinvite.secretSources" . }}
  - name: secrets
    mountPath: {{ include "bulkinvite.secretDir" . }}
    readOnly: true
{{- end }}
{{- end -}}
