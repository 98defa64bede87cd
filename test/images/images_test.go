//go:build images

// Package images opens the OCI image layouts `make images` writes under bin/images/ and
// checks each command's image: the platforms, entrypoint and non-root user of every
// image, a static binary of the right architecture in its layer, and that the binary
// built for this machine runs --version. `make test-images` runs it (build tag images:
// it needs the images built first).
package images

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/tensile-kube/tensile/internal/imagebuild"
)

var (
	dir      = flag.String("dir", "../../bin/images", "Directory holding one OCI layout per command.")
	commands = flag.String("commands", "virtual-node multi-scheduler descheduler webhook", "Commands whose images must be there, space-separated.")
	registry = flag.String("registry", "", "Expected registry prefix of the image references; empty accepts any.")
	tag      = flag.String("tag", "", "Expected tag of the image references; empty accepts any.")
	version  = flag.String("version", "", "Expected version (annotation, label, --version output); empty takes the annotation's.")
	revision = flag.String("revision", "", "Expected commit (annotation, label); empty takes the annotation's.")
)

// machines maps each platform the images must have to its ELF machine.
var machines = map[string]elf.Machine{"linux/amd64": elf.EM_X86_64, "linux/arm64": elf.EM_AARCH64}

func TestImages(t *testing.T) {
	names := strings.Fields(*commands)
	if len(names) == 0 {
		t.Fatal("-commands names no command")
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) { checkCommand(t, name) })
	}
}

// checkCommand opens one command's layout and checks its index and every image.
func checkCommand(t *testing.T, name string) {
	l, err := layout.ImageIndexFromPath(filepath.Join(*dir, name))
	if err != nil {
		t.Fatalf("opening the image layout (run make images): %v", err)
	}
	top, err := l.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(top.Manifests) != 1 || top.Manifests[0].MediaType != types.OCIImageIndex {
		t.Fatalf("index.json lists %d entries (%+v), want one OCI image index", len(top.Manifests), top.Manifests)
	}
	ref := top.Manifests[0].Annotations[imagebuild.AnnotationRefName]
	if !strings.Contains(ref, "/"+name+":") || (*registry != "" && *tag != "" && ref != *registry+"/"+name+":"+*tag) {
		t.Errorf("image reference %q, want %s/%s:%s", ref, *registry, name, *tag)
	}
	idx, err := l.ImageIndex(top.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	want := expected(t, m.Annotations)
	seen := map[string]bool{}
	for _, d := range m.Manifests {
		if d.Platform == nil {
			t.Fatalf("manifest %s has no platform", d.Digest)
		}
		p := d.Platform.String()
		seen[p] = true
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(strings.ReplaceAll(p, "/", "_"), func(t *testing.T) { checkImage(t, name, *d.Platform, img, want) })
	}
	for p := range machines {
		if !seen[p] {
			t.Errorf("no image for %s (has %v)", p, seen)
		}
	}
}

// expected returns the version and revision the images must carry: the flags', which
// must match the index's annotations, or the annotations' when the flags are empty.
func expected(t *testing.T, ann map[string]string) map[string]string {
	t.Helper()
	want := map[string]string{imagebuild.AnnotationVersion: *version, imagebuild.AnnotationRevision: *revision}
	for k, v := range want {
		switch {
		case ann[k] == "":
			t.Errorf("index annotation %s is empty", k)
		case v != "" && ann[k] != v:
			t.Errorf("index annotation %s = %q, want %q", k, ann[k], v)
		}
		want[k] = ann[k]
	}
	return want
}

// checkImage checks one platform's config and binary, and runs the binary when the
// platform is this machine's.
func checkImage(t *testing.T, name string, p v1.Platform, img v1.Image, want map[string]string) {
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Config.Entrypoint; len(got) != 1 || got[0] != "/"+name {
		t.Errorf("entrypoint %q, want [/%s]", got, name)
	}
	if u := cfg.Config.User; u != "65532:65532" {
		t.Errorf("user %q, want the non-root 65532:65532", u)
	}
	if cfg.OS != p.OS || cfg.Architecture != p.Architecture {
		t.Errorf("config platform %s/%s, the index says %s", cfg.OS, cfg.Architecture, p.String())
	}
	for k, v := range want {
		if cfg.Config.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, cfg.Config.Labels[k], v)
		}
	}
	bin := fileOf(t, img, name)
	checkELF(t, bin, p)
	for _, s := range []string{"ISRG Root X1", "America/New_York"} {
		if !bytes.Contains(bin, []byte(s)) {
			t.Errorf("the binary does not embed %q: CA roots or tzdata missing (internal/standalone)", s)
		}
	}
	if p.Architecture == runtime.GOARCH && p.OS == runtime.GOOS {
		runVersion(t, name, bin, want)
	}
}

// fileOf returns the contents of /<name> in the image's file system.
func fileOf(t *testing.T, img v1.Image, name string) []byte {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatalf("no /%s in the image", name)
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name != name {
			continue
		}
		if h.Mode&0o111 == 0 || h.Mode&0o022 != 0 {
			t.Errorf("/%s has mode %o, want executable and writable by its owner only", name, h.Mode)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

// checkELF checks that the binary is a static executable for the platform.
func checkELF(t *testing.T, bin []byte, p v1.Platform) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("the binary is no ELF file: %v", err)
	}
	if want, ok := machines[p.String()]; !ok || f.Machine != want {
		t.Errorf("ELF machine %v for %s", f.Machine, p.String())
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP || prog.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary is dynamically linked (program header %v)", prog.Type)
		}
	}
}

// runVersion runs the binary taken from the image with --version and checks that it
// names the image's version (multi-scheduler prints kube-scheduler's version, so its
// raw version must carry the image's commit instead).
func runVersion(t *testing.T, name string, bin []byte, want map[string]string) {
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	checks := [][2]string{{"--version", want[imagebuild.AnnotationVersion]}}
	if name == "multi-scheduler" {
		checks = [][2]string{{"--version", "Kubernetes v1."}, {"--version=raw", `GitCommit:"` + want[imagebuild.AnnotationRevision] + `"`}}
	}
	for _, c := range checks {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, err := exec.CommandContext(ctx, path, c[0]).CombinedOutput()
		cancel()
		if err != nil || !strings.Contains(string(out), c[1]) {
			t.Errorf("%s %s: %v, output %q; want it to name %q", name, c[0], err, out, c[1])
		} else {
			t.Logf("%s %s: %s", name, c[0], strings.TrimSpace(string(out)))
		}
	}
}
