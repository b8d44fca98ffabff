{{- define "canary.name" -}}obs-conformance-canary{{- end -}}

{{- define "canary.labels" -}}
app.kubernetes.io/name: {{ include "canary.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "canary.selector" -}}
app.kubernetes.io/name: {{ include "canary.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "canary.fullname" -}}{{ printf "%s-%s" .Release.Name (include "canary.name" .) | trunc 63 | trimSuffix "-" }}{{- end -}}

{{/* Cluster-scoped objects (the ClusterRole and its binding) are named after the release AND its namespace:
     named after the release only, two installs of one release name in two namespaces would collide. */}}
{{- define "canary.clusterName" -}}{{ printf "%s-%s" .Release.Namespace (include "canary.fullname" .) | trunc 253 | trimSuffix "-" }}{{- end -}}

{{/* The pod spec's volumes and the container's environment, shared by the Deployment and the helm test. */}}
{{- define "canary.volumes" -}}
- name: env
  configMap:
    name: {{ include "canary.fullname" . }}
    items:
      - key: env-file
        path: {{ .Values.env.name }}/{{ .Values.env.name }}.env
- name: kube
  configMap:
    name: {{ include "canary.fullname" . }}
    items:
      - key: kubeconfig
        path: kubeconfig
- name: work
  emptyDir: {}
- name: tmp
  emptyDir: {}
{{- end -}}

{{- define "canary.mounts" -}}
- {name: env, mountPath: /work/environments, readOnly: true}
- {name: kube, mountPath: /etc/obs-conformance/kube, readOnly: true}
- {name: work, mountPath: /work/reports}
- {name: tmp, mountPath: /tmp}
{{- end -}}

{{- define "canary.container" -}}
image: {{ printf "%s:%s" .Values.image.repository .Values.image.tag | quote }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
{{- with .Values.env.secretName }}
envFrom:
  - secretRef:
      name: {{ . }}
{{- end }}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities: {drop: [ALL]}
volumeMounts:
  {{- include "canary.mounts" . | nindent 2 }}
{{- end -}}

{{- define "canary.podSecurity" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile: {type: RuntimeDefault}
{{- end -}}
