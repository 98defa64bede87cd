{{/* The descheduler container and its policy volume, shared by the CronJob and the
Deployment; "args" are the mode's own flags. Call with (dict "ctx" $ "args" (list ...) "extra" "<yaml>"). */}}
{{- define "tensile.descheduler.container" -}}
- name: descheduler
  image: {{ include "tensile.image" (dict "ctx" .ctx "component" "descheduler") }}
  imagePullPolicy: {{ .ctx.Values.image.pullPolicy }}
  command: ["/descheduler"]
  args:
  - --policy-config-file=/policy-dir/policy.yaml
  {{- range .args }}
  - {{ . }}
  {{- end }}
  - --v=3
  {{- with get . "extra" }}
  {{- . | nindent 2 }}
  {{- end }}
  resources:
    {{- toYaml .ctx.Values.descheduler.resources | nindent 4 }}
  {{- include "tensile.securityContext" .ctx | nindent 2 }}
  volumeMounts:
  - name: policy
    mountPath: /policy-dir
  {{- with get . "mounts" }}
  {{- . | nindent 2 }}
  {{- end }}
{{- end }}

{{/* Ports and probes of the Deployment variant (the CronJob serves nothing). */}}
{{- define "tensile.descheduler.probes" -}}
ports:
- name: metrics
  containerPort: 10258
livenessProbe:
  httpGet: {path: /healthz, port: metrics, scheme: HTTPS}
  initialDelaySeconds: 3
  periodSeconds: 10
{{- end }}
