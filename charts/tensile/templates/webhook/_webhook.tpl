{{/* Whether this release runs the webhook. */}}
{{- define "tensile.webhook.enabled" -}}
{{- if and (eq .Values.cluster "upper") .Values.webhook.enabled }}true{{ end }}
{{- end }}

{{/* The DNS names the API server calls the webhook's Service by. */}}
{{- define "tensile.webhook.dnsNames" -}}
{{- $svc := printf "tensile-webhook.%s.svc" .Release.Namespace -}}
{{ list $svc (printf "%s.cluster.local" $svc) | toJson }}
{{- end }}

{{/* The Secret holding the serving key pair, for every mode but self. */}}
{{- define "tensile.webhook.tlsSecret" -}}
{{- if eq .Values.webhook.certificate.mode "secret" -}}
{{ required "webhook.certificate.secretName is required with webhook.certificate.mode=secret" .Values.webhook.certificate.secretName }}
{{- else -}}
tensile-webhook-tls
{{- end }}
{{- end }}
