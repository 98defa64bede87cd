// Package imagebuild assembles OCI images of the project's static binaries without a
// container engine or a base image: an empty image, one layer with /etc/passwd,
// /etc/group, a home and /tmp for the non-root user, and one layer with the binary.
// Layers and configs carry fixed times, so the same binaries give the same digests.
package imagebuild

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// NonRootID is the user and group id every image runs as (distroless's "nonroot").
const NonRootID = 65532

// OCI annotation and label keys the images carry.
const (
	AnnotationRefName  = "org.opencontainers.image.ref.name"
	AnnotationSource   = "org.opencontainers.image.source"
	AnnotationRevision = "org.opencontainers.image.revision"
	AnnotationVersion  = "org.opencontainers.image.version"
	AnnotationTitle    = "org.opencontainers.image.title"
	AnnotationCreated  = "org.opencontainers.image.created"
)

// Binary is one platform's build of a command.
type Binary struct {
	// Platform is the binary's OS and architecture, e.g. linux/arm64.
	Platform v1.Platform
	// Path is the binary's file.
	Path string
}

// Spec describes one command's multi-platform image.
type Spec struct {
	// Name is the command's name: the file /<Name> in the image and its entrypoint.
	Name string
	// Ref is the full reference the image is meant to be pushed as, e.g.
	// ghcr.io/tensile-kube/virtual-node:v0.1.0; it is recorded, never contacted.
	Ref string
	// Binaries holds one build per platform.
	Binaries []Binary
	// Source, Revision and Version are the repository URL, commit and version
	// recorded as OCI annotations and labels.
	Source, Revision, Version string
	// Created is the images' creation time; the commit's time keeps digests
	// reproducible. Zero means the Unix epoch.
	Created time.Time
}

// Validate reports what is missing or wrong in the spec.
func (s Spec) Validate() error {
	var errs []error
	if s.Name == "" || path.Base(s.Name) != s.Name || s.Name == "." || s.Name == ".." {
		errs = append(errs, fmt.Errorf("name %q must be a plain file name", s.Name))
	}
	if s.Ref == "" {
		errs = append(errs, errors.New("ref must not be empty"))
	}
	if len(s.Binaries) == 0 {
		errs = append(errs, errors.New("at least one binary is needed"))
	}
	seen := map[string]bool{}
	for _, b := range s.Binaries {
		p := b.Platform.String()
		switch {
		case b.Platform.OS == "" || b.Platform.Architecture == "":
			errs = append(errs, fmt.Errorf("binary %q: platform %q needs an OS and an architecture", b.Path, p))
		case seen[p]:
			errs = append(errs, fmt.Errorf("platform %s is given twice", p))
		}
		seen[p] = true
		if b.Path == "" {
			errs = append(errs, fmt.Errorf("platform %s: binary path must not be empty", p))
		}
	}
	return errors.Join(errs...)
}

// labels are the image config's labels, the same keys as the annotations.
func (s Spec) labels() map[string]string {
	return map[string]string{
		AnnotationTitle: s.Name, AnnotationSource: s.Source,
		AnnotationRevision: s.Revision, AnnotationVersion: s.Version,
	}
}

// annotations are the index's and every manifest's annotations.
func (s Spec) annotations() map[string]string {
	a := s.labels()
	a[AnnotationCreated] = s.created().Format(time.RFC3339)
	a[AnnotationRefName] = s.Ref
	return a
}

func (s Spec) created() time.Time {
	if s.Created.IsZero() {
		return layerTime
	}
	return s.Created.UTC()
}

// Index builds the spec's image index: one image per binary, each entry carrying
// its platform. Nothing is written; see WriteLayout.
func Index(s Spec) (v1.ImageIndex, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("image %s: %w", s.Name, err)
	}
	base, err := layerOf(baseEntries())
	if err != nil {
		return nil, err
	}
	var adds []mutate.IndexAddendum
	for _, b := range s.Binaries {
		img, err := image(s, base, b)
		if err != nil {
			return nil, fmt.Errorf("image %s for %s: %w", s.Name, b.Platform.String(), err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &b.Platform}})
	}
	idx := mutate.IndexMediaType(mutate.AppendManifests(empty.Index, adds...), types.OCIImageIndex)
	annotated, ok := mutate.Annotations(idx, s.annotations()).(v1.ImageIndex)
	if !ok {
		return nil, errors.New("annotating the image index did not return an index")
	}
	return annotated, nil
}

// image builds one platform's image: the shared base layer, then the binary.
func image(s Spec, base v1.Layer, b Binary) (v1.Image, error) {
	data, err := os.ReadFile(b.Path)
	if err != nil {
		return nil, fmt.Errorf("reading the binary: %w", err)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("binary %s is empty", b.Path)
	}
	bin, err := layerOf([]entry{{name: s.Name, mode: 0o755, data: data}})
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: s.created()}
	img, err := mutate.Append(empty.Image,
		mutate.Addendum{Layer: base, History: v1.History{Created: created, CreatedBy: "imagebuild: passwd, group, home, tmp"}},
		mutate.Addendum{Layer: bin, History: v1.History{Created: created, CreatedBy: "imagebuild: /" + s.Name}})
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.Created = created
	cfg.OS, cfg.Architecture, cfg.Variant, cfg.OSVersion = b.Platform.OS, b.Platform.Architecture, b.Platform.Variant, b.Platform.OSVersion
	cfg.Config = v1.Config{
		Entrypoint: []string{"/" + s.Name},
		User:       strconv.Itoa(NonRootID) + ":" + strconv.Itoa(NonRootID),
		WorkingDir: "/",
		Env:        []string{"HOME=/home/nonroot"},
		Labels:     s.labels(),
	}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
	annotated, ok := mutate.Annotations(img, s.annotations()).(v1.Image)
	if !ok {
		return nil, errors.New("annotating the image did not return an image")
	}
	return annotated, nil
}

// WriteLayout writes the index as the OCI image layout dir (replacing what was
// there), with one entry in index.json named by the index's ref annotation: the
// layout `crane push <dir> <ref>` takes as one multi-platform image.
func WriteLayout(dir string, idx v1.ImageIndex) error {
	m, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing the previous layout: %w", err)
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("writing the layout %s: %w", dir, err)
	}
	opts := []layout.Option{}
	if ref := m.Annotations[AnnotationRefName]; ref != "" {
		opts = append(opts, layout.WithAnnotations(map[string]string{AnnotationRefName: ref}))
	}
	if err := p.AppendIndex(idx, opts...); err != nil {
		return fmt.Errorf("writing the index into %s: %w", dir, err)
	}
	return nil
}
