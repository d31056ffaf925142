package pangolin

import (
	"bytes"
	"html/template"
	"net/http"
	"slices"
	"strings"
)

// overviewSample is how many members per audience the overview shows.
const overviewSample = 5

// overviewPage is the HTML overview. html/template escapes every value.
var overviewPage = template.Must(template.New("overview").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Pangolin</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin-bottom: 2em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; }
th { background: #f3f3f3; }
td.num { text-align: right; }
code { font-size: 0.9em; }
.muted { color: #777; }
</style>
</head>
<body>
<h1>Pangolin</h1>
<p>{{len .Accounts}} account(s), {{.Audiences}} audience(s), {{.Members}} member(s) in all.</p>
{{range .Accounts}}
<h2>Account <code>{{.Label}}</code> <span class="muted">key sha256 {{.Fingerprint}}…</span></h2>
{{if .Audiences}}
<table>
<tr><th>ID</th><th>Name</th><th>External ID</th><th>Size</th><th>Created</th>
<th>First members</th></tr>
{{range .Audiences}}
<tr><td><code>{{.ID}}</code></td><td>{{.Name}}</td><td><code>{{.ExternalID}}</code></td>
<td class="num">{{.Size}}</td><td>{{.CreatedAt.Format "2006-01-02 15:04:05Z07:00"}}</td>
<td>{{range $i, $m := .Sample}}{{if $i}}, {{end}}<code>{{$m}}</code>{{end}}
{{- if .More}}, …{{end}}</td></tr>
{{end}}
</table>
{{else}}
<p class="muted">No audiences.</p>
{{end}}
{{end}}
</body>
</html>
`))

type overviewData struct {
	Accounts  []overviewAccount
	Audiences int
	Members   int
}

type overviewAccount struct {
	Label       string
	Fingerprint string
	Audiences   []overviewAudience
}

type overviewAudience struct {
	Audience
	Sample []string
	More   bool
}

// handleOverview shows every account's audiences, their sizes and first
// members. Accounts are shown by a masked key, never the key itself.
func (s *Server) handleOverview(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	if err := overviewPage.Execute(&buf, s.overview()); err != nil {
		writeError(w, http.StatusInternalServerError, codeInternal, "rendering failed")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = buf.WriteTo(w)
}

// overview gathers what the overview shows.
func (s *Server) overview() overviewData {
	labels := map[string]string{}
	for _, k := range s.keys {
		labels[k.account] = k.label
	}

	s.mu.RLock()
	defer s.mu.RUnlock()
	var d overviewData
	for id, acc := range s.accounts {
		oa := overviewAccount{Label: labels[id], Fingerprint: id[:min(8, len(id))]}
		if oa.Label == "" {
			oa.Label = "(key not configured)"
		}
		all := make([]*audience, 0, len(acc.audiences))
		for _, a := range acc.audiences {
			all = append(all, a)
		}
		slices.SortFunc(all, compareIDs)
		for _, a := range all {
			a.mu.RLock()
			oa.Audiences = append(oa.Audiences, overviewAudience{
				Audience: a.view(),
				Sample:   a.members.first(overviewSample),
				More:     a.members.len() > overviewSample,
			})
			d.Members += a.members.len()
			a.mu.RUnlock()
		}
		d.Audiences += len(all)
		d.Accounts = append(d.Accounts, oa)
	}
	slices.SortFunc(d.Accounts, func(a, b overviewAccount) int {
		return strings.Compare(a.Label+a.Fingerprint, b.Label+b.Fingerprint)
	})
	return d
}
