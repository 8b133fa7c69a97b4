// SPDX-License-Identifier: Apache-2.0

package spank

import (
	"errors"
	"testing"
)

func TestFirstHost(t *testing.T) {
	for in, want := range map[string]string{
		"vm":                      "vm",
		"vm,vm-n2":                "vm",
		"node[01-04]":             "node01",
		"node[07,09-12],gpu[1-2]": "node07",
		"a-b[3-5]-c":              "a-b3-c",
		"node[009-010]":           "node009",
		"node[9-10]":              "node9",
		"node[5]":                 "node5",
		"node[3,1]":               "node3",
		"gpu[1-2],node[07,09-12]": "gpu1",
		"rack[2-3]-n[08-09]":      "rack2-n08",
		"[1-3]":                   "1",
		"n1.example.com,n2":       "n1.example.com",
		"  node[1-2] ":            "node1",
		",node1,":                 "node1",
		"node1 node2":             "node1",
		"node[0]":                 "node0",
		"x[18446744073709551615]": "x18446744073709551615",
	} {
		got, err := FirstHost(in)
		if err != nil {
			t.Errorf("FirstHost(%q): %v", in, err)
			continue
		}
		if got != want {
			t.Errorf("FirstHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFirstHostErrors(t *testing.T) {
	for _, in := range []string{
		"",
		" ",
		",",
		"node[",
		"node[1-2",
		"node]",
		"node1-2]",
		"node[]",
		"node[[1]]",
		"node[1-]",
		"node[-2]",
		"node[,1]",
		"node[1,]",
		"node[a-b]",
		"node[1-2-3]",
		"node[4-2]",
		"node[+1]",
		"node[ 1]",
		"node[99999999999999999999]",
		"good,bad[",
		"good,bad[x]",
	} {
		got, err := FirstHost(in)
		if err == nil {
			t.Errorf("FirstHost(%q) = %q, want an error", in, got)
			continue
		}
		if !errors.Is(err, ErrBadHostlist) {
			t.Errorf("FirstHost(%q): error %v does not match ErrBadHostlist", in, err)
		}
	}
}
