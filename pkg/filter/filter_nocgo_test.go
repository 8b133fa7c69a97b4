// SPDX-License-Identifier: Apache-2.0

//go:build !cgo

package filter

import (
	"errors"
	"testing"
)

func TestUnavailableWithoutCgo(t *testing.T) {
	if _, err := BPF(Options{}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("BPF: %v, want ErrUnavailable", err)
	}
	if err := Load(Options{}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Load: %v, want ErrUnavailable", err)
	}
}
