//go:build integration

package integration

import (
	"testing"

	"github.com/berthproject/berth/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }
