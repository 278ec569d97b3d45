//go:build unix

package serve

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pathlens/pathlens/serve/store"
)

// A database another pathlens holds stops serve at start with exit
// status 3 and the holder's pid.
func TestServeDatabaseInUse(t *testing.T) {
	db := filepath.Join(t.TempDir(), "pathlens.db")
	st, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = runUntilReady(t, refusedConfig(t, db))
	var ce *ConfigError
	var inUse *store.InUseError
	if !errors.As(err, &ce) || !errors.As(err, &inUse) {
		t.Fatalf("Run = %T %v, want a ConfigError wrapping a *store.InUseError", err, err)
	}
	if want := fmt.Sprintf("serve: store: %s is in use by another pathlens (pid %d, lock file %s.lock)", db, os.Getpid(), db); !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error\n got %q\nwant %q…", err, want)
	}
}
