// SPDX-License-Identifier: Apache-2.0

// Command treemanifest prints integration/harness.Manifest of a tree: the format of
// integration/infra/images/multilayer.expected. Use it to review, never to regenerate
// blindly, the expected file: treemanifest ROOT /opt/ml /etc/gpyxis-test /etc/motd
package main

import (
	"fmt"
	"os"

	"github.com/gpyxis/gpyxis/integration/harness"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: treemanifest ROOT PATH...")
		os.Exit(2)
	}
	out, err := harness.Manifest(os.Args[1], os.Args[2:]...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "treemanifest: %v\n", err)
		os.Exit(1)
	}
	fmt.Print(out)
}
