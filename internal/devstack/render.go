package devstack

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// DataPrefix starts every data path in the resource files: relative to
// daprd's working directory, the app's folder apps/<app>/, as the Dapr CLI
// runs it; so it names the repository's .data/ under 'dapr run -f .'.
const DataPrefix = "../../.data/"

// renderer rewrites Dapr resource files for one stack: data paths
// (DataPrefix) point into the stack's data directory, and with a port offset every
// metadata value that names a local infrastructure port is moved too. The
// files in components/ stay valid for the real Dapr CLI as they are.
type renderer struct {
	dataDir string
	offset  int
	infra   map[int]bool // base infrastructure ports that move with the offset
}

var hostPort = regexp.MustCompile(`^(localhost|127\.0\.0\.1):(\d+)$`)

func (r renderer) file(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	out, err := r.bytes(b)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	return os.WriteFile(dst, out, 0o600)
}

func (r renderer) bytes(b []byte) ([]byte, error) {
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if err.Error() == "EOF" {
				break
			}
			return nil, err
		}
		r.walk(&n, "")
		docs = append(docs, &n)
	}
	var sb strings.Builder
	for i, d := range docs {
		if i > 0 {
			sb.WriteString("---\n")
		}
		out, err := yaml.Marshal(d)
		if err != nil {
			return nil, err
		}
		sb.Write(out)
	}
	return []byte(sb.String()), nil
}

// walk visits scalars; name is the "name" of the metadata item a "value" belongs to.
func (r renderer) walk(n *yaml.Node, name string) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			r.walk(c, "")
		}
	case yaml.MappingNode:
		itemName := ""
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "name" {
				itemName = n.Content[i+1].Value
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			r.walk(n.Content[i+1], itemName)
		}
	case yaml.ScalarNode:
		n.Value = r.scalar(n.Value, name)
	}
}

func (r renderer) scalar(v, name string) string {
	if strings.HasPrefix(v, DataPrefix) {
		return filepath.Join(r.dataDir, strings.TrimPrefix(v, DataPrefix))
	}
	if r.offset == 0 {
		return v
	}
	if m := hostPort.FindStringSubmatch(v); m != nil {
		if p, _ := strconv.Atoi(m[2]); r.infra[p] {
			return m[1] + ":" + strconv.Itoa(p+r.offset)
		}
	}
	if name == "port" {
		if p, err := strconv.Atoi(v); err == nil && r.infra[p] {
			return strconv.Itoa(p + r.offset)
		}
	}
	return v
}
