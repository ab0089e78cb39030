// Command dashcheck checks what promtool cannot see in monitoring/: it writes
// the Grafana dashboard's queries as recording rules, for promtool check rules
// to parse, and rejects metric names and selector labels the plugin does not
// export, in the dashboard and in any further file (the alerting rules and
// their tests).
//
//	dashcheck -dashboard FILE [-rules-out FILE] [FILE...]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
)

// metrics are the labels of each metric the plugin exports, besides the
// instance and job labels every scrape adds.
var metrics = map[string][]string{
	"coredns_failover_endpoint_healthy":           {"name", "pool", "address"},
	"coredns_failover_pool_up":                    {"name", "pool"},
	"coredns_failover_active_pool":                {"name", "type", "pool"},
	"coredns_failover_failovers_total":            {"name", "type"},
	"coredns_failover_failbacks_total":            {"name", "type"},
	"coredns_failover_answers_total":              {"server", "name", "pool", "reason"},
	"coredns_failover_probes_total":               {"result", "reason"},
	"coredns_failover_endpoint_transitions_total": {"to"},
	"coredns_failover_override":                   {"name", "pool", "address", "state"},
	"coredns_failover_override_bad_lines":         {"file"},
	"coredns_failover_held_names":                 {},
	"coredns_failover_alert_notifications_total":  {"result"},
	"coredns_failover_alert_held":                 {"name", "pool", "address"},
	"coredns_failover_kubernetes_api_up":          {"source"},
	"coredns_failover_fleet_replicas":             {"group"},
	"coredns_failover_fleet_alone":                {"group"},
	"coredns_failover_fleet_votes":                {"group", "endpoint", "vote"},
	"coredns_failover_fleet_local_healthy":        {"group", "endpoint"},
	"coredns_failover_fleet_probing":              {"group", "endpoint"},
	"coredns_failover_fleet_lease_writes_total":   {"group"},
	"coredns_failover_fleet_lease_bytes":          {"group"},
}

// histograms are the metrics exported as _bucket, _sum and _count series.
var histograms = map[string][]string{
	"coredns_failover_probe_duration_seconds": {"result"},
}

var scrapeLabels = []string{"instance", "job"}

// labelsOf returns the labels of the series name, and whether the plugin
// exports it.
func labelsOf(name string) ([]string, bool) {
	if l, ok := metrics[name]; ok {
		return slices.Concat(l, scrapeLabels), true
	}
	for suffix, extra := range map[string][]string{"_bucket": {"le"}, "_sum": nil, "_count": nil} {
		if l, ok := histograms[strings.TrimSuffix(name, suffix)]; ok && strings.HasSuffix(name, suffix) {
			return slices.Concat(l, extra, scrapeLabels), true
		}
	}
	return nil, false
}

var (
	metricName = regexp.MustCompile(`(?:^|[^A-Za-z0-9_:])(coredns_failover_[A-Za-z0-9_:]*)`)
	matcher    = regexp.MustCompile(`^\s*,?\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`" + `)\s*`)
)

// checkNames reports each coredns_failover_ name in text that the plugin does
// not export, and each label of a selector right after such a name that the
// metric does not have.
func checkNames(text string) []string {
	var problems []string
	for _, m := range metricName.FindAllStringSubmatchIndex(text, -1) {
		name := text[m[2]:m[3]]
		labels, ok := labelsOf(name)
		if !ok {
			problems = append(problems, fmt.Sprintf("unknown metric %s", name))
			continue
		}
		rest := strings.TrimLeft(text[m[3]:], " \t")
		if !strings.HasPrefix(rest, "{") {
			continue
		}
		for rest = rest[1:]; ; {
			lm := matcher.FindStringSubmatchIndex(rest)
			if lm == nil {
				break
			}
			if label := rest[lm[2]:lm[3]]; !slices.Contains(labels, label) {
				problems = append(problems, fmt.Sprintf("%s has no label %s", name, label))
			}
			rest = rest[lm[1]:]
		}
	}
	return problems
}

var (
	builtinVar = regexp.MustCompile(`\$\{?__[A-Za-z_]+(?::[^}]*)?\}?`)
	userVar    = regexp.MustCompile(`\$\{[A-Za-z0-9_]+(?::[^}]*)?\}|\$[A-Za-z0-9_]+|\[\[[A-Za-z0-9_]+(?::[^\]]*)?\]\]`)
)

// substitute replaces Grafana's variables in expr with values PromQL parses:
// a duration for the interval and range variables (a number for their _ms and
// _s forms), a plain word for the dashboard's own variables, which stand in
// label values.
func substitute(expr string) string {
	expr = builtinVar.ReplaceAllStringFunc(expr, func(v string) string {
		v = strings.Trim(v, "${}")
		if strings.HasSuffix(v, "_ms") || strings.HasSuffix(v, "_s") {
			return "300"
		}
		return "5m"
	})
	return userVar.ReplaceAllString(expr, "placeholder")
}

type panel struct {
	ID      int      `json:"id"`
	Title   string   `json:"title"`
	Type    string   `json:"type"`
	Targets []target `json:"targets"`
	Panels  []panel  `json:"panels"` // of a collapsed row
}

type target struct {
	RefID string `json:"refId"`
	Expr  string `json:"expr"`
}

type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

// query is one PromQL expression of a dashboard, named as a recording rule.
type query struct{ record, expr string }

var labelValues = regexp.MustCompile(`^\s*label_values\((.+),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$`)

// queries returns every PromQL expression of d, its variables substituted:
// each panel target's, and the selector of each label_values variable. A
// panel without a query, or a panel id given twice, is a problem.
func queries(d *dashboard) ([]query, []string) {
	var qs []query
	var problems []string
	ids := map[int]bool{}
	var walk func([]panel)
	walk = func(panels []panel) {
		for _, p := range panels {
			if ids[p.ID] {
				problems = append(problems, fmt.Sprintf("panel %q: id %d given twice", p.Title, p.ID))
			}
			ids[p.ID] = true
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 {
				problems = append(problems, fmt.Sprintf("panel %q has no query", p.Title))
			}
			for i, t := range p.Targets {
				if strings.TrimSpace(t.Expr) == "" {
					problems = append(problems, fmt.Sprintf("panel %q: target %d has no expr", p.Title, i))
					continue
				}
				qs = append(qs, query{fmt.Sprintf("dashboard:panel_%d_%d", p.ID, i), substitute(t.Expr)})
			}
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct{ Query string }
		if err := json.Unmarshal(v.Query, &q); err != nil {
			_ = json.Unmarshal(v.Query, &q.Query) // the older form: a plain string
		}
		if m := labelValues.FindStringSubmatch(q.Query); m != nil {
			qs = append(qs, query{"dashboard:variable_" + v.Name, substitute(m[1])})
		}
	}
	return qs, problems
}

// rules renders qs as a Prometheus rule file of recording rules. A JSON
// string is a YAML double-quoted scalar.
func rules(qs []query) string {
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for _, q := range qs {
		expr, _ := json.Marshal(q.expr)
		fmt.Fprintf(&b, "      - record: %s\n        expr: %s\n", q.record, expr)
	}
	return b.String()
}

// jsonStrings returns every string of a decoded JSON value.
func jsonStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var all []string
		for _, e := range v {
			all = append(all, jsonStrings(e)...)
		}
		return all
	case map[string]any:
		var all []string
		for _, e := range v {
			all = append(all, jsonStrings(e)...)
		}
		return all
	}
	return nil
}

// check checks the dashboard file and the other files, and returns the rule
// file of the dashboard's queries.
func check(dashboardFile string, others []string) (string, []string) {
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		return "", []string{err.Error()}
	}
	var d dashboard
	var generic any
	if err := json.Unmarshal(data, &d); err != nil {
		return "", []string{fmt.Sprintf("%s: %v", dashboardFile, err)}
	}
	_ = json.Unmarshal(data, &generic) // decoded once already
	var problems []string
	if d.UID == "" || d.Title == "" {
		problems = append(problems, "the dashboard needs a uid and a title")
	}
	qs, p := queries(&d)
	problems = append(problems, p...)
	for _, s := range jsonStrings(generic) {
		problems = append(problems, checkNames(s)...)
	}
	for i := range problems {
		problems[i] = dashboardFile + ": " + problems[i]
	}
	for _, f := range others {
		text, err := os.ReadFile(f)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		for _, p := range checkNames(string(text)) {
			problems = append(problems, f+": "+p)
		}
	}
	return rules(qs), problems
}

func main() {
	dashboardFile := flag.String("dashboard", "", "the Grafana dashboard `file`")
	rulesOut := flag.String("rules-out", "", "write the dashboard's queries as recording rules to `file`")
	flag.Parse()
	if *dashboardFile == "" {
		fmt.Fprintln(os.Stderr, "usage: dashcheck -dashboard FILE [-rules-out FILE] [FILE...]")
		os.Exit(2)
	}
	out, problems := check(*dashboardFile, flag.Args())
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, p)
	}
	if len(problems) > 0 {
		os.Exit(1)
	}
	if *rulesOut != "" {
		if err := os.WriteFile(*rulesOut, []byte(out), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
