package manifests

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"
)

// Link is a relative link of a Markdown document: a file (or directory)
// relative to the document, an anchor, or both.
type Link struct {
	Line   int
	File   string // "" for an anchor in the same document
	Anchor string
}

var (
	linkRe     = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	inlineCode = regexp.MustCompile("`[^`]*`")
	mdLinkText = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
)

// Links returns the relative links of a document, outside code: a URL with
// a scheme leaves the tree and is not checked here.
func Links(md []byte) []Link {
	var out []Link
	forLines(md, func(line int, text string) {
		for _, m := range linkRe.FindAllStringSubmatch(inlineCode.ReplaceAllString(text, ""), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			out = append(out, Link{Line: line, File: file, Anchor: anchor})
		}
	})
	return out
}

// Anchors returns the anchors GitHub gives a document's headings: the text
// as rendered, lower-cased, punctuation dropped, spaces made hyphens, and
// -1, -2… on repeats.
func Anchors(md []byte) map[string]bool {
	seen := map[string]bool{}
	forLines(md, func(_ int, text string) {
		h := strings.TrimLeft(text, "#")
		if len(h) == len(text) || len(text)-len(h) > 6 || !strings.HasPrefix(h, " ") {
			return
		}
		slug := Slug(h)
		for i, s := 1, slug; ; i++ {
			if !seen[s] {
				seen[s] = true
				break
			}
			s = fmt.Sprintf("%s-%d", slug, i)
		}
	})
	return seen
}

// Slug is a heading's anchor as GitHub makes it.
func Slug(heading string) string {
	text := mdLinkText.ReplaceAllString(strings.TrimSpace(heading), "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// forLines calls f for each line outside fenced code blocks.
func forLines(md []byte, f func(line int, text string)) {
	s := bufio.NewScanner(bytes.NewReader(md))
	s.Buffer(make([]byte, 1<<20), 1<<20)
	fenced := false
	for line := 1; s.Scan(); line++ {
		if strings.HasPrefix(strings.TrimSpace(s.Text()), "```") {
			fenced = !fenced
			continue
		}
		if !fenced {
			f(line, s.Text())
		}
	}
}

// CheckLinks reports every relative link of the given Markdown files that
// does not resolve: a file that does not exist, or an anchor that no
// heading of the target document makes.
func CheckLinks(files []string) []error {
	var errs []error
	for _, doc := range files {
		md, err := os.ReadFile(doc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, l := range Links(md) {
			if err := resolve(doc, md, l); err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: %w", doc, l.Line, err))
			}
		}
	}
	return errs
}

func resolve(doc string, md []byte, l Link) error {
	target, data := doc, md
	if l.File != "" {
		target = filepath.Join(filepath.Dir(doc), l.File)
		if _, err := os.Stat(target); err != nil {
			return fmt.Errorf("link to %s: no such file or directory", l.File)
		}
	}
	if l.Anchor == "" {
		return nil
	}
	if !strings.HasSuffix(target, ".md") {
		return fmt.Errorf("link to %s#%s: an anchor in a file that is not Markdown", l.File, l.Anchor)
	}
	if l.File != "" {
		var err error
		if data, err = os.ReadFile(target); err != nil {
			return err
		}
	}
	if !Anchors(data)[l.Anchor] {
		return fmt.Errorf("link to %s#%s: no heading makes that anchor", l.File, l.Anchor)
	}
	return nil
}
