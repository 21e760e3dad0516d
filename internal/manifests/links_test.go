package manifests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// docFiles is README.md and every docs/*.md.
func docFiles(t *testing.T) []string {
	t.Helper()
	docs, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if len(docs) == 0 {
		t.Fatal("no docs/*.md found")
	}
	return append([]string{filepath.Join(root, "README.md")}, docs...)
}

func TestLinks_EveryRelativeLinkOfTheDocsResolves(t *testing.T) {
	files := docFiles(t)
	n := 0
	for _, f := range files {
		md, _ := os.ReadFile(f)
		n += len(Links(md))
	}
	for _, err := range CheckLinks(files) {
		t.Error(err)
	}
	t.Logf("%d relative links checked in %d documents", n, len(files))
	if n < 30 {
		t.Errorf("only %d relative links found in %d documents: is the link parser still finding them?", n, len(files))
	}
}

func TestSlug_AsGitHubRendersHeadings(t *testing.T) {
	for heading, want := range map[string]string{
		"Node files (`/etc/cni/qinq/`)":                   "node-files-etccniqinq",
		"Performance (`make bench`)":                      "performance-make-bench",
		"qinq — QinQ (802.1ad) networking for containers": "qinq--qinq-8021ad-networking-for-containers",
		"Open vSwitch: `vlan-limit`":                      "open-vswitch-vlan-limit",
		"The [bridge](x.md) container link":               "the-bridge-container-link",
	} {
		if got := Slug(heading); got != want {
			t.Errorf("Slug(%q) = %q, want %q", heading, got, want)
		}
	}
}

// TestLinks_ABrokenLinkFails is the control: each broken form is caught,
// and the good ones beside them are not.
func TestLinks_ABrokenLinkFails(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	other := write("docs/other.md", "# Other\n\n## A section\n\n## A section\n\nBack to [the top](../README.md#top).\n")
	readme := write("README.md", "# Top\n\n"+
		"[ok](docs/other.md#a-section) [ok repeat](docs/other.md#a-section-1) [ok dir](docs/) [ok here](#top)\n"+
		"[web](https://example.com/x.md#nowhere) `[in code](nowhere.md)`\n"+
		"```\n[in a block](nowhere.md)\n```\n"+
		"[gone](docs/gone.md)\n"+
		"[bad anchor](docs/other.md#no-such-section)\n"+
		"[bad here](#nowhere)\n"+
		"[anchor in a directory](docs/#x)\n")
	errs := CheckLinks([]string{readme, other})
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	want := []string{"README.md:8: link to docs/gone.md", "README.md:9: link to docs/other.md#no-such-section",
		"README.md:10: link to #nowhere", "README.md:11: link to docs/#x"}
	if len(got) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("error %d: %q, want it to contain %q", i, got[i], want[i])
		}
	}
}
