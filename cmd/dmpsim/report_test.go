package main

import (
	"strings"
	"testing"
	"time"
)

func summary(typ string, p99 time.Duration) TypeSummary {
	return TypeSummary{Type: typ, Requests: 10, Statuses: map[int]int{200: 10}, P50: p99 / 2,
		P95: p99, P99: p99, Max: p99}
}

func TestCheckTargets(t *testing.T) {
	tests := []struct {
		name  string
		types []TypeSummary
		want  map[string]bool // type -> OK
	}{
		{"all fast", []TypeSummary{summary(callCreate, ms(20)), summary(callAdd, ms(900)),
			summary(callRemove, ms(10))},
			map[string]bool{callCreate: true, callAdd: true, callRemove: true}},
		{"exactly the target misses it", []TypeSummary{summary(callAdd, time.Second)},
			map[string]bool{callAdd: false}},
		{"create has three seconds", []TypeSummary{summary(callCreate, 2999*time.Millisecond),
			summary(callRemove, 1001*time.Millisecond)},
			map[string]bool{callCreate: true, callRemove: false}},
		{"calls without a target are left out", []TypeSummary{summary(callGet, time.Hour)},
			map[string]bool{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CheckTargets(tt.types)
			if len(got) != len(tt.want) {
				t.Fatalf("CheckTargets() = %+v, want %d results", got, len(tt.want))
			}
			for _, r := range got {
				if want, ok := tt.want[r.Type]; !ok || r.OK != want {
					t.Errorf("CheckTargets() %s OK = %v, want %v", r.Type, r.OK, want)
				}
			}
		})
	}
}

func check(missing, unexpected []string) AudienceCheck {
	return AudienceCheck{Audience: LiveAudience{SimAudience: SimAudience{DMPID: "a.1",
		Customer: 101}}, PangolinID: "1000000001", Expected: 4, Actual: 4,
		Missing: missing, Unexpected: unexpected}
}

func TestReportVerdict(t *testing.T) {
	fast := []TypeSummary{summary(callCreate, ms(5)), summary(callAdd, ms(5))}
	tests := []struct {
		name     string
		rep      Report
		wantFail string // "" = PASS
	}{
		{"pass", Report{Types: fast,
			Verify: &VerifyResult{Checks: []AudienceCheck{check(nil, nil)}}}, ""},
		{"slow adds", Report{Types: []TypeSummary{summary(callAdd, 1500*time.Millisecond)}},
			"ADD_TO_AUDIENCE p99 1.5s is not under the 1s target"},
		{"slow create", Report{Types: []TypeSummary{summary(callCreate, 4*time.Second)}},
			"CREATE_AUDIENCE p99 4s is not under the 3s target"},
		{"differences", Report{Types: fast, Verify: &VerifyResult{Checks: []AudienceCheck{
			check(nil, nil), check([]string{"u1"}, nil)}}},
			"1 of 2 audiences differ in Pangolin"},
		{"audience not found", Report{Types: fast, Verify: &VerifyResult{Checks: []AudienceCheck{
			{Audience: LiveAudience{SimAudience: SimAudience{DMPID: "a.2"}}}}}},
			"1 of 1 audiences differ"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.rep.Evaluate()
			err := tt.rep.Err()
			switch {
			case tt.wantFail == "" && err != nil:
				t.Errorf("Err() = %v, want PASS", err)
			case tt.wantFail != "" && (err == nil || !strings.Contains(err.Error(), tt.wantFail)):
				t.Errorf("Err() = %v, want a failure saying %q", err, tt.wantFail)
			}
		})
	}
}

func TestReportWrite(t *testing.T) {
	missing := []string{"m1", "m2", "m3", "m4"}
	rep := Report{
		Endpoint: "http://127.0.0.1:8080/", Seed: 1, Customers: 2, Audiences: 1, Users: 10,
		Workers: 1, BatchSize: 100, BatchInterval: time.Second,
		Stream: &StreamResult{Generated: [2]int{7, 3}, Acked: [2]int{7, 3}, Requests: 2,
			Took: time.Second},
		Types:  []TypeSummary{summary(callAdd, ms(1200))},
		Verify: &VerifyResult{Checks: []AudienceCheck{check(missing, []string{"x1"})}, Rounds: 3},
	}
	rep.Evaluate()
	var b strings.Builder
	rep.Write(&b)
	out := b.String()
	for _, want := range []string{
		"10 mutations (7 ADD, 3 REMOVE)", "200×10", "2 requests (5.0 mutations each)",
		"MISSED", "1 differ", "a.1 missing, e.g. m1, m2, m3\n", "a.1 unexpected, e.g. x1\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if err := rep.Err(); err == nil || !strings.Contains(err.Error(), "ADD_TO_AUDIENCE p99 1.2s") {
		t.Errorf("Err() = %v, want the missed target", err)
	}
	if strings.Contains(out, "m4") {
		t.Errorf("report names more than %d examples:\n%s", maxExamples, out)
	}
}

func TestDiff(t *testing.T) {
	missing, unexpected := diff([]string{"a", "b", "d", "f"}, []string{"b", "c", "d", "e", "g"})
	if strings.Join(missing, ",") != "a,f" || strings.Join(unexpected, ",") != "c,e,g" {
		t.Errorf("diff() = %q, %q; want [a f], [c e g]", missing, unexpected)
	}
	if m, u := diff(nil, nil); m != nil || u != nil {
		t.Errorf("diff(nil, nil) = %q, %q; want nothing", m, u)
	}
}
