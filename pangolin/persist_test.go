package pangolin_test

import (
	"bufio"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dmp-diy/diy/pangolin"
)

// state is what a test expects to find after a restart.
type state struct {
	audiences []pangolin.Audience
	members   map[string][]string
}

// fillServer makes audiences and members in two accounts through url.
func fillServer(t *testing.T, url string) state {
	t.Helper()
	one, two := newClient(url, keyOne), newClient(url, keyTwo)
	a := mustCreate(t, one, "First <b>", "ext-1")
	b := mustCreate(t, one, "Second", "")
	x := mustCreate(t, two, "Other account", "ext-1")
	mustUpdate(t, one, a.ID, ids("u", 0, 3000), nil)
	mustUpdate(t, one, a.ID, ids("w", 0, 10), ids("u", 0, 1000))
	mustUpdate(t, one, b.ID, []string{"only"}, nil)
	mustUpdate(t, two, x.ID, []string{"x1", "x2"}, nil)
	a.Size, b.Size, x.Size = 2010, 1, 2
	return state{
		audiences: []pangolin.Audience{a, b, x},
		members: map[string][]string{
			a.ID: append(ids("u", 1000, 2000), ids("w", 0, 10)...),
			b.ID: {"only"},
			x.ID: {"x1", "x2"},
		},
	}
}

// checkState verifies that the server at url holds want.
func checkState(t *testing.T, url string, want state) {
	t.Helper()
	ctx := testContext(t)
	one, two := newClient(url, keyOne), newClient(url, keyTwo)
	for i, a := range want.audiences {
		c := one
		if i == 2 {
			c = two
		}
		got, err := c.GetAudience(ctx, a.ID)
		if err != nil || !got.CreatedAt.Equal(a.CreatedAt) {
			t.Errorf("GetAudience(%s) = %+v, %v; want %+v", a.ID, got, err, a)
			continue
		}
		got.CreatedAt = a.CreatedAt
		if got != a {
			t.Errorf("GetAudience(%s) = %+v, want %+v", a.ID, got, a)
		}
		members, err := c.AllMembers(ctx, a.ID)
		if err != nil || !slices.Equal(members, want.members[a.ID]) {
			t.Errorf("AllMembers(%s) = %d members, %v; want %d", a.ID, len(members), err,
				len(want.members[a.ID]))
		}
	}
	// Isolation survives too, and new IDs do not reuse old ones.
	if _, err := two.GetAudience(ctx, want.audiences[0].ID); !errors.Is(err, pangolin.ErrNotFound) {
		t.Errorf("GetAudience(other account's) after restart = %v, want ErrNotFound", err)
	}
	b, _, err := one.CreateAudience(ctx, "new", "ext-1")
	if err != nil || b.ID != want.audiences[0].ID {
		t.Errorf("CreateAudience(ext-1) after restart = %+v, %v; want the existing one", b, err)
	}
	n := mustCreate(t, one, "new", "")
	for _, a := range want.audiences {
		if n.ID == a.ID {
			t.Errorf("new audience reuses ID %s", n.ID)
		}
	}
}

// serve serves srv on loopback until the test ends.
func serve(t *testing.T, srv *pangolin.Server) string {
	t.Helper()
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts.URL
}

func openServer(t *testing.T, path string) *pangolin.Server {
	t.Helper()
	srv, err := pangolin.NewServer(pangolin.ServerOptions{
		APIKeys: []string{keyOne, keyTwo}, DataFile: path,
	})
	if err != nil {
		t.Fatalf("NewServer(%s) = %v", path, err)
	}
	return srv
}

func TestRestartAfterClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "pangolin.json")
	first := openServer(t, path)
	want := fillServer(t, serve(t, first))
	if err := first.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := first.Save(); err == nil {
		t.Error("Save() after Close = nil, want an error")
	}

	second := openServer(t, path)
	t.Cleanup(func() { second.Close() })
	checkState(t, serve(t, second), want)

	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("data file %v, %v; want mode 0600", info, err)
	}
}

func TestRestartAfterCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pangolin.json")
	first := openServer(t, path)
	want := fillServer(t, serve(t, first))
	first.Crash()

	// A crash in the middle of writing a line leaves part of it.
	f, err := os.OpenFile(path+".journal", os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString(`{"op":"update","id":"1000000001","add":["never-ackn`)
	f.Close()

	second := openServer(t, path)
	t.Cleanup(func() { second.Close() })
	checkState(t, serve(t, second), want)
}

func TestRestartAfterKill(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pangolin.json")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childDataFileEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start server process: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the server's URL: %v", err)
	}
	url = strings.TrimSpace(url)

	c := newClient(url, keyOne)
	a := mustCreate(t, c, "killed", "ext-kill")
	mustUpdate(t, c, a.ID, ids("k", 0, 500), nil)
	mustUpdate(t, c, a.ID, nil, ids("k", 0, 100))
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	srv, err := pangolin.NewServer(pangolin.ServerOptions{APIKeys: []string{keyOne},
		DataFile: path})
	if err != nil {
		t.Fatalf("NewServer() after kill -9 = %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	got, err := newClient(serve(t, srv), keyOne).AllMembers(testContext(t), a.ID)
	if err != nil || !slices.Equal(got, ids("k", 100, 400)) {
		t.Errorf("AllMembers() after kill -9 = %d members, %v; want 400", len(got), err)
	}
}

func TestCorruptJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pangolin.json")
	first := openServer(t, path)
	fillServer(t, serve(t, first))
	first.Crash()

	// A broken line followed by others is damage, not a torn write.
	data, err := os.ReadFile(path + ".journal")
	if err != nil {
		t.Fatal(err)
	}
	corrupt := strings.Replace(string(data), `"op":"update"`, `"op":"updat`, 1)
	if err := os.WriteFile(path+".journal", []byte(corrupt), 0o600); err != nil {
		t.Fatal(err)
	}
	if srv, err := pangolin.NewServer(pangolin.ServerOptions{APIKeys: []string{keyOne},
		DataFile: path}); err == nil {
		srv.Close()
		t.Error("NewServer(corrupt journal) = nil error")
	}
}

func TestSaveEmptiesJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pangolin.json")
	srv := openServer(t, path)
	t.Cleanup(func() { srv.Close() })
	fillServer(t, serve(t, srv))

	if size := fileSize(t, path+".journal"); size == 0 {
		t.Fatal("journal is empty after changes")
	}
	if err := srv.Save(); err != nil {
		t.Fatalf("Save() = %v", err)
	}
	if size := fileSize(t, path+".journal"); size != 0 {
		t.Errorf("journal has %d bytes after Save, want 0", size)
	}
}

func TestBackgroundCompaction(t *testing.T) {
	defer pangolin.SetJournalLimit(1000)()
	path := filepath.Join(t.TempDir(), "pangolin.json")
	srv := openServer(t, path)
	t.Cleanup(func() { srv.Close() })
	c := newClient(serve(t, srv), keyOne)
	a := mustCreate(t, c, "A", "")
	mustUpdate(t, c, a.ID, ids("u", 0, 200), nil)

	deadline := time.Now().Add(5 * time.Second)
	for fileSize(t, path+".journal") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("journal was not compacted within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	data, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(data), `"u-00199"`) {
		t.Errorf("snapshot lacks the members (%v)", err)
	}
}

func TestMemoryOnlySave(t *testing.T) {
	srv, _ := startServer(t, pangolin.ServerOptions{})
	if err := srv.Save(); err != nil {
		t.Errorf("Save() without a data file = %v, want nil", err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}
