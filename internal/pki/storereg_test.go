package pki_test

import (
	"testing"

	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/pki/pkitest"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// The Registry contract on both store engines.
func TestStoreRegistryConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		pkitest.RunRegistryConformance(t, func(t *testing.T) pki.Registry { return pki.NewStoreRegistry(e.Open(t)) })
	})
}
