package main

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
)

// Kind is the change a mutation makes.
type Kind uint8

// The two kinds of mutation.
const (
	Add Kind = iota
	Remove
)

// The call types of the DMP protocol, and GET, as they are reported.
const (
	callGet      = "GET"
	callValidate = "VALIDATE"
	callCreate   = "CREATE_AUDIENCE"
	callAdd      = "ADD_TO_AUDIENCE"
	callRemove   = "REMOVE_FROM_AUDIENCE"
)

// CallType is the DMP call that carries mutations of kind k.
func (k Kind) CallType() string {
	if k == Remove {
		return callRemove
	}
	return callAdd
}

// dmpAudiencePrefix starts every audience ID the simulator makes, in the
// shape of the DMP's own IDs ("a5940e473cea659.356693871497425011").
const dmpAudiencePrefix = "a5940e473cea659."

// platformID is the DMP's numeric ID of the target platform.
const platformID = 113

// SimAudience is one audience of the simulated DMP.
type SimAudience struct {
	Index    int
	Customer int64  // the DMP customer (tenant) it belongs to
	DMPID    string // the DMP's own audience ID
	Name     string
}

// User is one user of the simulated DMP's pool.
type User struct {
	UUID     string // the DMP's ID of the user
	External string // the user's ID on the platform (External_user_id)
}

// Universe is everything a run's traffic is made of. It depends only on
// the seed and the sizes.
type Universe struct {
	Customers []int64
	Audiences []SimAudience
	Users     []User
}

// NewUniverse builds the customers, audiences and user pool of seed.
// Audience i belongs to customer i mod customers.
func NewUniverse(seed int64, customers, audiences, users int) Universe {
	r := rand.New(rand.NewPCG(uint64(seed), 0x756e69766572)) // "univer"
	u := Universe{}
	for c := range customers {
		u.Customers = append(u.Customers, int64(101+c))
	}
	for i := range audiences {
		u.Audiences = append(u.Audiences, SimAudience{
			Index:    i,
			Customer: u.Customers[i%customers],
			DMPID:    dmpAudiencePrefix + strconv.FormatUint(1e17+r.Uint64N(9e17), 10),
			Name:     fmt.Sprintf("dmpsim seed %d audience %d", seed, i+1),
		})
	}
	prefix := 10000 + r.IntN(90000)
	for i := range users {
		u.Users = append(u.Users, User{
			UUID:     uuidFrom(r.Uint64(), r.Uint64()),
			External: fmt.Sprintf("%05d%06d", prefix, i),
		})
	}
	return u
}

// uuidFrom formats two random words as a version-4 UUID.
func uuidFrom(hi, lo uint64) string {
	hi = hi&^0xf000 | 0x4000
	lo = lo&^(0xc<<60) | 0x8<<60
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x",
		hi>>32, hi>>16&0xffff, hi&0xffff, lo>>48, lo&0xffffffffffff)
}

// Mutation is one user's change in one audience.
type Mutation struct {
	Kind     Kind
	Audience int // index into Universe.Audiences
	User     User
}

// Generator makes the run's mutations, one at a time, and keeps the model
// of the expected state up to date as it does. The sequence depends only
// on the seed, the universe and the model's starting state. A REMOVE
// targets a current member of its audience when there is one, so that
// removes change something. Not safe for concurrent use.
type Generator struct {
	r           *rand.Rand
	universe    Universe
	model       *Model
	removeShare float64
	byExternal  map[string]User
}

// NewGenerator returns the generator of seed over u, updating model.
func NewGenerator(seed int64, u Universe, model *Model, removeShare float64) *Generator {
	g := &Generator{
		r:           rand.New(rand.NewPCG(uint64(seed), 0x747261666663)), // "traffc"
		universe:    u,
		model:       model,
		removeShare: removeShare,
		byExternal:  make(map[string]User, len(u.Users)),
	}
	for _, user := range u.Users {
		g.byExternal[user.External] = user
	}
	return g
}

// Next returns the next mutation and applies it to the model.
func (g *Generator) Next() Mutation {
	aud := g.r.IntN(len(g.universe.Audiences))
	m := Mutation{Kind: Add, Audience: aud}
	if g.r.Float64() < g.removeShare {
		m.Kind = Remove
	}
	ext, ok := "", false
	if m.Kind == Remove {
		ext, ok = g.model.Pick(aud, g.r)
	}
	if ok {
		m.User = g.user(ext)
	} else {
		m.User = g.universe.Users[g.r.IntN(len(g.universe.Users))]
	}
	if m.Kind == Add {
		g.model.Add(aud, m.User.External)
	} else {
		g.model.Remove(aud, m.User.External)
	}
	return m
}

// user returns the pool's user with that platform ID, or, for a member the
// platform already had before the run, a user with a UUID derived from it.
func (g *Generator) user(external string) User {
	if u, ok := g.byExternal[external]; ok {
		return u
	}
	h := fnv.New128a()
	h.Write([]byte(external))
	sum := h.Sum(nil)
	var hi, lo uint64
	for i := range 8 {
		hi = hi<<8 | uint64(sum[i])
		lo = lo<<8 | uint64(sum[8+i])
	}
	return User{UUID: uuidFrom(hi, lo), External: external}
}
