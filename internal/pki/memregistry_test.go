package pki_test

import (
	"testing"

	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/pki/pkitest"
)

func TestMemRegistryConformance(t *testing.T) {
	pkitest.RunRegistryConformance(t, func(*testing.T) pki.Registry { return pki.NewMemRegistry() })
}
