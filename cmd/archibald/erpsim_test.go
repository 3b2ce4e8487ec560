package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strings"
	"testing"
)

// TestERPSimCommand runs archibald erpsim on a free port, logs in and reads a page over
// HTTP, then ends it through its context.
func TestERPSimCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"erpsim", "--addr", "127.0.0.1:0", "--customers", "30", "--products", "40",
			"--page-time", "0s", "--password", "pw-test-123"}, &stdout, &stderr)
	}()
	stderr.waitFor(t, "erpsim: listening")
	base := regexp.MustCompile(`http://127\.0\.0\.1:\d+`).FindString(stderr.String())
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	resp, err := client.Post(base+"/erp/login", "application/json", strings.NewReader(`{"username":"agent","password":"pw-test-123"}`))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = client.Get(base + "/erp/customers?page=2")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"page":2,"pageSize":20,"totalPages":2,"totalRows":30`) {
		t.Fatalf("page 2: %d %s", resp.StatusCode, body)
	}
	client.CloseIdleConnections()
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if strings.Contains(stderr.String(), "pw-test-123") {
		t.Fatal("the password is in the log")
	}
}

func TestERPSimCommandRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{{"--page-time", "fast"}, {"--log-level", "chatty"}, {"stray"}} {
		var stdout, stderr syncBuffer
		if code := run(context.Background(), append([]string{"erpsim"}, args...), &stdout, &stderr); code != 2 {
			t.Errorf("erpsim %v: exit %d, want 2", args, code)
		}
	}
	t.Setenv("ARCHIBALD_ERPSIM_SEED", "many")
	var stdout, stderr syncBuffer
	if code := run(context.Background(), []string{"erpsim"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "ARCHIBALD_ERPSIM_SEED") {
		t.Errorf("bad environment: exit %d, stderr %q", code, stderr.String())
	}
}
