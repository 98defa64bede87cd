package translate_test

import (
	"strings"
	"testing"

	"github.com/tensile-kube/tensile/internal/translate"
)

func TestParseNamespaceMap(t *testing.T) {
	o := translate.Owner{VirtualNode: "vk-a", UpperCluster: "up1"}
	for _, tc := range []struct {
		template string
		wantErr  string // substring; "" means valid
		lower    string // lower namespace of "web"
	}{
		{template: "", lower: "web"},
		{template: "{namespace}", lower: "web"},
		{template: "{namespace}-{cluster}", lower: "web-up1"},
		{template: "{node}-{namespace}", lower: "vk-a-web"},
		{template: "x-{namespace}-{cluster}-{node}", lower: "x-web-up1-vk-a"},
		{template: "{cluster}", wantErr: "exactly once, found it 0 times"},
		{template: "{namespace}-{namespace}", wantErr: "exactly once, found it 2 times"},
		{template: "{namespace}-{zone}", wantErr: "unknown placeholder"},
		{template: "{namespace}_x", wantErr: "must consist of lower case"},
		{template: "-{namespace}", wantErr: "must consist of lower case"},
		{template: "{namespace}-" + strings.Repeat("x", 62), wantErr: "must be no more than 63"},
	} {
		t.Run(tc.template, func(t *testing.T) {
			m, err := translate.ParseNamespaceMap(tc.template, o)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := m.ToLower("web"); got != tc.lower {
				t.Errorf("ToLower(web) = %q, want %q", got, tc.lower)
			}
			if got, ok := m.ToUpper(tc.lower); !ok || got != "web" {
				t.Errorf("ToUpper(%q) = %q, %v; want web, true", tc.lower, got, ok)
			}
			if m.ToLower("") != "" {
				t.Errorf("ToLower(\"\") = %q: all namespaces must stay all namespaces", m.ToLower(""))
			}
		})
	}
}

func TestNamespaceMapToUpper(t *testing.T) {
	m, err := translate.ParseNamespaceMap("{namespace}-up1", translate.Owner{VirtualNode: "vk", UpperCluster: "up1"})
	if err != nil {
		t.Fatal(err)
	}
	for lower, want := range map[string]struct {
		upper string
		ok    bool
	}{
		"web-up1":         {"web", true},
		"web-up1-up1":     {"web-up1", true},
		"web":             {"", false}, // the lower cluster's own
		"web-up2":         {"", false}, // another upper cluster's
		"-up1":            {"", false}, // nothing left of the upper name
		"kube-system-up1": {"kube-system", true},
	} {
		if got, ok := m.ToUpper(lower); got != want.upper || ok != want.ok {
			t.Errorf("ToUpper(%q) = %q, %v; want %q, %v", lower, got, ok, want.upper, want.ok)
		}
	}
	var identity translate.NamespaceMap
	if got, ok := identity.ToUpper("web"); got != "web" || !ok {
		t.Errorf("identity ToUpper(web) = %q, %v", got, ok)
	}
}

func TestNamespaceMapCheckLower(t *testing.T) {
	m, err := translate.ParseNamespaceMap("{namespace}-{cluster}", translate.Owner{VirtualNode: "vk", UpperCluster: "0b9c3e44-5b7e-4c55-9a43-2a1e1c1d2f00"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.CheckLower("web"); err != nil {
		t.Errorf("CheckLower(web): %v", err)
	}
	long := strings.Repeat("n", 30)
	if err := m.CheckLower(long); err == nil || !strings.Contains(err.Error(), "--upper-cluster-id") {
		t.Errorf("CheckLower(%d characters) = %v, want an error that says what to change", len(long), err)
	}
}

// FuzzNamespaceMap checks the property every reverse lookup relies on: whatever lower
// namespace ToUpper accepts is exactly ToLower of what it returns, so no lower object
// is ever taken for a copy in another namespace, and the map round-trips.
func FuzzNamespaceMap(f *testing.F) {
	for _, seed := range [][3]string{
		{"{namespace}-{cluster}", "web", "web-up1"},
		{"{node}-{namespace}", "kube-system", "vk-a-kube-system-up1"},
		{"x-{namespace}-{cluster}-{node}", "a", "x-a-up1-vk-a"},
		{"{namespace}", "default", "default"},
		{"{namespace}-{cluster}", "a-up1", "-up1"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	o := translate.Owner{VirtualNode: "vk-a", UpperCluster: "up1"}
	f.Fuzz(func(t *testing.T, template, upper, lower string) {
		m, err := translate.ParseNamespaceMap(template, o)
		if err != nil {
			return
		}
		if upper != "" {
			if got, ok := m.ToUpper(m.ToLower(upper)); !ok || got != upper {
				t.Errorf("%s: ToUpper(ToLower(%q)) = %q, %v", template, upper, got, ok)
			}
		}
		if got, ok := m.ToUpper(lower); ok && m.ToLower(got) != lower {
			t.Errorf("%s: ToUpper(%q) = %q, but ToLower of that is %q", template, lower, got, m.ToLower(got))
		}
	})
}
