package main

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestSubstitute(t *testing.T) {
	tests := []struct{ in, want string }{
		{`rate(x{instance=~"$instance"}[$__rate_interval])`, `rate(x{instance=~"placeholder"}[5m])`},
		{`rate(x{name=~"${name:regex}"}[${__interval}])`, `rate(x{name=~"placeholder"}[5m])`},
		{`increase(x[$__range]) / $__range_s`, `increase(x[5m]) / 300`},
		{`x{a="[[pool]]"} offset $__interval_ms`, `x{a="placeholder"} offset 300`},
		{`x{name=~"^app$|b$"}`, `x{name=~"^app$|b$"}`}, // regex anchors are not variables
		{`sum(x[5m:1m])`, `sum(x[5m:1m])`},
	}
	for _, tt := range tests {
		if got := substitute(tt.in); got != tt.want {
			t.Errorf("substitute(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCheckNames(t *testing.T) {
	tests := []struct {
		text string
		want []string
	}{
		{`max by (name) (coredns_failover_pool_up{instance="a", job='j'}) == 0`, nil},
		{`coredns_failover_probe_duration_seconds_bucket{le="0.5",result="pass"}`, nil},
		{`coredns_failover_probe_duration_seconds_sum / coredns_failover_probe_duration_seconds_count`, nil},
		{`coredns_failover_answers_total{reason="all_down primary", pool=""}`, nil},
		{`coredns_failover_pool_up {name=~"a,b=\"c\"", pool!~` + "`x`" + `}`, nil},
		{`my_coredns_failover_pool_up`, nil}, // another prefix
		{`coredns_failover_pools_up`, []string{"unknown metric coredns_failover_pools_up"}},
		{`coredns_failover_probe_duration_seconds`, []string{"unknown metric coredns_failover_probe_duration_seconds"}},
		{`coredns_failover_probes_total_bucket`, []string{"unknown metric coredns_failover_probes_total_bucket"}},
		{`rate(coredns_failover_probes_total{name="a", result="fail"}[5m])`, []string{"coredns_failover_probes_total has no label name"}},
		{`coredns_failover_pool_up{le="1"}`, []string{"coredns_failover_pool_up has no label le"}},
		{"coredns_failover_override{address=\"\"} and coredns_failover_overide", []string{"unknown metric coredns_failover_overide"}},
	}
	for _, tt := range tests {
		if got := checkNames(tt.text); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("checkNames(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestQueries(t *testing.T) {
	const input = `{"uid": "u", "title": "t",
	  "templating": {"list": [
	    {"name": "datasource", "type": "datasource", "query": "prometheus"},
	    {"name": "instance", "type": "query", "query": {"query": "label_values(coredns_failover_pool_up, instance)"}},
	    {"name": "name", "type": "query", "query": "label_values(coredns_failover_pool_up{instance=~\"$instance\"}, name)"}
	  ]},
	  "panels": [
	    {"id": 1, "type": "row", "title": "r", "panels": [
	      {"id": 2, "type": "timeseries", "title": "a", "targets": [{"refId": "A", "expr": "x[$__rate_interval]"}]}
	    ]},
	    {"id": 3, "type": "stat", "title": "b", "targets": [{"refId": "A", "expr": "y"}, {"refId": "B", "expr": " "}]},
	    {"id": 3, "type": "text", "title": "c"}
	  ]}`
	var d dashboard
	if err := json.Unmarshal([]byte(input), &d); err != nil {
		t.Fatal(err)
	}
	qs, problems := queries(&d)
	wantQs := []query{
		{"dashboard:panel_2_0", "x[5m]"},
		{"dashboard:panel_3_0", "y"},
		{"dashboard:variable_instance", "coredns_failover_pool_up"},
		{"dashboard:variable_name", `coredns_failover_pool_up{instance=~"placeholder"}`},
	}
	if !reflect.DeepEqual(qs, wantQs) {
		t.Errorf("queries = %q, want %q", qs, wantQs)
	}
	wantProblems := []string{`panel "b": target 1 has no expr`, `panel "c": id 3 given twice`, `panel "c" has no query`}
	if !reflect.DeepEqual(problems, wantProblems) {
		t.Errorf("problems = %q, want %q", problems, wantProblems)
	}
}

func TestRulesQuoting(t *testing.T) {
	expr := "sum by (reason) (rate(x{reason=\"all_down \\\\ \"}[5m]))\n  > 0 <= 1 & 'q'"
	out := rules([]query{{"dashboard:panel_1_0", expr}})
	_, line, ok := strings.Cut(out, "expr: ")
	if !ok {
		t.Fatalf("no expr in %q", out)
	}
	var got string
	if err := json.Unmarshal([]byte(strings.TrimSpace(line)), &got); err != nil || got != expr {
		t.Errorf("expr line %q decodes to %q (%v), want %q", line, got, err, expr)
	}
}

// TestRepositoryFiles runs the check on the files of monitoring/, so that go
// test catches a metric the plugin does not export even without promtool.
func TestRepositoryFiles(t *testing.T) {
	out, problems := check(filepath.Join("..", "grafana-dashboard.json"),
		[]string{filepath.Join("..", "alerts.yml"), filepath.Join("..", "alerts_test.yml")})
	for _, p := range problems {
		t.Error(p)
	}
	if n := strings.Count(out, "- record: "); n < 10 {
		t.Errorf("%d queries found in the dashboard, want at least 10", n)
	}
	data, err := os.ReadFile(filepath.Join("..", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID, Title    string
		SchemaVersion int
		Templating    struct{ List []struct{ Name, Type string } }
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	if d.Title != "CoreDNS failover" || d.UID == "" || d.SchemaVersion < 36 {
		t.Errorf("title %q, uid %q, schemaVersion %d", d.Title, d.UID, d.SchemaVersion)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	if want := map[string]string{"datasource": "datasource", "instance": "query", "name": "query"}; !reflect.DeepEqual(vars, want) {
		t.Errorf("variables %v, want %v", vars, want)
	}
}

// TestMetricsOfThePlugin compares the table of metrics with the promauto
// metrics declared in the metrics.go files of the plugin and its packages.
func TestMetricsOfThePlugin(t *testing.T) {
	declared := map[string][]string{}
	for _, path := range []string{"metrics.go", "kube/metrics.go", "fleet/metrics.go"} {
		file, err := parser.ParseFile(token.NewFileSet(), filepath.Join("..", "..", path), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		declareMetrics(file, declared)
	}
	known := map[string][]string{}
	for name, labels := range metrics {
		known[name] = labels
	}
	for name, labels := range histograms {
		known[name+" (histogram)"] = labels
	}
	if !reflect.DeepEqual(declared, known) {
		t.Errorf("the plugin declares\n%v\nthe table of dashcheck has\n%v", declared, known)
	}
}

// declareMetrics adds to declared the promauto vectors of file, with their labels.
func declareMetrics(file *ast.File, declared map[string][]string) {
	ast.Inspect(file, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) < 1 || len(call.Args) > 2 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		opts, ok2 := call.Args[0].(*ast.CompositeLit)
		labels, ok3 := &ast.CompositeLit{}, true // a metric without labels: NewGauge(opts)
		if len(call.Args) == 2 {
			labels, ok3 = call.Args[1].(*ast.CompositeLit)
		}
		if !ok || !ok2 || !ok3 || !strings.HasPrefix(sel.Sel.Name, "New") {
			return true
		}
		var name string
		for _, e := range opts.Elts {
			if kv, ok := e.(*ast.KeyValueExpr); ok && fmt.Sprint(kv.Key) == "Name" {
				if lit, ok := kv.Value.(*ast.BasicLit); ok {
					name, _ = strconv.Unquote(lit.Value)
				}
			}
		}
		values := []string{}
		for _, e := range labels.Elts {
			if lit, ok := e.(*ast.BasicLit); ok {
				v, _ := strconv.Unquote(lit.Value)
				values = append(values, v)
			}
		}
		if name != "" {
			if sel.Sel.Name == "NewHistogramVec" {
				name += " (histogram)"
			}
			declared["coredns_failover_"+name] = values
		}
		return true
	})
}
