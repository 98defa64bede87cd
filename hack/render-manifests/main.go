// Command render-manifests writes manifests/ from the Helm chart charts/tensile (the
// one source of truth), or renders the chart with other values like `helm template`:
//
//	go run ./hack/render-manifests                       # manifests/ (make manifests)
//	go run ./hack/render-manifests template --set image.tag=v0.2.0 -n tensile-system
package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/tensile-kube/tensile/internal/chartrender"
)

func main() {
	chart, out := "charts/tensile", "manifests"
	root := &cobra.Command{
		Use:          "render-manifests",
		Short:        "Write manifests/ from charts/tensile rendered with its ci/ values",
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(*cobra.Command, []string) error {
			files, err := chartrender.Manifests(chart)
			if err != nil {
				return err
			}
			for _, name := range slices.Sorted(maps.Keys(files)) {
				path := filepath.Join(out, name)
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					return err
				}
				if err := os.WriteFile(path, []byte(files[name]), 0o644); err != nil {
					return err
				}
			}
			fmt.Printf("wrote %d files into %s\n", len(files), out)
			return nil
		},
	}
	root.PersistentFlags().StringVar(&chart, "chart", chart, "Chart directory.")
	root.Flags().StringVarP(&out, "output-dir", "o", out, "Directory to write manifests into.")

	var opts chartrender.Options
	var withCRDs bool
	tmpl := &cobra.Command{
		Use:   "template",
		Short: "Print the chart rendered with the given values as one YAML stream, like helm template",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			r, err := chartrender.Render(chart, opts)
			if err != nil {
				return err
			}
			_, err = fmt.Print(r.Manifest(withCRDs))
			return err
		},
	}
	tmpl.Flags().StringVar(&opts.ReleaseName, "name", "tensile", "Release name.")
	tmpl.Flags().StringVarP(&opts.Namespace, "namespace", "n", "tensile-system", "Release namespace.")
	tmpl.Flags().StringArrayVarP(&opts.ValuesFiles, "values", "f", nil, "Values file (repeatable).")
	tmpl.Flags().StringArrayVar(&opts.Set, "set", nil, "A helm --set expression (repeatable).")
	tmpl.Flags().BoolVar(&withCRDs, "include-crds", false, "Put the CRDs first in the output.")
	root.AddCommand(tmpl)

	if err := root.Execute(); err != nil {
		os.Exit(1)
	}
}
