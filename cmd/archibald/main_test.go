package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRun(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"help", []string{"help"}, 0, "Usage: archibald", ""},
		{"--help", []string{"--help"}, 0, "erpsim", ""},
		{"-h", []string{"-h"}, 0, "bench", ""},
		{"unknown command", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout %q does not contain %q", stdout.String(), tt.wantStdout)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tt.wantStderr)
			}
		})
	}
}

// TestCommandsNotBuiltSaySo checks every command without an implementation exits 2 and
// names itself on stderr, rather than pretending to run.
func TestCommandsNotBuiltSaySo(t *testing.T) {
	for _, c := range commands {
		if c.run != nil {
			continue
		}
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{c.name}, &stdout, &stderr); code != 2 {
			t.Errorf("%s: exit %d, want 2", c.name, code)
		}
		if want := "the " + c.name + " command is not built yet"; !strings.Contains(stderr.String(), want) {
			t.Errorf("%s: stderr %q, want %q", c.name, stderr.String(), want)
		}
	}
}
