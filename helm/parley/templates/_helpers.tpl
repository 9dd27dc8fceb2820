{{/* Names and labels. */}}
{{- define "parley.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "parley.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "parley.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "parley.selectorLabels" -}}
app.kubernetes.io/name: {{ include "parley.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "parley.labels" -}}
helm.sh/chart: {{ include "parley.chart" . }}
{{ include "parley.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: parley
{{- end -}}

{{- define "parley.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "parley.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
An image reference. global.imageRegistry replaces the image's own registry for EVERY image;
a digest wins over the tag; "latest" and empty tags are refused (pin versions).
Usage: include "parley.image" (dict "image" .Values.image "global" .Values.global "default" .Chart.AppVersion)
*/}}
{{- define "parley.image" -}}
{{- $registry := .image.registry -}}
{{- if .global.imageRegistry -}}{{- $registry = .global.imageRegistry -}}{{- end -}}
{{- $tag := .image.tag | default .default | toString -}}
{{- if or (eq $tag "latest") (eq $tag "") -}}
{{- fail (printf "image %s: the tag %q is not allowed; pin a version (e.g. %s) or a digest" .image.repository $tag .default) -}}
{{- end -}}
{{- $ref := printf "%s:%s" .image.repository $tag -}}
{{- if $registry -}}{{- $ref = printf "%s/%s" (trimSuffix "/" $registry) $ref -}}{{- end -}}
{{- if .image.digest -}}
{{- $ref = printf "%s@%s" (regexReplaceAll ":[^:/]*$" $ref "") .image.digest -}}
{{- end -}}
{{- $ref -}}
{{- end -}}

{{- /* The build's version may carry build metadata ("0.2.0+37.g1a2b3c4"); image tags cannot
hold "+", so the image is tagged with "_" instead (scripts/build-info.ts imageTag). */ -}}
{{- define "parley.appImage" -}}
{{- include "parley.image" (dict "image" .Values.image "global" .Values.global "default" (.Chart.AppVersion | replace "+" "_")) -}}
{{- end -}}

{{/* Pull secrets for every pod: global ones plus the image's own. */}}
{{- define "parley.imagePullSecrets" -}}
{{- $secrets := concat (.Values.global.imagePullSecrets | default list) (.Values.imagePullSecrets | default list) -}}
{{- if $secrets }}
imagePullSecrets:
{{- range $secrets }}
  - name: {{ if kindIs "string" . }}{{ . }}{{ else }}{{ .name }}{{ end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Secret names. */}}
{{- define "parley.secretsName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "parley.fullname" .)) -}}
{{- end -}}
{{- define "parley.databaseSecretName" -}}
{{- .Values.database.existingSecret | default (printf "%s-database" (include "parley.fullname" .)) -}}
{{- end -}}
{{- define "parley.databaseSecretKey" -}}
{{- if .Values.database.existingSecret -}}{{ .Values.database.existingSecretKey }}{{- else -}}DATABASE_URL{{- end -}}
{{- end -}}
{{- define "parley.postgresqlName" -}}
{{- printf "%s-postgresql" (include "parley.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- define "parley.postgresqlSecretName" -}}
{{- .Values.postgresql.existingSecret | default (include "parley.postgresqlName" .) -}}
{{- end -}}

{{/*
A generated-once secret value, base64-encoded: the value the live Secret already holds
(`lookup`), else the given value, else a new random one. Existing values win over values
given later so that an upgrade can never rotate a key by accident (rotate on purpose with
kubectl; docs/OPERATIONS.md). Usage:
include "parley.generatedValue" (dict "ctx" $ "secret" NAME "key" KEY "given" VALUE "length" 48 "legacy" OLD_SECRET)
*/}}
{{- define "parley.generatedValue" -}}
{{- /* Memoised per render, so that two templates asking for the same key (the bundled
PostgreSQL password in two Secrets, the checksum annotation) get the same value. */ -}}
{{- $cache := .ctx.Values._parleyGenerated | default dict -}}
{{- $_ := set .ctx.Values "_parleyGenerated" $cache -}}
{{- $cacheKey := printf "%s/%s" .secret .key -}}
{{- if not (hasKey $cache $cacheKey) -}}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace .secret -}}
{{- $data := dict -}}
{{- if $existing -}}{{- $data = $existing.data | default dict -}}{{- end -}}
{{- /* A value that an earlier installer generated into its own Secret (before the chart's
Secret was the one owner) is taken over, so that no key ever changes. */ -}}
{{- $legacyData := dict -}}
{{- if .legacy -}}
{{- $legacy := lookup "v1" "Secret" .ctx.Release.Namespace .legacy -}}
{{- if $legacy -}}{{- $legacyData = $legacy.data | default dict -}}{{- end -}}
{{- end -}}
{{- if hasKey $data .key -}}
{{- $_ := set $cache $cacheKey (index $data .key) -}}
{{- else if hasKey $legacyData .key -}}
{{- $_ := set $cache $cacheKey (index $legacyData .key) -}}
{{- else if .given -}}
{{- $_ := set $cache $cacheKey (.given | toString | b64enc) -}}
{{- else -}}
{{- $_ := set $cache $cacheKey (randAlphaNum (int .length) | b64enc) -}}
{{- end -}}
{{- end -}}
{{- index $cache $cacheKey -}}
{{- end -}}

{{/* Environment shared by the app, the migrator, its init container, backups and tests. */}}
{{- define "parley.env" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "parley.databaseSecretName" . }}
      key: {{ include "parley.databaseSecretKey" . }}
- name: PARLEY_VISITOR_TOKEN_SECRET
  valueFrom:
    secretKeyRef: { name: {{ include "parley.secretsName" . }}, key: PARLEY_VISITOR_TOKEN_SECRET }
- name: PARLEY_ENCRYPTION_KEYS
  valueFrom:
    secretKeyRef: { name: {{ include "parley.secretsName" . }}, key: PARLEY_ENCRYPTION_KEYS }
- name: PARLEY_LOOKUP_KEY
  valueFrom:
    secretKeyRef: { name: {{ include "parley.secretsName" . }}, key: PARLEY_LOOKUP_KEY }
- name: PARLEY_AUDIT_SIGNING_KEY
  valueFrom:
    secretKeyRef: { name: {{ include "parley.secretsName" . }}, key: PARLEY_AUDIT_SIGNING_KEY }
- name: PARLEY_AUDIT_MAC_KEYS
  valueFrom:
    secretKeyRef: { name: {{ include "parley.secretsName" . }}, key: PARLEY_AUDIT_MAC_KEYS, optional: true }
- name: PARLEY_INITIAL_ADMIN_PASSWORD
  valueFrom:
    secretKeyRef: { name: {{ include "parley.secretsName" . }}, key: PARLEY_INITIAL_ADMIN_PASSWORD, optional: true }
- name: PARLEY_METRICS_TOKEN
  valueFrom:
    secretKeyRef: { name: {{ include "parley.secretsName" . }}, key: PARLEY_METRICS_TOKEN, optional: true }
{{- end -}}

{{- define "parley.publicUrl" -}}
{{- if .Values.publicUrl -}}
{{- .Values.publicUrl -}}
{{- else if and .Values.ingress.enabled .Values.ingress.host -}}
{{- printf "%s://%s" (ternary "https" "http" .Values.ingress.tls.enabled) .Values.ingress.host -}}
{{- else -}}
{{- printf "http://%s.%s.svc" (include "parley.fullname" .) .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{/* Restricted security context for helper containers (same policy as the app). */}}
{{- define "parley.containerSecurityContext" -}}
{{- toYaml .Values.securityContext -}}
{{- end -}}

{{- define "parley.scheduling" -}}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end -}}
