package main

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
)

func TestParseArgs(t *testing.T) {
	var out bytes.Buffer
	if err := parseArgs(nil, &out); err != nil || out.Len() != 0 {
		t.Errorf("parseArgs() = %v, printed %q; want nil and nothing", err, out.String())
	}
	for _, help := range []string{"-h", "--help"} {
		out.Reset()
		err := parseArgs([]string{help}, &out)
		if !errors.Is(err, flag.ErrHelp) || !strings.Contains(out.String(), "DIY_DATA_DIR") {
			t.Errorf("parseArgs(%s) = %v, printed %q; want ErrHelp and the settings", help, err, out.String())
		}
	}
	for _, args := range [][]string{{"--data-dir", "/tmp/x"}, {"serve"}} {
		out.Reset()
		err := parseArgs(args, &out)
		if err == nil || errors.Is(err, flag.ErrHelp) || !strings.Contains(out.String(), "environment variable") {
			t.Errorf("parseArgs(%q) = %v, printed %q; want a refusal that points to the environment",
				args, err, out.String())
		}
	}
}
