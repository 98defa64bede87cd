package imagebuild

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

var (
	amd64 = v1.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = v1.Platform{OS: "linux", Architecture: "arm64"}
)

// testSpec returns a spec for two fake binaries whose contents name their platform.
func testSpec(t *testing.T) Spec {
	t.Helper()
	dir := t.TempDir()
	s := Spec{
		Name: "webhook", Ref: "registry.example/tensile/webhook:v1.2.3",
		Source: "https://example.com/tensile", Revision: "abc123", Version: "v1.2.3",
		Created: time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC),
	}
	for _, p := range []v1.Platform{amd64, arm64} {
		path := filepath.Join(dir, p.Architecture)
		if err := os.WriteFile(path, []byte("binary for "+p.String()), 0o755); err != nil {
			t.Fatal(err)
		}
		s.Binaries = append(s.Binaries, Binary{Platform: p, Path: path})
	}
	return s
}

// files reads an image's flattened file system: name -> header and contents.
func files(t *testing.T, img v1.Image) (map[string]*tar.Header, map[string]string) {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	hdrs, data := map[string]*tar.Header{}, map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return hdrs, data
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		hdrs[h.Name], data[h.Name] = h, string(b)
	}
}

func TestIndexImages(t *testing.T) {
	s := testSpec(t)
	idx, err := Index(s)
	if err != nil {
		t.Fatal(err)
	}
	if mt, _ := idx.MediaType(); mt != types.OCIImageIndex {
		t.Errorf("index media type %s, want %s", mt, types.OCIImageIndex)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Annotations[AnnotationRefName]; got != s.Ref {
		t.Errorf("index ref annotation %q, want %q", got, s.Ref)
	}
	if len(m.Manifests) != 2 {
		t.Fatalf("%d manifests, want 2", len(m.Manifests))
	}
	wantLabels := map[string]string{
		AnnotationTitle: "webhook", AnnotationSource: s.Source, AnnotationRevision: "abc123", AnnotationVersion: "v1.2.3",
	}
	for i, want := range []v1.Platform{amd64, arm64} {
		d := m.Manifests[i]
		if d.Platform == nil || d.Platform.String() != want.String() || d.MediaType != types.OCIManifestSchema1 {
			t.Fatalf("manifest %d: platform %v, media type %s; want %s, %s", i, d.Platform, d.MediaType, want.String(), types.OCIManifestSchema1)
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		wantCfg := v1.Config{Entrypoint: []string{"/webhook"}, User: "65532:65532", WorkingDir: "/", Env: []string{"HOME=/home/nonroot"}, Labels: wantLabels}
		if diff := cmp.Diff(wantCfg, cfg.Config); diff != "" {
			t.Errorf("%s config (-want +got):\n%s", want.String(), diff)
		}
		if cfg.OS != want.OS || cfg.Architecture != want.Architecture || !cfg.Created.Equal(s.Created) {
			t.Errorf("%s config: os %s, architecture %s, created %v", want.String(), cfg.OS, cfg.Architecture, cfg.Created)
		}
		hdrs, data := files(t, img)
		bin := hdrs["webhook"]
		if bin == nil || bin.Mode != 0o755 || bin.Uid != 0 || data["webhook"] != "binary for "+want.String() {
			t.Fatalf("%s: /webhook is %+v with %q, want the platform's binary, mode 0755, owned by root", want.String(), bin, data["webhook"])
		}
		for name, h := range hdrs {
			if !h.ModTime.Equal(time.Unix(0, 0)) {
				t.Errorf("%s: %s has mtime %v, want the epoch", want.String(), name, h.ModTime)
			}
		}
		if h := hdrs["tmp"]; h == nil || h.Mode != 0o1777 {
			t.Errorf("%s: /tmp is %+v, want mode 1777", want.String(), h)
		}
		if !strings.Contains(data["etc/passwd"], "nonroot:x:65532:65532:") {
			t.Errorf("%s: /etc/passwd %q names no nonroot user 65532", want.String(), data["etc/passwd"])
		}
	}
}

func TestIndexReproducible(t *testing.T) {
	s := testSpec(t)
	digest := func(s Spec) v1.Hash {
		idx, err := Index(s)
		if err != nil {
			t.Fatal(err)
		}
		h, err := idx.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	first := digest(s)
	if again := digest(s); again != first {
		t.Errorf("same inputs, different digests: %s, %s", first, again)
	}
	if err := os.WriteFile(s.Binaries[0].Path, []byte("another binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	if changed := digest(s); changed == first {
		t.Errorf("another binary kept the digest %s", first)
	}
}

func TestIndexRefusesBadSpecs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Spec)
		want   string
	}{
		{"no name", func(s *Spec) { s.Name = "" }, "plain file name"},
		{"name with a slash", func(s *Spec) { s.Name = "a/b" }, "plain file name"},
		{"no ref", func(s *Spec) { s.Ref = "" }, "ref must not be empty"},
		{"no binaries", func(s *Spec) { s.Binaries = nil }, "at least one binary"},
		{"platform twice", func(s *Spec) { s.Binaries[1].Platform = amd64 }, "given twice"},
		{"platform without architecture", func(s *Spec) { s.Binaries[1].Platform.Architecture = "" }, "needs an OS and an architecture"},
		{"missing binary", func(s *Spec) { s.Binaries[1].Path += ".missing" }, "reading the binary"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testSpec(t)
			tc.mutate(&s)
			if _, err := Index(s); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestWriteLayout(t *testing.T) {
	s := testSpec(t)
	idx, err := Index(s)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "webhook")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "stale")
	if err := os.WriteFile(stale, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteLayout(dir, idx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the previous layout's files stay: %v", err)
	}
	l, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	top, err := l.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := idx.Digest()
	if len(top.Manifests) != 1 || top.Manifests[0].Digest != want || top.Manifests[0].MediaType != types.OCIImageIndex ||
		top.Manifests[0].Annotations[AnnotationRefName] != s.Ref {
		t.Fatalf("index.json lists %+v, want the one index %s named %s", top.Manifests, want, s.Ref)
	}
	// Every blob is there: the written index reads back whole.
	nested, err := l.ImageIndex(want)
	if err != nil {
		t.Fatal(err)
	}
	m, err := nested.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range m.Manifests {
		img, err := nested.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if _, data := files(t, img); data["webhook"] != "binary for "+d.Platform.String() {
			t.Errorf("%s: /webhook reads back as %q", d.Platform.String(), data["webhook"])
		}
	}
}
