// Package rootfs builds a container's root filesystem from image layers or a
// squashfs file and prepares its mounts before pivot_root.
package rootfs
