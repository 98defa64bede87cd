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

func TestInstallProfiling(t *testing.T) {
	mux := Mux(func() bool { return true })
	off := httptest.NewServer(mux)
	defer off.Close()
	if resp, err := http.Get(off.URL + "/debug/pprof/heap"); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/debug/pprof/heap without profiling = %d, want 404", resp.StatusCode)
	}
	InstallProfiling(mux)
	resp, err := http.Get(off.URL + "/debug/pprof/heap?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || len(b) == 0 {
		t.Errorf("/debug/pprof/heap with profiling = %d (%d bytes), want 200 and a profile", resp.StatusCode, len(b))
	}
}
