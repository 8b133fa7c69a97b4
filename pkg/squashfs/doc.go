// Package squashfs writes and reads squashfs images, the on-disk form in which
// gpyxis keeps container images on shared storage.
package squashfs
