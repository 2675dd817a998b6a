{{/* Chart name, overridable. */}}
{{- define "rivetkube.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: the release name when it already contains the chart name (so
`helm install rivetkube` gives "rivetkube"), else "<release>-<chart>".
Object names append "-operator" and must stay within 63 characters.
*/}}
{{- define "rivetkube.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 54 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 54 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 54 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Name of the operator's Deployment, ClusterRole and friends. */}}
{{- define "rivetkube.operatorName" -}}
{{- printf "%s-operator" (include "rivetkube.fullname" .) }}
{{- end }}

{{- define "rivetkube.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "rivetkube.labels" -}}
helm.sh/chart: {{ include "rivetkube.chart" . }}
app.kubernetes.io/part-of: rivetkube
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ include "rivetkube.tag" . | quote }}
{{- end }}

{{/* Selector labels of the operator pods. */}}
{{- define "rivetkube.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rivetkube.name" . }}-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of the operator's own objects. */}}
{{- define "rivetkube.operatorLabels" -}}
{{ include "rivetkube.labels" . }}
{{ include "rivetkube.selectorLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "rivetkube.tag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{- define "rivetkube.image" -}}
{{- printf "%s:%s" .Values.image.repository (include "rivetkube.tag" .) }}
{{- end }}

{{/* The operator's ServiceAccount name. */}}
{{- define "rivetkube.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "rivetkube.operatorName" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}
