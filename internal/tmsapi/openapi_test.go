package tmsapi_test

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/fifthwheel/fifthwheel/internal/authz"
	"github.com/fifthwheel/fifthwheel/internal/tmsapi"
)

// TestOpenAPICoversPolicy: every route of authz.Policy and authz.Anonymous
// has an operation in api/openapi.yaml, every operation there is one of
// them, and every route this package serves is in the policy.
func TestOpenAPICoversPolicy(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromFile(openapiPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Fatalf("openapi %q, want 3.1", doc.OpenAPI)
	}
	inDoc := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			inDoc[method+" "+path] = true
		}
	}
	served := map[string]bool{}
	for p := range authz.Policy {
		served[p] = true
	}
	for p := range authz.Anonymous {
		served[p] = true
	}
	var missing, extra []string
	for p := range served {
		if !inDoc[p] {
			missing = append(missing, p)
		}
	}
	for p := range inDoc {
		if !served[p] {
			extra = append(extra, p)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("routes of the policy without an operation in api/openapi.yaml: %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("operations of api/openapi.yaml that no policy entry serves: %v", extra)
	}
	for p := range (&tmsapi.API{}).Routes() {
		if _, ok := authz.Policy[p]; !ok {
			t.Errorf("tmsapi serves %s, which authz.Policy does not name", p)
		}
	}
}
