// SPDX-License-Identifier: Apache-2.0

// Package imagecache keeps ready root filesystem trees on a node, keyed by
// content, so that a container step starts without unpacking its image.
//
// An entry is an image's merged tree, produced once (under a per-key lock,
// in a temporary directory renamed into place) and never written again.
// Containers use it as the read-only lower layer of an overlay whose upper
// directory is their own (pkg/rootfs Config.Overlay), mounted inside the
// container's user namespace. Measured on the development machine (ext4, 2
// cores, debian:bookworm, 6.6k files, 127 MB): unpacking the image takes
// 4-6 s per step; a hard-link clone of a cached tree 0.5 s, and it would
// let a writable container modify the shared inodes; reflink is not
// offered by ext4; an overlay mount takes well under a millisecond and
// copies a file up only when the container writes it. Overlay it is.
//
// Keys: a registry image by its manifest digest and platform (one registry
// request per step resolves the tag), a squashfs file by device, inode,
// size, modification time and a digest of its first 64 KiB.
//
// Integrity: each entry records a digest of its tree's metadata (path,
// mode, size, mtime, link target of every entry). It is checked on every
// use, a walk of the tree's inodes; an entry that no longer matches is
// rebuilt.
//
// Eviction: a container holds a shared flock on its entry's use file for
// as long as it runs (its holder inherits the descriptor); GC evicts least
// recently used entries that nobody holds, down to a size cap or an age.
//
// A cache is per user, written by the user's own runtime, unless the site
// configures a shared one (the plugin's shared_rootfs_cache=): there root
// is the only producer, from layers the user's process fetched and root
// verified, and each step gets the tree through an idmapped read-only
// mount (pkg/spank, shared_linux.go). The format and keys are the same.
package imagecache
