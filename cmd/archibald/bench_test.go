package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"strings"
	"testing"
)

func TestRunBenchFlagErrors(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		want       error
		wantStderr string
	}{
		{"help", []string{"--help"}, flag.ErrHelp, "Usage: archibald bench"},
		{"unknown flag", []string{"--turbo"}, errUsage, "flag provided but not defined: -turbo"},
		{"bad duration", []string{"--page-time", "fast"}, errUsage, `invalid value "fast" for flag -page-time`},
		{"bad rate", []string{"--rate", "x"}, errUsage, `invalid value "x" for flag -rate`},
		{"unknown mode", []string{"--mode", "turbo"}, errUsage, `unknown mode "turbo"`},
		{"no orders", []string{"--orders", "0"}, errUsage, "--orders must be at least 1"},
		{"zero rate", []string{"--rate", "0"}, errUsage, "--rate must be a positive number"},
		{"negative rate", []string{"--rate", "-1"}, errUsage, "--rate must be a positive number"},
		{"infinite rate", []string{"--rate", "+Inf"}, errUsage, "--rate must be a positive number"},
		{"zero page time", []string{"--page-time", "0s"}, errUsage, "--page-time must be positive"},
		{"negative step time", []string{"--step-time", "-1ms"}, errUsage, "--step-time must be positive"},
		{"zero seed", []string{"--seed", "0"}, errUsage, "--seed must not be 0"},
		{"bad log level", []string{"--log-level", "loud"}, errUsage, `--log-level "loud"`},
		{"extra argument", []string{"now"}, errUsage, `unexpected arguments ["now"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := runBench(context.Background(), tt.args, &stdout, &stderr)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tt.wantStderr)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
}

// TestRunBenchJSON runs the idle mode with one order and fast ERP timings, and checks
// that stdout holds one JSON document and stderr the progress line.
func TestRunBenchJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	args := []string{"--mode", "idle", "--orders", "1", "--rate", "50", "--page-time", "1ms", "--step-time", "2ms", "--json"}
	if err := runBench(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("%v (stderr %q)", err, stderr.String())
	}
	var rep struct {
		PageTimeMs float64 `json:"pageTimeMs"`
		StepTimeMs float64 `json:"stepTimeMs"`
		Modes      []struct {
			Mode   string `json:"mode"`
			Orders struct {
				Created int `json:"created"`
				Failed  int `json:"failed"`
			} `json:"orders"`
			MirrorMatches bool `json:"mirrorMatches"`
		} `json:"modes"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, stdout.String())
	}
	if rep.PageTimeMs != 1 || rep.StepTimeMs != 2 || len(rep.Modes) != 1 {
		t.Fatalf("report %+v, want page 1 ms, step 2 ms and one mode", rep)
	}
	m := rep.Modes[0]
	if m.Mode != "idle" || m.Orders.Created != 1 || m.Orders.Failed != 0 || !m.MirrorMatches {
		t.Errorf("idle mode: %+v, want 1 created, 0 failed, mirror matching", m)
	}
	if !strings.Contains(stderr.String(), "idle: 1/1 orders done") {
		t.Errorf("stderr %q has no progress line", stderr.String())
	}
}
