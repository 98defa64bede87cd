// Package chartrender renders the Helm chart charts/tensile with Helm's Go library,
// the way `helm template` would, without a cluster: the same loader, values coalescing,
// values.schema.json validation and template engine. hack/render-manifests uses it to
// produce manifests/ and the tests use it to check the chart.
package chartrender

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	"helm.sh/helm/v4/pkg/strvals"
)

// Options say what to render: the release's identity and the values on top of the
// chart's values.yaml, in the order helm applies them (files first, then --set).
type Options struct {
	// ReleaseName is .Release.Name; "tensile" when empty.
	ReleaseName string
	// Namespace is .Release.Namespace; "tensile-system" when empty.
	Namespace string
	// ValuesFiles are read in order, later files overriding earlier ones (helm -f).
	ValuesFiles []string
	// Set are helm --set expressions, applied after ValuesFiles.
	Set []string
	// Values are applied last; tests use them instead of files.
	Values map[string]any
}

// Rendering is one rendered release.
type Rendering struct {
	// Templates maps a template's path below templates/ (e.g.
	// "webhook/service.yaml") to its rendered text; templates that render to
	// nothing are left out.
	Templates map[string]string
	// CRDs maps a file name below crds/ to its content (helm installs them as they are).
	CRDs map[string]string
	// Notes is the rendered NOTES.txt.
	Notes string
}

// Render loads the chart in chartDir and renders it with opts. Values that break
// values.schema.json or a template's own check (fail) return an error.
func Render(chartDir string, opts Options) (*Rendering, error) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		return nil, fmt.Errorf("loading chart %s: %w", chartDir, err)
	}
	vals, err := mergeValues(opts)
	if err != nil {
		return nil, err
	}
	rel := common.ReleaseOptions{Name: opts.ReleaseName, Namespace: opts.Namespace, Revision: 1, IsInstall: true}
	if rel.Name == "" {
		rel.Name = "tensile"
	}
	if rel.Namespace == "" {
		rel.Namespace = "tensile-system"
	}
	top, err := chartutil.ToRenderValues(ch, vals, rel, common.DefaultCapabilities)
	if err != nil {
		return nil, err
	}
	// Strict: a value a template reads but values.yaml lacks is an error, not "".
	out, err := engine.Engine{Strict: true}.Render(ch, top)
	if err != nil {
		return nil, fmt.Errorf("rendering chart %s: %w", ch.Name(), err)
	}
	return collect(ch, out), nil
}

// collect sorts the engine's output into templates, CRDs and notes.
func collect(ch *chart.Chart, out map[string]string) *Rendering {
	r := &Rendering{Templates: map[string]string{}, CRDs: map[string]string{}}
	prefix := ch.Name() + "/templates/"
	for name, text := range out {
		rel, ok := strings.CutPrefix(name, prefix)
		switch {
		case !ok:
			continue // a subchart's; this chart has none
		case rel == "NOTES.txt":
			r.Notes = text
		case strings.HasPrefix(path.Base(rel), "_"):
		case strings.TrimSpace(stripComments(text)) == "":
		default:
			r.Templates[rel] = text
		}
	}
	for _, crd := range ch.CRDObjects() {
		r.CRDs[path.Base(crd.Filename)] = string(crd.File.Data)
	}
	return r
}

// Manifest joins every rendered template, in path order, into one multi-document
// YAML stream, CRDs first when withCRDs is set.
func (r *Rendering) Manifest(withCRDs bool) string {
	var b strings.Builder
	add := func(text string) {
		if b.Len() > 0 {
			b.WriteString("---\n")
		}
		b.WriteString(strings.TrimLeft(text, "\n"))
		if !strings.HasSuffix(text, "\n") {
			b.WriteString("\n")
		}
	}
	if withCRDs {
		for _, name := range slices.Sorted(maps.Keys(r.CRDs)) {
			add(r.CRDs[name])
		}
	}
	for _, name := range slices.Sorted(maps.Keys(r.Templates)) {
		add(r.Templates[name])
	}
	return b.String()
}

// mergeValues layers the values of opts the way helm does for -f and --set.
func mergeValues(opts Options) (map[string]any, error) {
	vals := map[string]any{}
	for _, f := range opts.ValuesFiles {
		v, err := common.ReadValuesFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading values %s: %w", f, err)
		}
		vals = mergeMaps(vals, v)
	}
	for _, s := range opts.Set {
		if err := strvals.ParseInto(s, vals); err != nil {
			return nil, fmt.Errorf("--set %q: %w", s, err)
		}
	}
	return mergeMaps(vals, opts.Values), nil
}

// mergeMaps merges b into a copy of a, recursing into nested maps (helm's own
// mergeMaps lives in an internal package of its CLI).
func mergeMaps(a, b map[string]any) map[string]any {
	out := maps.Clone(a)
	for k, v := range b {
		if vm, ok := v.(map[string]any); ok {
			if am, ok := out[k].(map[string]any); ok {
				out[k] = mergeMaps(am, vm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// stripComments drops whole-line YAML comments, so a template that renders to
// comments alone (a disabled component) counts as empty.
func stripComments(text string) string {
	var b strings.Builder
	for line := range strings.Lines(text) {
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") && t != "---" {
			b.WriteString(line)
		}
	}
	return b.String()
}

// SplitDocuments splits a multi-document YAML stream into its non-empty documents.
func SplitDocuments(stream string) []string {
	var docs []string
	for _, doc := range strings.Split("\n"+stream, "\n---") {
		if strings.TrimSpace(stripComments(doc)) != "" {
			docs = append(docs, strings.TrimLeft(doc, "\n"))
		}
	}
	return docs
}
