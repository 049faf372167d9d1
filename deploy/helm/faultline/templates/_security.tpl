{{/*
Security settings of each component: the env, volumeMounts and volumes that the tls, auth
and nats.auth / nats.tls values add (docs/deploy.md, "Securing an install"). Each helper
prints list items, or nothing when its part is off; templates insert them with
`with include` piped to `trim`. Secrets are mounted read-only, by name, one directory each,
under /etc/faultline; the variables point at files in them.
*/}}

{{/* NATS credentials and CA of one role (controller, detector): env. include "faultline.natsEnv" (dict "root" . "role" "detector") */}}
{{- define "faultline.natsEnv" -}}
{{- $auth := index .root.Values.nats.auth .role }}
{{- if $auth.secretName }}
- name: {{ ternary "FAULTLINE_NATS_CREDS" "FAULTLINE_NATS_NKEY_FILE" (eq $auth.format "creds") }}
  value: /etc/faultline/nats/{{ $auth.key }}
{{- end }}
{{- with .root.Values.nats.tls.caSecret }}
{{- if .name }}
- name: FAULTLINE_NATS_CA
  value: /etc/faultline/nats-ca/{{ .key }}
{{- end }}
{{- end }}
{{- end }}

{{/* NATS credentials and CA of one role: volumeMounts. */}}
{{- define "faultline.natsVolumeMounts" -}}
{{- $auth := index .root.Values.nats.auth .role }}
{{- if $auth.secretName }}
- name: nats-credentials
  mountPath: /etc/faultline/nats
  readOnly: true
{{- end }}
{{- if .root.Values.nats.tls.caSecret.name }}
- name: nats-ca
  mountPath: /etc/faultline/nats-ca
  readOnly: true
{{- end }}
{{- end }}

{{/* A Secret volume of one key: include "faultline.secretVolume" (dict "name" "tls" "secret" "s" "keys" (list "tls.crt") "mode" 288) */}}
{{- define "faultline.secretVolume" -}}
- name: {{ .name }}
  secret:
    secretName: {{ .secret }}
    defaultMode: {{ .mode }}
    items:
      {{- range .keys }}
      - key: {{ . | quote }}
        path: {{ . | quote }}
      {{- end }}
{{- end }}

{{/* NATS credentials and CA of one role: volumes. Seeds 0440, CAs 0444 (group 10001). */}}
{{- define "faultline.natsVolumes" -}}
{{- $auth := index .root.Values.nats.auth .role }}
{{- if $auth.secretName }}
{{ include "faultline.secretVolume" (dict "name" "nats-credentials" "secret" $auth.secretName "keys" (list $auth.key) "mode" 288) }}
{{- end }}
{{- with .root.Values.nats.tls.caSecret }}
{{- if .name }}
{{ include "faultline.secretVolume" (dict "name" "nats-ca" "secret" .name "keys" (list .key) "mode" 292) }}
{{- end }}
{{- end }}
{{- end }}

{{/* The controller's TLS certificate, client CA and token files, and its NATS settings: env. */}}
{{- define "faultline.controllerSecurityEnv" -}}
{{- $tls := .Values.tls }}
{{- if $tls.enabled }}
- name: FAULTLINE_CONTROLLER_TLS_CERT
  value: /etc/faultline/tls/tls.crt
- name: FAULTLINE_CONTROLLER_TLS_KEY
  value: /etc/faultline/tls/tls.key
{{- end }}
{{- if $tls.clientCA.enabled }}
- name: FAULTLINE_CONTROLLER_TLS_CLIENT_CA
  value: /etc/faultline/client-ca/{{ $tls.clientCA.key }}
{{- end }}
{{- with .Values.auth.tokenSecret }}
{{- if .name }}
- name: FAULTLINE_CONTROLLER_TOKEN_FILE
  value: /etc/faultline/cli-tokens/{{ .key }}
{{- end }}
{{- end }}
{{- with .Values.auth.agentTokenSecret }}
{{- if .name }}
- name: FAULTLINE_CONTROLLER_AGENT_TOKEN_FILE
  value: /etc/faultline/agent-tokens/{{ .key }}
{{- end }}
{{- end }}
{{- include "faultline.natsEnv" (dict "root" . "role" "controller") }}
{{- end }}

{{- define "faultline.controllerSecurityVolumeMounts" -}}
{{- if .Values.tls.enabled }}
- name: tls
  mountPath: /etc/faultline/tls
  readOnly: true
{{- end }}
{{- if .Values.tls.clientCA.enabled }}
- name: client-ca
  mountPath: /etc/faultline/client-ca
  readOnly: true
{{- end }}
{{- if .Values.auth.tokenSecret.name }}
- name: cli-tokens
  mountPath: /etc/faultline/cli-tokens
  readOnly: true
{{- end }}
{{- if .Values.auth.agentTokenSecret.name }}
- name: agent-tokens
  mountPath: /etc/faultline/agent-tokens
  readOnly: true
{{- end }}
{{- include "faultline.natsVolumeMounts" (dict "root" . "role" "controller") }}
{{- end }}

{{- define "faultline.controllerSecurityVolumes" -}}
{{- $tls := .Values.tls }}
{{- if $tls.enabled }}
{{ include "faultline.secretVolume" (dict "name" "tls" "secret" $tls.secretName "keys" (list "tls.crt" "tls.key") "mode" 288) }}
{{- end }}
{{- if $tls.clientCA.enabled }}
{{ include "faultline.secretVolume" (dict "name" "client-ca" "secret" (default $tls.secretName $tls.clientCA.secretName) "keys" (list $tls.clientCA.key) "mode" 292) }}
{{- end }}
{{- with .Values.auth.tokenSecret }}
{{- if .name }}
{{ include "faultline.secretVolume" (dict "name" "cli-tokens" "secret" .name "keys" (list .key) "mode" 288) }}
{{- end }}
{{- end }}
{{- with .Values.auth.agentTokenSecret }}
{{- if .name }}
{{ include "faultline.secretVolume" (dict "name" "agent-tokens" "secret" .name "keys" (list .key) "mode" 288) }}
{{- end }}
{{- end }}
{{- include "faultline.natsVolumes" (dict "root" . "role" "controller") }}
{{- end }}

{{/*
The agent's: the controller's CA, its client certificate (csi or hostPath), its token, its
NATS credentials and the NATS CA. Files named by agent id (hostPath certificates, NATS seeds)
are picked by the container's wrapper from AGENT_TLS_DIR, AGENT_NATS_SEED_DIR and
AGENT_NATS_CREDS_DIR once it knows the id; AGENT_ID_FROM_POD makes the pod name the id.
*/}}
{{- define "faultline.agentSecurityEnv" -}}
{{- $tls := .Values.tls }}
{{- $nats := .Values.nats.auth.agent }}
{{- if $tls.enabled }}
- name: FAULTLINE_AGENT_TLS_CA
  value: /etc/faultline/controller-ca/{{ $tls.ca.key }}
{{- with $tls.serverName }}
- name: FAULTLINE_AGENT_TLS_SERVER_NAME
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- if eq $tls.agentCertificates.source "csi" }}
- name: AGENT_ID_FROM_POD
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: FAULTLINE_AGENT_TLS_CERT
  value: /etc/faultline/agent-tls/tls.crt
- name: FAULTLINE_AGENT_TLS_KEY
  value: /etc/faultline/agent-tls/tls.key
{{- else if eq $tls.agentCertificates.source "hostPath" }}
- name: AGENT_TLS_DIR
  value: /etc/faultline/agent-tls
{{- end }}
{{- with .Values.auth.agentTokenSecret }}
{{- if .name }}
- name: FAULTLINE_AGENT_TOKEN_FILE
  value: /etc/faultline/agent-token/{{ .key }}
{{- end }}
{{- end }}
{{- if or $nats.secretName $nats.hostPath }}
- name: {{ ternary "AGENT_NATS_CREDS_DIR" "AGENT_NATS_SEED_DIR" (eq $nats.format "creds") }}
  value: /etc/faultline/nats
{{- end }}
{{- with .Values.nats.tls.caSecret }}
{{- if .name }}
- name: FAULTLINE_NATS_CA
  value: /etc/faultline/nats-ca/{{ .key }}
{{- end }}
{{- end }}
{{- end }}

{{- define "faultline.agentSecurityVolumeMounts" -}}
{{- if .Values.tls.enabled }}
- name: controller-ca
  mountPath: /etc/faultline/controller-ca
  readOnly: true
{{- end }}
{{- if ne .Values.tls.agentCertificates.source "none" }}
- name: agent-tls
  mountPath: /etc/faultline/agent-tls
  readOnly: true
{{- end }}
{{- if .Values.auth.agentTokenSecret.name }}
- name: agent-token
  mountPath: /etc/faultline/agent-token
  readOnly: true
{{- end }}
{{- if or .Values.nats.auth.agent.secretName .Values.nats.auth.agent.hostPath }}
- name: nats-credentials
  mountPath: /etc/faultline/nats
  readOnly: true
{{- end }}
{{- if .Values.nats.tls.caSecret.name }}
- name: nats-ca
  mountPath: /etc/faultline/nats-ca
  readOnly: true
{{- end }}
{{- end }}

{{- define "faultline.agentSecurityVolumes" -}}
{{- $tls := .Values.tls }}
{{- $certs := $tls.agentCertificates }}
{{- $nats := .Values.nats.auth.agent }}
{{- if $tls.enabled }}
{{ include "faultline.secretVolume" (dict "name" "controller-ca" "secret" (default $tls.secretName $tls.ca.secretName) "keys" (list $tls.ca.key) "mode" 292) }}
{{- end }}
{{- if eq $certs.source "csi" }}
# One certificate per pod from cert-manager's csi-driver: CN and DNS SAN the pod name (the
# agent's id then), key made on the node and never stored in a Secret.
- name: agent-tls
  csi:
    driver: {{ $certs.csi.driver }}
    readOnly: true
    volumeAttributes:
      csi.cert-manager.io/issuer-name: {{ $certs.csi.issuerName | quote }}
      csi.cert-manager.io/issuer-kind: {{ $certs.csi.issuerKind | quote }}
      csi.cert-manager.io/issuer-group: {{ $certs.csi.issuerGroup | quote }}
      csi.cert-manager.io/common-name: '${POD_NAME}'
      csi.cert-manager.io/dns-names: '${POD_NAME}'
      csi.cert-manager.io/key-usages: client auth,digital signature,key encipherment
      csi.cert-manager.io/duration: {{ $certs.csi.duration | quote }}
      csi.cert-manager.io/fs-group: {{ .Values.agent.securityContext.runAsGroup | int64 | quote }}
{{- else if eq $certs.source "hostPath" }}
- name: agent-tls
  hostPath:
    path: {{ $certs.hostPath }}
    type: Directory
{{- end }}
{{- with .Values.auth.agentTokenSecret }}
{{- if .name }}
{{ include "faultline.secretVolume" (dict "name" "agent-token" "secret" .name "keys" (list .key) "mode" 288) }}
{{- end }}
{{- end }}
{{- if $nats.secretName }}
# Every agent's seed, named <agent id>.nk: the wrapper picks its own.
- name: nats-credentials
  secret:
    secretName: {{ $nats.secretName }}
    defaultMode: 288
{{- else if $nats.hostPath }}
# This node's own seed, <agent id>.nk, put there by node provisioning.
- name: nats-credentials
  hostPath:
    path: {{ $nats.hostPath }}
    type: Directory
{{- end }}
{{- with .Values.nats.tls.caSecret }}
{{- if .name }}
{{ include "faultline.secretVolume" (dict "name" "nats-ca" "secret" .name "keys" (list .key) "mode" 292) }}
{{- end }}
{{- end }}
{{- end }}
