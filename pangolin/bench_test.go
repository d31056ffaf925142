package pangolin_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/dmp-diy/diy/pangolin"
)

// benchIDs returns n user IDs of 20 bytes, "user-000000000000042".
func benchIDs(from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("user-%015d", from+i)
	}
	return out
}

// benchServer serves a fresh server until the benchmark ends.
func benchServer(b *testing.B, dataFile string) *pangolin.Client {
	b.Helper()
	srv, err := pangolin.NewServer(pangolin.ServerOptions{APIKeys: []string{keyOne},
		DataFile: dataFile})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	b.Cleanup(func() { ts.Close(); srv.Close() })
	return pangolin.NewClient(ts.URL, keyOne, nil)
}

// BenchmarkBatchUpdate10k sends batchUpdate calls of 10,000 IDs through the
// client and HTTP to an audience of 100,000 members, alternately adding and
// removing the same 10,000.
func BenchmarkBatchUpdate10k(b *testing.B) {
	for _, journal := range []bool{false, true} {
		name := "memory"
		if journal {
			name = "journal"
		}
		b.Run(name, func(b *testing.B) {
			file := ""
			if journal {
				file = filepath.Join(b.TempDir(), "pangolin.json")
			}
			c := benchServer(b, file)
			ctx := context.Background()
			a, _, err := c.CreateAudience(ctx, "bench", "")
			if err != nil {
				b.Fatal(err)
			}
			for i := range 10 {
				if _, err := c.UpdateMembers(ctx, a.ID, benchIDs(i*10000, 10000), nil); err != nil {
					b.Fatal(err)
				}
			}
			batch := benchIDs(1_000_000, pangolin.MaxIDsPerUpdate)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				add, remove := batch, []string(nil)
				if i%2 == 1 {
					add, remove = nil, batch
				}
				res, err := c.UpdateMembers(ctx, a.ID, add, remove)
				if err != nil || res.Added+res.Removed != len(batch) {
					b.Fatalf("UpdateMembers() = %+v, %v", res, err)
				}
				i++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i*len(batch)), "ns/id")
		})
	}
}

// million is one server holding an audience of 1,000,000 members, shared by
// the benchmarks below, with the heap it took.
var million struct {
	once        sync.Once
	c           *pangolin.Client
	id          string
	bytesPerMem float64
	err         error
}

const millionMembers = 1_000_000

// millionAudience builds the shared audience once.
func millionAudience(b *testing.B) (*pangolin.Client, string) {
	b.Helper()
	million.once.Do(func() {
		srv, err := pangolin.NewServer(pangolin.ServerOptions{APIKeys: []string{keyOne}})
		if err != nil {
			million.err = err
			return
		}
		ts := httptest.NewServer(srv) // kept for the whole run
		c := pangolin.NewClient(ts.URL, keyOne, nil)
		ctx := context.Background()
		a, _, err := c.CreateAudience(ctx, "million", "")
		if err != nil {
			million.err = err
			return
		}
		before := heapInUse()
		for i := 0; i < millionMembers; i += pangolin.MaxIDsPerUpdate {
			if _, err := c.UpdateMembers(ctx, a.ID, benchIDs(i, pangolin.MaxIDsPerUpdate),
				nil); err != nil {
				million.err = err
				return
			}
		}
		million.bytesPerMem = float64(heapInUse()-before) / millionMembers
		million.c, million.id = c, a.ID
	})
	if million.err != nil {
		b.Fatal(million.err)
	}
	return million.c, million.id
}

// heapInUse is the live heap after a collection.
func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// BenchmarkMemberMemory reports the heap per member of an audience of
// 1,000,000 members of 20-byte IDs; each op is one IsMember call.
func BenchmarkMemberMemory(b *testing.B) {
	c, id := millionAudience(b)
	ctx := context.Background()
	user := benchIDs(millionMembers/2, 1)[0]
	for b.Loop() {
		if ok, err := c.IsMember(ctx, id, user); err != nil || !ok {
			b.Fatalf("IsMember() = %v, %v", ok, err)
		}
	}
	b.ReportMetric(million.bytesPerMem, "bytes/member")
}

// BenchmarkListMillionMembers pages through 1,000,000 members, 10,000 a page;
// each op is the whole listing.
func BenchmarkListMillionMembers(b *testing.B) {
	c, id := millionAudience(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		n, token := 0, ""
		for {
			page, next, err := c.ListMembers(ctx, id, pangolin.MaxPageSize, token)
			if err != nil {
				b.Fatal(err)
			}
			n += len(page)
			if next == "" {
				break
			}
			token = next
		}
		if n != millionMembers {
			b.Fatalf("listed %d members, want %d", n, millionMembers)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*millionMembers), "ns/member")
}
