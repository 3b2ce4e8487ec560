package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestServeRefusesBadConfiguration(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"non-loopback address without a token", []string{"--addr", "0.0.0.0:0"}, nil, "not a loopback address: set --api-token"},
		{"public address from the environment", nil, map[string]string{"ARCHIBALD_ADDR": "192.0.2.1:8080"}, "not a loopback address"},
		{"short token", []string{"--api-token", "short"}, nil, "shorter than 16"},
		{"bad log level", []string{"--log-level", "loud"}, nil, "--log-level"},
		{"bad log format", []string{"--log-format", "xml"}, nil, "--log-format"},
		{"bad duration in the environment", nil, map[string]string{"ARCHIBALD_PRIORITY_GRACE": "soon"}, "ARCHIBALD_PRIORITY_GRACE"},
		{"zero grace", []string{"--priority-grace", "0s"}, nil, "--priority-grace must be positive"},
		{"negative sync interval", []string{"--sync-products-interval", "-1m"}, nil, "must be positive"},
		{"unexpected argument", []string{"extra"}, nil, "unexpected arguments"},
		{"bad address", []string{"--addr", "nope"}, nil, "--addr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append([]string{"serve", "--db", t.TempDir() + "/x.db"}, tt.args...), &stdout, &stderr)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr %q", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.wantErr) {
				t.Fatalf("stderr %q does not say %q", stderr.String(), tt.wantErr)
			}
			if strings.Contains(stdout.String(), "token") {
				t.Fatal("a token was printed for a refused configuration")
			}
		})
	}
}

func TestServeHelpListsEveryFlagWithItsVariable(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"serve", "--help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"-addr", "-db", "-erp-url", "-erp-username", "-erp-password", "-api-token", "-log-level",
		"-log-format", "-sync-customers-interval", "-sync-products-interval", "-sync-prices-interval",
		"-priority-grace", "-priority-linger", "-order-timeout", "ARCHIBALD_ERP_URL"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("--help does not mention %s", want)
		}
	}
}

// TestServeStartsAndStops runs the whole system with the embedded simulator until the
// context ends, and checks it prints the token once and shuts down cleanly.
func TestServeStartsAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--db", t.TempDir() + "/a.db", "--log-level", "debug"}, &stdout, &stderr)
	}()
	stderr.waitFor(t, "archibald serving")
	stderr.waitFor(t, `msg="sync run finished" service=customers`)
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d; stderr %s", code, stderr.String())
	}
	out := stdout.String()
	if strings.Count(out, "API token (generated, shown once)") != 1 || !strings.Contains(out, "#token=") {
		t.Fatalf("stdout %q: want the generated token once and the status URL", out)
	}
	for _, want := range []string{"started the ERP simulator in this process", "shutting down", "stopped: the order worker and the sync services are at rest"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("the log does not say %q", want)
		}
	}
	token := strings.TrimSpace(strings.SplitN(strings.SplitN(out, "shown once): ", 2)[1], "\n", 2)[0])
	if strings.Contains(stderr.String(), token) {
		t.Fatal("the generated token appears in the log")
	}
}

func TestRedactDSN(t *testing.T) {
	for in, want := range map[string]string{
		"archibald.db": "archibald.db",
		"postgres://archibald:hunter2@db.internal:5432/archibald?sslmode=require": "postgres://archibald:xxxxx@db.internal:5432/archibald?sslmode=require",
		"postgres://postgres@127.0.0.1/test":                                      "postgres://postgres@127.0.0.1/test",
	} {
		if got := redactDSN(in); got != want {
			t.Errorf("redactDSN(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestServeOnPostgres runs the whole system on the PostgreSQL store (in a schema of its
// own on the local server) until the customers are synced.
func TestServeOnPostgres(t *testing.T) {
	base := os.Getenv("ARCHIBALD_TEST_POSTGRES")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("PostgreSQL at %s: %v", redactDSN(base), err)
	}
	schema := fmt.Sprintf("serve_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
		_ = conn.Close(ctx)
	})

	runCtx, cancel := context.WithCancel(ctx)
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(runCtx, []string{"serve", "--addr", "127.0.0.1:0", "--db", base + "&search_path=" + schema}, &stdout, &stderr)
	}()
	stderr.waitFor(t, `msg="sync run finished" service=customers`)
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d; stderr %s", code, stderr.String())
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+schema+".customers").Scan(&n); err != nil || n != 1200 {
		t.Fatalf("customers in PostgreSQL: %d, %v; want 1200", n, err)
	}
}
