// SPDX-License-Identifier: Apache-2.0

package mountspec

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestFlagValuesMatchUnix(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"MS_RDONLY", msRdonly, unix.MS_RDONLY},
		{"MS_NOSUID", msNosuid, unix.MS_NOSUID},
		{"MS_NODEV", msNodev, unix.MS_NODEV},
		{"MS_NOEXEC", msNoexec, unix.MS_NOEXEC},
		{"MS_SYNCHRONOUS", msSynchronous, unix.MS_SYNCHRONOUS},
		{"MS_REMOUNT", msRemount, unix.MS_REMOUNT},
		{"MS_MANDLOCK", msMandlock, unix.MS_MANDLOCK},
		{"MS_DIRSYNC", msDirsync, unix.MS_DIRSYNC},
		{"MS_NOATIME", msNoatime, unix.MS_NOATIME},
		{"MS_NODIRATIME", msNodiratime, unix.MS_NODIRATIME},
		{"MS_BIND", msBind, unix.MS_BIND},
		{"MS_MOVE", msMove, unix.MS_MOVE},
		{"MS_REC", msRec, unix.MS_REC},
		{"MS_SILENT", msSilent, unix.MS_SILENT},
		{"MS_UNBINDABLE", msUnbindable, unix.MS_UNBINDABLE},
		{"MS_PRIVATE", msPrivate, unix.MS_PRIVATE},
		{"MS_SLAVE", msSlave, unix.MS_SLAVE},
		{"MS_SHARED", msShared, unix.MS_SHARED},
		{"MS_RELATIME", msRelatime, unix.MS_RELATIME},
		{"MS_I_VERSION", msIVersion, unix.MS_I_VERSION},
		{"MS_STRICTATIME", msStrictatime, unix.MS_STRICTATIME},
		{"MS_LAZYTIME", msLazytime, unix.MS_LAZYTIME},
		{"MNT_DETACH", mntDetach, unix.MNT_DETACH},
	} {
		if c.got != c.want {
			t.Errorf("%s = %#x, unix has %#x", c.name, c.got, c.want)
		}
	}
}
