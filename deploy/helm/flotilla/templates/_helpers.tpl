{{- define "flotilla.labels" -}}
app.kubernetes.io/name: flotilla
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{- define "flotilla.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}

{{- define "flotilla.pgSecret" -}}
{{- if .Values.postgresql.existingSecret -}}{{ .Values.postgresql.existingSecret }}{{- else -}}{{ .Release.Name }}-postgres{{- end -}}
{{- end -}}

{{- define "flotilla.storeEnv" -}}
{{- if .Values.postgresql.enabled }}
- name: PGPASSWORD
  valueFrom: { secretKeyRef: { name: {{ include "flotilla.pgSecret" . }}, key: password } }
- name: FLOTILLA_STORE
  value: "postgres://flotilla:$(PGPASSWORD)@{{ .Release.Name }}-postgres:5432/flotilla"
{{- else }}
- name: FLOTILLA_STORE
  valueFrom: { secretKeyRef: { name: {{ .Values.externalDatabase.existingSecret }}, key: url } }
{{- end }}
{{- with .Values.env }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "flotilla.runtimeEnv" -}}
{{ include "flotilla.storeEnv" . }}
- name: FLOTILLA_NAMESPACE
  valueFrom: { fieldRef: { fieldPath: metadata.namespace } }
- name: FLOTILLA_POD_NAME
  valueFrom: { fieldRef: { fieldPath: metadata.name } }
- name: FLOTILLA_POD_UID
  valueFrom: { fieldRef: { fieldPath: metadata.uid } }
- name: FLOTILLA_AGENT_IMAGE
  value: {{ default (include "flotilla.image" .) .Values.agents.image | quote }}
- name: FLOTILLA_AGENT_SERVICE_ACCOUNT
  value: {{ .Values.agents.serviceAccountName | quote }}
{{- end -}}

{{- define "flotilla.securityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities: { drop: ["ALL"] }
{{- end -}}
