// Command images builds the OCI images of the project's commands without a container
// engine: each command is compiled static (CGO_ENABLED=0, -trimpath, the ldflags
// given) for every platform, and packed by internal/imagebuild into one
// multi-platform OCI image layout per command, <out>/<command>/. `make images` runs it;
// docs/images.md tells how to push the result.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	"k8s.io/klog/v2"

	"github.com/tensile-kube/tensile/internal/imagebuild"
)

// options are the command's flags.
type options struct {
	out, registry, tag         string
	version, revision, source  string
	created, ldflags, goBinary string
	platforms                  []string
}

func main() {
	o := &options{}
	cmd := &cobra.Command{
		Use:          "images [flags] COMMAND...",
		Short:        "Build a multi-platform OCI image layout of each cmd/COMMAND under --out",
		Args:         cobra.MinimumNArgs(1),
		SilenceUsage: true,
		RunE: func(c *cobra.Command, args []string) error {
			return run(o, args)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.out, "out", "bin/images", "Directory the layouts are written to, one per command.")
	fs.StringVar(&o.registry, "registry", "", "Registry and repository prefix the images are named under, e.g. ghcr.io/tensile-kube.")
	fs.StringVar(&o.tag, "tag", "", "Tag of every image.")
	fs.StringVar(&o.version, "version", "", "Version recorded in the org.opencontainers.image.version annotation and label.")
	fs.StringVar(&o.revision, "revision", "", "Commit recorded in the org.opencontainers.image.revision annotation and label.")
	fs.StringVar(&o.source, "source", "https://github.com/tensile-kube/tensile", "Repository recorded in the org.opencontainers.image.source annotation and label.")
	fs.StringVar(&o.created, "created", "", "Creation time (RFC 3339) of the images, e.g. the commit's time; empty means the Unix epoch. Either keeps digests reproducible.")
	fs.StringVar(&o.ldflags, "ldflags", "", "-ldflags of the go build (the Makefile's LDFLAGS).")
	fs.StringVar(&o.goBinary, "go", "go", "The go command.")
	fs.StringSliceVar(&o.platforms, "platforms", []string{"linux/amd64", "linux/arm64"}, "Platforms to build, os/arch.")
	os.Exit(cli.Run(cmd))
}

// plan is what the flags and arguments ask for, validated.
type plan struct {
	names     []string
	refs      map[string]string
	platforms []v1.Platform
	created   time.Time
}

// validate checks every flag and argument before anything is built or removed.
func (o *options) validate(names []string) (plan, error) {
	p := plan{names: names, refs: map[string]string{}}
	var errs []error
	if o.registry == "" || o.tag == "" {
		errs = append(errs, errors.New("--registry and --tag are required"))
	}
	for _, n := range names {
		if st, err := os.Stat(filepath.Join("cmd", n)); n != filepath.Base(n) || err != nil || !st.IsDir() {
			errs = append(errs, fmt.Errorf("%q is not a command (no directory cmd/%s)", n, n))
			continue
		}
		ref, err := name.NewTag(o.registry+"/"+n+":"+o.tag, name.StrictValidation)
		if err != nil {
			errs = append(errs, fmt.Errorf("image reference for %s: %w", n, err))
			continue
		}
		p.refs[n] = ref.String()
	}
	for _, s := range o.platforms {
		pl, err := v1.ParsePlatform(s)
		if err != nil || pl.OS == "" || pl.Architecture == "" || pl.Variant != "" {
			errs = append(errs, fmt.Errorf("platform %q: want os/arch, e.g. linux/arm64", s))
			continue
		}
		p.platforms = append(p.platforms, *pl)
	}
	if o.created != "" {
		t, err := time.Parse(time.RFC3339, o.created)
		if err != nil {
			errs = append(errs, fmt.Errorf("--created: %w", err))
		}
		p.created = t
	}
	return p, errors.Join(errs...)
}

func run(o *options, names []string) error {
	p, err := o.validate(names)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp(o.out, ".build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	for _, pl := range p.platforms {
		if err := o.compile(filepath.Join(work, pl.OS+"_"+pl.Architecture), pl, names); err != nil {
			return err
		}
	}
	for _, n := range names {
		if err := o.pack(p, work, n); err != nil {
			return err
		}
	}
	return nil
}

// compile builds every command for one platform into dir, in one go build so that
// the shared dependency graph is compiled once.
func (o *options) compile(dir string, pl v1.Platform, names []string) error {
	start := time.Now()
	args := []string{"build", "-trimpath", "-ldflags", o.ldflags, "-o", dir + string(filepath.Separator)}
	for _, n := range names {
		args = append(args, "./cmd/"+n)
	}
	c := exec.Command(o.goBinary, args...)
	c.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+pl.OS, "GOARCH="+pl.Architecture)
	c.Stdout, c.Stderr = os.Stdout, os.Stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("go build for %s: %w", pl.String(), err)
	}
	klog.InfoS("Compiled", "platform", pl.String(), "commands", strings.Join(names, ","), "duration", time.Since(start).Round(time.Millisecond))
	return nil
}

// pack assembles one command's image index and swaps it in for <out>/<name>.
func (o *options) pack(p plan, work, n string) error {
	spec := imagebuild.Spec{
		Name: n, Ref: p.refs[n], Source: o.source, Revision: o.revision, Version: o.version, Created: p.created,
	}
	for _, pl := range p.platforms {
		spec.Binaries = append(spec.Binaries, imagebuild.Binary{Platform: pl, Path: filepath.Join(work, pl.OS+"_"+pl.Architecture, n)})
	}
	idx, err := imagebuild.Index(spec)
	if err != nil {
		return err
	}
	tmp := filepath.Join(work, "layout-"+n)
	if err := imagebuild.WriteLayout(tmp, idx); err != nil {
		return err
	}
	dst := filepath.Join(o.out, n)
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	digest, err := idx.Digest()
	if err != nil {
		return err
	}
	klog.InfoS("Wrote image", "layout", dst, "ref", spec.Ref, "digest", digest.String())
	return nil
}
