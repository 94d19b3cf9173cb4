package openapi_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/harmonia-music/harmonia/apps/gateway/internal/openapi"
	"github.com/harmonia-music/harmonia/apps/gateway/internal/routes"
)

// The document and the gateway's route table must describe the same API.
func TestDocumentMatchesRouteTable(t *testing.T) {
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(openapi.Document, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	strip := regexp.MustCompile(`\{([a-zA-Z]+)(:[^}]*)?\}`)
	inTable := map[string]bool{}
	for _, rt := range routes.Table {
		path := strip.ReplaceAllString(rt.Path, "{$1}")
		m := strings.ToLower(rt.Method)
		inTable[m+" "+path] = true
		op, ok := doc.Paths[path][m]
		if !ok {
			t.Errorf("%s %s is routed but not documented", rt.Method, path)
			continue
		}
		if _, ok := op["responses"]; !ok {
			t.Errorf("%s %s has no responses", rt.Method, path)
		}
	}
	for path, ops := range doc.Paths {
		for m := range ops {
			if path == "/api/v1/openapi.json" {
				continue
			}
			if !inTable[m+" "+path] {
				t.Errorf("%s %s is documented but not routed", strings.ToUpper(m), path)
			}
		}
	}
}
