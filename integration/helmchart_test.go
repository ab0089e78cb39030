package integration

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"text/template"

	"sigs.k8s.io/yaml"
)

// chartConfigMap is the data of the ConfigMap template of the official
// coredns Helm chart (github.com/coredns/helm, charts/coredns/templates/
// configmap.yaml, chart 1.46), verbatim from "data:" on: the tests render
// deploy/helm/values.yaml with it as helm would, to read the Corefile a
// cluster would get.
const chartConfigMap = `data:
  Corefile: |-
    {{- range $name, $conf := .Values.extraConfig }}
    {{ $name }}{{ if $conf.parameters }} {{ $conf.parameters }}{{ end }}
    {{- end }}
    {{ range .Values.servers }}
    {{- range $idx, $zone := .zones }}{{ if $idx }} {{ else }}{{ end }}{{ default "" $zone.scheme }}{{ default "." $zone.zone }}{{ else }}.{{ end -}}
    {{- if .port }}:{{ .port }} {{ end -}}
    {
      {{- range .plugins }}
        {{ .name }}{{ if .parameters }} {{ .parameters }}{{ end }}{{ if .configBlock }} {
{{ .configBlock | indent 12 }}
        }{{ end }}
      {{- end }}
    }
    {{ end }}
  {{- range .Values.zoneFiles }}
  {{ .filename }}: {{ toYaml .contents | indent 4 }}
  {{- end }}
`

// chartFuncs are the few Sprig functions the template uses, with Sprig's
// meaning.
var chartFuncs = template.FuncMap{
	// default returns def when v is empty (nil, "", 0, false).
	"default": func(def, v any) any {
		switch x := v.(type) {
		case nil:
			return def
		case string:
			if x == "" {
				return def
			}
		case bool:
			if !x {
				return def
			}
		case float64:
			if x == 0 {
				return def
			}
		}
		return v
	},
	// indent puts n spaces before every line of s.
	"indent": func(n int, s any) string {
		pad := strings.Repeat(" ", n)
		return pad + strings.ReplaceAll(fmt.Sprint(s), "\n", "\n"+pad)
	},
	"toYaml": func(v any) (string, error) {
		b, err := yaml.Marshal(v)
		return strings.TrimSuffix(string(b), "\n"), err
	},
}

// renderChartCorefile renders values (the YAML of a values file, over the
// chart's defaults for what the template reads) through the chart's
// ConfigMap template and returns its Corefile.
func renderChartCorefile(t *testing.T, values []byte) string {
	t.Helper()
	vals := map[string]any{"extraConfig": map[string]any{}, "zoneFiles": []any{}}
	var user map[string]any
	if err := yaml.Unmarshal(values, &user); err != nil {
		t.Fatalf("values: %v", err)
	}
	for k, v := range user {
		vals[k] = v
	}
	tmpl, err := template.New("configmap.yaml").Funcs(chartFuncs).Parse(chartConfigMap)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := tmpl.Execute(&out, map[string]any{"Values": vals}); err != nil {
		t.Fatalf("rendering the chart's ConfigMap: %v", err)
	}
	// As the API server would read the manifest: YAML, whose block scalar
	// drops the template's indentation.
	var cm struct{ Data map[string]string }
	if err := yaml.Unmarshal([]byte(out.String()), &cm); err != nil {
		t.Fatalf("the rendered ConfigMap is not YAML: %v\n%s", err, out.String())
	}
	corefile, ok := cm.Data["Corefile"]
	if !ok {
		t.Fatalf("no Corefile in the rendered ConfigMap:\n%s", out.String())
	}
	return corefile
}

// TestChartRendererMirrorsTheChart renders the servers of the chart's own
// default values.yaml and compares them with the Corefile helm makes of them
// (helm template coredns/coredns, chart 1.46.2).
func TestChartRendererMirrorsTheChart(t *testing.T) {
	values := `
servers:
- zones:
  - zone: .
    use_tcp: true
  port: 53
  plugins:
  - name: errors
  - name: health
    configBlock: |-
      lameduck 10s
  - name: ready
  - name: kubernetes
    parameters: cluster.local in-addr.arpa ip6.arpa
    configBlock: |-
      pods insecure
      fallthrough in-addr.arpa ip6.arpa
      ttl 30
  - name: prometheus
    parameters: 0.0.0.0:9153
  - name: forward
    parameters: . /etc/resolv.conf
  - name: cache
    parameters: 30
  - name: loop
  - name: reload
  - name: loadbalance
`
	want := `.:53 {
    errors
    health {
        lameduck 10s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    prometheus 0.0.0.0:9153
    forward . /etc/resolv.conf
    cache 30
    loop
    reload
    loadbalance
}`
	if got := renderChartCorefile(t, []byte(values)); got != want {
		t.Errorf("rendered:\n%s\nwant:\n%s", got, want)
	}
}

// helmValuesCorefile is the Corefile the chart makes of deploy/helm/values.yaml.
func helmValuesCorefile(t *testing.T) string {
	t.Helper()
	values, err := os.ReadFile("../deploy/helm/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return renderChartCorefile(t, values)
}
