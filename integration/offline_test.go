// SPDX-License-Identifier: Apache-2.0

package integration

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gpyxis/gpyxis/integration/harness"
)

// TestSpankCacheOffline: with GPYXIS_ROOTFS_CACHE_OFFLINE, a step whose
// registry cannot be reached starts from the tree its tag last resolved to
// on the node, and says so; without it, the step fails. The registry is a
// second docker-registry process on the harness's storage, on a port of
// its own, stopped halfway. Root only: the registry's configuration is
// readable by root and the docker-registry group alone.
func TestSpankCacheOffline(t *testing.T) {
	env := harness.Require(t)
	env.RequireImage(t, "busybox", "latest")
	c := newSpankCache(t)
	if os.Geteuid() != 0 {
		t.Skip("starting a registry from the harness configuration needs root: the root run of make test covers this")
	}
	conf, err := os.ReadFile("/etc/gpyxis-infra/registry/plain.yml")
	if err != nil {
		t.Skipf("no plain registry configuration to copy: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	yml := regexp.MustCompile(`(?m)^(\s*addr:).*$`).ReplaceAllString(string(conf), "${1} "+addr)
	cfg := filepath.Join(t.TempDir(), "offline.yml")
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := exec.Command("/usr/bin/docker-registry", "serve", cfg)
	if err := reg.Start(); err != nil {
		t.Fatal(err)
	}
	stop := func() {
		if reg.ProcessState == nil {
			reg.Process.Kill()
			reg.Wait()
		}
	}
	defer stop()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if conn, err := net.Dial("tcp", addr); err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the registry on %s did not start", addr)
		}
	}
	image := "--container-image=" + addr + "#busybox:latest"
	if _, stderr := c.step(image, "sh", "-c", inBusybox); cacheImports(stderr) != 1 {
		t.Fatalf("first step did not import the image:\n%s", stderr)
	}
	key := c.one("after the online step").Key
	stop()

	stdout, stderr, err := c.srun(nil, "-N1", "-w", c.Node, image, "true")
	if err == nil || !strings.Contains(stderr, "failed to import docker image") {
		t.Errorf("offline step without the policy: %v, want a failed import\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	c.setConf("GPYXIS_ROOTFS_CACHE_OFFLINE y")
	stdout, stderr = c.step(image, "sh", "-c", inBusybox)
	if !strings.Contains(stdout, "in-busybox") {
		t.Errorf("offline step with the policy did not run in the image:\n%s\n%s", stdout, stderr)
	}
	if !strings.Contains(stderr, "registry unreachable") || !strings.Contains(stderr, "using the cached") {
		t.Errorf("offline step with the policy did not say it used the cached tree:\n%s", stderr)
	}
	if e := c.one("after the offline step"); e.Key != key {
		t.Errorf("offline step used entry %s, want %s", e.Key, key)
	}
}
