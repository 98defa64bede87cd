package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// valid returns options that pass validation.
func valid() options {
	return options{registry: "ghcr.io/tensile-kube", tag: "v1.2.3", platforms: []string{"linux/amd64", "linux/arm64"}, goBinary: "go"}
}

func TestValidate(t *testing.T) {
	t.Chdir("../..") // commands are looked up under cmd/
	for _, tc := range []struct {
		name   string
		change func(*options)
		args   []string
		want   string // "" means valid
	}{
		{name: "valid", args: []string{"webhook", "virtual-node"}},
		{name: "created time", change: func(o *options) { o.created = "2026-12-04T10:00:00Z" }, args: []string{"webhook"}},
		{name: "no registry", change: func(o *options) { o.registry = "" }, args: []string{"webhook"}, want: "--registry and --tag are required"},
		{name: "bad tag", change: func(o *options) { o.tag = "v1+build" }, args: []string{"webhook"}, want: "image reference for webhook"},
		{name: "unknown command", args: []string{"nope"}, want: `"nope" is not a command`},
		{name: "command path", args: []string{"../webhook"}, want: "is not a command"},
		{name: "bad platform", change: func(o *options) { o.platforms = []string{"linux"} }, args: []string{"webhook"}, want: `platform "linux"`},
		{name: "platform variant", change: func(o *options) { o.platforms = []string{"linux/arm/v7"} }, args: []string{"webhook"}, want: `platform "linux/arm/v7"`},
		{name: "bad created", change: func(o *options) { o.created = "yesterday" }, args: []string{"webhook"}, want: "--created"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := valid()
			if tc.change != nil {
				tc.change(&o)
			}
			p, err := o.validate(tc.args)
			if tc.want == "" {
				if err != nil || len(p.platforms) != 2 || p.refs[tc.args[0]] != "ghcr.io/tensile-kube/"+tc.args[0]+":v1.2.3" {
					t.Fatalf("plan %+v, error %v; want the refs and both platforms", p, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// Bad input is refused before anything is built, removed or written.
func TestRunRefusesBadInputUntouched(t *testing.T) {
	t.Chdir("../..")
	o := valid()
	o.out = filepath.Join(t.TempDir(), "images")
	o.platforms = []string{"plan9"}
	if err := run(&o, []string{"webhook"}); err == nil {
		t.Fatal("a bad platform was accepted")
	}
	if _, err := os.Stat(o.out); !os.IsNotExist(err) {
		t.Errorf("the output directory exists after a refused run: %v", err)
	}
}
