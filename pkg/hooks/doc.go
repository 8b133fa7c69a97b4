// SPDX-License-Identifier: Apache-2.0

// Package hooks prepares a container before its init starts: the Go
// versions of enroot's hooks (conf/hooks/*.sh) and the site's own hook
// executables, run on the host side by the runtime.
//
// enroot runs its hooks inside the new user and mount namespaces, after the
// system mounts (pass -1) and before the user's mounts (enroot's
// src/runtime.sh, runtime::_start). gpyxis runs them
// earlier, on the host, before [rootfs.Start]: a hook here does not mount
// anything itself, it produces data in a [Context]: mounts appended to
// Context.Mounts (applied by the container init after its system mounts
// and before the caller's user mounts, the same place as enroot), changes to
// the container environment Context.Env, and files written into the rootfs
// directory (passwd, group, shadow, localtime, apt configuration). Every
// file the hooks read or write in the rootfs is reached through
// internal/inroot, resolved by the kernel inside the rootfs: the image is
// untrusted, and its symlinks never lead to host files.
//
// [Builtin] returns the built-in hooks in enroot's order (10-aptfix,
// 10-cgroups, 10-devices, 10-home, 10-localtime, 10-shadow, 98-nvidia), each
// switched by a Context.Config key with enroot's default:
//
//	aptfix       on   remap-root + Debian image: APT::Sandbox::User "root"
//	cgroups      on   bind the caller's cgroup subtree read-only
//	restrict_dev off  tmpfs /dev with a minimal set of devices (ENROOT_RESTRICT_DEV)
//	unshare_ipc  off  also enables restrict_dev, with a private /dev/shm and mqueue
//	mount_home   off  bind $HOME (ENROOT_MOUNT_HOME)
//	localtime    on   copy the host /etc/localtime link and zone file
//	shadow       on   passwd/group entries for root, nobody and the user
//	nvidia       on   nvidia-container-cli configure, when installed and asked for
//
// A value is true unless it is "", "0", "n", "no", "false" or "off".
//
// [Site] wraps the executables of a hooks directory with enroot's
// contract: ENROOT_ROOTFS, ENROOT_PID, ENROOT_ENVIRON and ENROOT_MOUNTS (and
// the same under GPYXIS_* names) in their environment; NAME=VALUE lines the
// hook leaves in the environ file and fstab lines it appends to the mounts
// file are read back into the Context. A non-zero exit is fatal with
// enroot's message "<hook> exited with return code N".
//
// [Exec] runs any command with the same contract: the hooks() function of an
// enroot configuration script (start --conf), run by bash.
//
// [RunAll] runs hooks in slice order and stops at the first error.
//
// The API is internal to gpyxis and is not stable.
package hooks
