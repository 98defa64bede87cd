package opsserver

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

func TestMux(t *testing.T) {
	var ready atomic.Bool
	srv := httptest.NewServer(Mux(ready.Load))
	defer srv.Close()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d, want 200", code)
	}
	if code, _ := get("/readyz"); code != http.StatusInternalServerError {
		t.Errorf("/readyz before ready = %d, want 500", code)
	}
	ready.Store(true)
	if code, body := get("/readyz"); code != http.StatusOK || body != "ok" {
		t.Errorf("/readyz when ready = %d %q, want 200 ok", code, body)
	}
	if code, _ := get("/metrics"); code != http.StatusOK {
		t.Errorf("/metrics = %d, want 200", code)
	}
}
