package pangolin_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/dmp-diy/diy/pangolin"
)

func TestConcurrentUpdates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		dataFile bool
	}{
		{"memory", false},
		{"journal", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := pangolin.ServerOptions{}
			if tt.dataFile {
				opts.DataFile = filepath.Join(t.TempDir(), "pangolin.json")
			}
			_, url := startServer(t, opts)
			runConcurrentUpdates(t, url)
		})
	}
}

// runConcurrentUpdates has many goroutines add and remove members of one
// audience, create the same audience, and read it, all at once.
func runConcurrentUpdates(t *testing.T, url string) {
	c := newClient(url, keyOne)
	ctx := testContext(t)
	a := mustCreate(t, c, "shared", "ext-shared")

	const workers, batches, perBatch = 16, 10, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers*batches*3)
	for w := range workers {
		wg.Go(func() {
			prefix := fmt.Sprintf("w%02d", w)
			for b := range batches {
				// Add a batch, then take back its first half, overlapping
				// with other workers' calls.
				batch := ids(prefix, b*perBatch, perBatch)
				if _, err := c.UpdateMembers(ctx, a.ID, batch, nil); err != nil {
					errs <- err
				}
				if _, err := c.UpdateMembers(ctx, a.ID, nil, batch[:perBatch/2]); err != nil {
					errs <- err
				}
				if got, _, err := c.CreateAudience(ctx, "shared", "ext-shared"); err != nil ||
					got.ID != a.ID {
					errs <- fmt.Errorf("CreateAudience() = %s, %v; want %s", got.ID, err, a.ID)
				}
				if _, _, err := c.ListMembers(ctx, a.ID, 100, ""); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	var want []string
	for w := range workers {
		for b := range batches {
			want = append(want, ids(fmt.Sprintf("w%02d", w), b*perBatch+perBatch/2, perBatch/2)...)
		}
	}
	slices.Sort(want)
	got, err := c.AllMembers(ctx, a.ID)
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("AllMembers() = %d members, %v; want exactly the %d kept", len(got), err,
			len(want))
	}
	list, err := c.ListAudiences(ctx, "")
	if err != nil || len(list) != 1 || list[0].Size != len(want) {
		t.Errorf("ListAudiences() = %+v, %v; want one audience of %d", list, err, len(want))
	}
}
