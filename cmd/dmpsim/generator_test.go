package main

import (
	"regexp"
	"slices"
	"testing"
)

func generate(seed int64, n int, model *Model) []Mutation {
	u := NewUniverse(seed, 2, 6, 50)
	g := NewGenerator(seed, u, model, 0.3)
	out := make([]Mutation, n)
	for i := range out {
		out[i] = g.Next()
	}
	return out
}

func TestGeneratorIsDeterministic(t *testing.T) {
	a, b := generate(7, 2000, NewModel(6)), generate(7, 2000, NewModel(6))
	if !slices.Equal(a, b) {
		t.Errorf("two generators of seed 7 made different traffic")
	}
	if c := generate(8, 2000, NewModel(6)); slices.Equal(a, c) {
		t.Errorf("seeds 7 and 8 made the same traffic")
	}
	u1, u2 := NewUniverse(7, 2, 6, 50), NewUniverse(7, 2, 6, 50)
	if !slices.Equal(u1.Audiences, u2.Audiences) || !slices.Equal(u1.Users, u2.Users) {
		t.Errorf("NewUniverse(7) differs between calls")
	}
	if u3 := NewUniverse(8, 2, 6, 50); u3.Audiences[0].DMPID == u1.Audiences[0].DMPID {
		t.Errorf("seeds 7 and 8 have the same audience ID %s", u1.Audiences[0].DMPID)
	}
}

func TestUniverse(t *testing.T) {
	u := NewUniverse(1, 3, 7, 1000)
	dmpID := regexp.MustCompile(`^a5940e473cea659\.\d{18}$`)
	uuid := regexp.MustCompile(
		`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	ids := map[string]bool{}
	for i, a := range u.Audiences {
		if !dmpID.MatchString(a.DMPID) {
			t.Errorf("audience %d ID = %q, want the DMP's shape", i, a.DMPID)
		}
		if want := u.Customers[i%3]; a.Customer != want {
			t.Errorf("audience %d customer = %d, want %d", i, a.Customer, want)
		}
		ids[a.DMPID] = true
	}
	externals := map[string]bool{}
	for _, user := range u.Users {
		if !uuid.MatchString(user.UUID) {
			t.Errorf("UUID %q is not a version-4 UUID", user.UUID)
		}
		externals[user.External] = true
	}
	if len(ids) != 7 || len(externals) != 1000 {
		t.Errorf("distinct audiences, users = %d, %d; want 7, 1000", len(ids), len(externals))
	}
}

func TestGeneratorKeepsTheModel(t *testing.T) {
	model, replay := NewModel(6), NewModel(6)
	var removes, removesOfMembers int
	for _, m := range generate(3, 5000, model) {
		if m.Kind == Remove {
			removes++
			if replay.Has(m.Audience, m.User.External) {
				removesOfMembers++
			} else if replay.Len(m.Audience) > 0 {
				t.Fatalf("REMOVE of non-member %s while audience %d has %d members",
					m.User.External, m.Audience, replay.Len(m.Audience))
			}
			replay.Remove(m.Audience, m.User.External)
		} else {
			replay.Add(m.Audience, m.User.External)
		}
	}
	for aud := range 6 {
		if got, want := model.Members(aud), replay.Members(aud); !slices.Equal(got, want) {
			t.Errorf("audience %d: generator's model has %d members, replay %d", aud,
				len(got), len(want))
		}
	}
	if share := float64(removes) / 5000; share < 0.25 || share > 0.35 {
		t.Errorf("REMOVE share = %.3f, want about 0.3", share)
	}
	if removesOfMembers < removes*9/10 {
		t.Errorf("%d of %d removes targeted members, want nearly all", removesOfMembers, removes)
	}
}

func TestGeneratorRemovesBaselineMembers(t *testing.T) {
	u := NewUniverse(1, 1, 1, 10)
	model := NewModel(1)
	model.Add(0, "from-an-earlier-run")
	g := NewGenerator(1, u, model, 1) // removes only
	m := g.Next()
	if m.Kind != Remove || m.User.External != "from-an-earlier-run" || m.User.UUID == "" {
		t.Errorf("Next() = %+v, want a REMOVE of the earlier member with a UUID", m)
	}
	if model.Len(0) != 0 {
		t.Errorf("model still has %d members", model.Len(0))
	}
}
