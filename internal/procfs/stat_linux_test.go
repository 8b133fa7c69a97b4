// SPDX-License-Identifier: Apache-2.0

package procfs

import (
	"errors"
	"os"
	"os/exec"
	"testing"
)

func TestStartTime(t *testing.T) {
	a, err := StartTime(os.Getpid())
	if err != nil || a == 0 {
		t.Fatalf("StartTime(self) = %d, %v", a, err)
	}
	if b, err := StartTime(os.Getpid()); err != nil || b != a {
		t.Errorf("StartTime(self) changed: %d then %d, %v", a, b, err)
	}
	c := exec.Command("true")
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	if _, err := StartTime(c.Process.Pid); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("StartTime of a reaped process: %v, want os.ErrNotExist", err)
	}
}
