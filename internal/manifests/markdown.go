package manifests

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"
)

// Block is a fenced code block of a Markdown file.
type Block struct {
	Lang string
	Line int // where its content starts, 1-based
	Text string
}

// Blocks returns the fenced code blocks of a Markdown document.
func Blocks(md []byte) []Block {
	var out []Block
	var cur *Block
	var body strings.Builder
	s := bufio.NewScanner(bytes.NewReader(md))
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; s.Scan(); line++ {
		text := s.Text()
		fence := strings.HasPrefix(strings.TrimSpace(text), "```")
		switch {
		case fence && cur == nil:
			cur = &Block{Lang: strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(text), "```")), Line: line + 1}
			body.Reset()
		case fence:
			cur.Text = body.String()
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			body.WriteString(text + "\n")
		}
	}
	return out
}

// AddMarkdown checks a document's examples: a JSON block that is a CNI
// configuration (it has "type" or "plugins"; other JSON, such as log lines,
// is not an example of input), and every YAML block, which must be either
// Kubernetes objects or pod annotations.
func (s *Set) AddMarkdown(where string, md []byte) (checked int, err error) {
	for _, b := range Blocks(md) {
		at := fmt.Sprintf("%s:%d", where, b.Line)
		switch b.Lang {
		case "json":
			if !strings.Contains(b.Text, `"type"`) && !strings.Contains(b.Text, `"plugins"`) {
				continue
			}
			_, err = s.AddConfig(at, []byte(b.Text))
		case "yaml", "yml":
			err = s.addYAMLExample(at, []byte(b.Text))
		default:
			continue
		}
		if err != nil {
			return checked, err
		}
		checked++
	}
	return checked, nil
}

// addYAMLExample takes Kubernetes objects (with apiVersion) or a fragment
// of pod annotations, the two forms the documentation shows.
func (s *Set) addYAMLExample(where string, data []byte) error {
	if bytes.Contains(data, []byte("apiVersion:")) {
		return s.AddYAML(where, data)
	}
	var annotations map[string]string
	if err := yaml.UnmarshalStrict(data, &annotations); err != nil {
		return fmt.Errorf("%s: a YAML example that is neither Kubernetes objects nor pod annotations: %w", where, err)
	}
	for k := range annotations {
		if !strings.Contains(k, "/") {
			return fmt.Errorf("%s: %q is not an annotation key", where, k)
		}
	}
	return s.addPod(where, annotations)
}
