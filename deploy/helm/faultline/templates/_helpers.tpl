{{/*
Names, labels and the pieces every component shares.
*/}}

{{- define "faultline.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release's base name: fullnameOverride, else the release name when it already contains
the chart name, else "<release>-<chart>". Components append -agent, -controller, -detector.
*/}}
{{- define "faultline.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "faultline.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels of one component: include "faultline.selectorLabels" (dict "root" . "component" "agent") */}}
{{- define "faultline.selectorLabels" -}}
app.kubernetes.io/name: {{ include "faultline.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* All labels of one component's objects. */}}
{{- define "faultline.labels" -}}
helm.sh/chart: {{ include "faultline.chart" .root }}
{{ include "faultline.selectorLabels" . }}
app.kubernetes.io/part-of: faultline
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{/* Image of one component: include "faultline.image" (dict "root" . "values" .Values.agent) */}}
{{- define "faultline.image" -}}
{{- $tag := .values.image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion }}
{{- if .root.Values.image.registry }}
{{- printf "%s/%s:%s" (trimSuffix "/" .root.Values.image.registry) .values.image.repository $tag }}
{{- else }}
{{- printf "%s:%s" .values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* ServiceAccount name of one component. */}}
{{- define "faultline.serviceAccountName" -}}
{{- $given := index .root.Values.serviceAccount.names .component }}
{{- if .root.Values.serviceAccount.create }}
{{- default (printf "%s-%s" (include "faultline.fullname" .root) .component) $given }}
{{- else }}
{{- required (printf "serviceAccount.names.%s is required when serviceAccount.create is false" .component) $given }}
{{- end }}
{{- end }}

{{/* The controller's in-cluster gRPC address, host:port. */}}
{{- define "faultline.controllerAddress" -}}
{{- printf "%s-controller.%s.svc:%v" (include "faultline.fullname" .) .Release.Namespace .Values.controller.grpcPort }}
{{- end }}

{{/* Env var FAULTLINE_NATS_URL: from a Secret when nats.urlSecret.name is set, else nats.url. */}}
{{- define "faultline.natsUrlEnv" -}}
- name: FAULTLINE_NATS_URL
{{- if .Values.nats.urlSecret.name }}
  valueFrom:
    secretKeyRef:
      name: {{ .Values.nats.urlSecret.name }}
      key: {{ .Values.nats.urlSecret.key }}
{{- else }}
  value: {{ required "nats.url (or nats.urlSecret.name) is required" .Values.nats.url | quote }}
{{- end }}
{{- end }}

{{/* Env var FAULTLINE_REDIS_URL: from a Secret when redis.urlSecret.name is set, else redis.url. */}}
{{- define "faultline.redisUrlEnv" -}}
- name: FAULTLINE_REDIS_URL
{{- if .Values.redis.urlSecret.name }}
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.urlSecret.name }}
      key: {{ .Values.redis.urlSecret.key }}
{{- else }}
  value: {{ required "redis.url (or redis.urlSecret.name) is required" .Values.redis.url | quote }}
{{- end }}
{{- end }}

{{/* A container securityContext for a process that needs no privilege at all. */}}
{{- define "faultline.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* "k=v,..." from a map, keys sorted. */}}
{{- define "faultline.pairs" -}}
{{- $pairs := list }}
{{- range $k, $v := . }}
{{- $pairs = append $pairs (printf "%s=%v" $k $v) }}
{{- end }}
{{- join "," $pairs }}
{{- end }}
