{{- define "cnictl.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "cnictl.labels" -}}
app.kubernetes.io/name: cnictl
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{- define "cnictl.selector" -}}
app.kubernetes.io/name: cnictl
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
