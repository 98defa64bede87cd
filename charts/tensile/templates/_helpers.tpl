{{/* Labels of every object: the standard app.kubernetes.io set and helm.sh/chart.
Call with (dict "ctx" $ "name" "<app.kubernetes.io/name>" "component" "<component>"). */}}
{{- define "tensile.labels" -}}
{{ include "tensile.selectorLabels" . }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: tensile
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" }}
{{- end }}

{{/* Labels a Deployment selects its pods by (immutable once installed). */}}
{{- define "tensile.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- end }}

{{/* The image of a component: <registry>/<component>:<tag>. Call with (dict "ctx" $ "component" "webhook"). */}}
{{- define "tensile.image" -}}
{{ .ctx.Values.image.registry }}/{{ .component }}:{{ .ctx.Values.image.tag | default .ctx.Chart.AppVersion }}
{{- end }}

{{/* Pod settings every component shares. */}}
{{- define "tensile.podCommon" -}}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- toYaml . | nindent 0 }}
{{- end }}
{{- end }}

{{/* The restricted container security context of every component. */}}
{{- define "tensile.securityContext" -}}
securityContext:
  allowPrivilegeEscalation: false
  capabilities: {drop: [ALL]}
  readOnlyRootFilesystem: true
  runAsNonRoot: true
  runAsUser: 65532
{{- end }}

{{/* Names the chart gives its ServiceAccounts (fixed: the RBAC and the tests refer to them). */}}
{{- define "tensile.virtualNode.serviceAccount" -}}tensile-virtual-node{{- end }}
{{- define "tensile.webhook.name" -}}tensile-webhook{{- end }}
