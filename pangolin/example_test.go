package pangolin_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"

	"github.com/dmp-diy/diy/pangolin"
)

func Example() {
	srv, err := pangolin.NewServer(pangolin.ServerOptions{APIKeys: []string{"key-1"}})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	ts := httptest.NewServer(srv)
	defer ts.Close()

	ctx := context.Background()
	c := pangolin.NewClient(ts.URL, "key-1", nil)
	a, created, err := c.CreateAudience(ctx, "Test audience", "a5940e473cea659")
	if err != nil {
		panic(err)
	}
	fmt.Println(a.ID, created)

	res, err := c.UpdateMembers(ctx, a.ID, []string{"u2", "u1", "u3"}, nil)
	fmt.Printf("%+v %v\n", res, err)
	res, err = c.UpdateMembers(ctx, a.ID, []string{"u4"}, []string{"u1"})
	fmt.Printf("%+v %v\n", res, err)

	members, err := c.AllMembers(ctx, a.ID)
	fmt.Println(members, err)

	_, err = c.GetAudience(ctx, "42")
	fmt.Println(errors.Is(err, pangolin.ErrNotFound))
	// Output:
	// 1000000001 true
	// {Added:3 Removed:0 Size:3} <nil>
	// {Added:1 Removed:1 Size:3} <nil>
	// [u2 u3 u4] <nil>
	// true
}
