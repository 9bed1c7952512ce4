package store

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/bulkinvite/bulkinvite/internal/redistest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(redistest.Main(m))
}
