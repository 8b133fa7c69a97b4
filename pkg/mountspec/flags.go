// SPDX-License-Identifier: Apache-2.0

package mountspec

import "strings"

// Linux mount(2) flag values. They are spelled out here, instead of taken
// from golang.org/x/sys/unix, so that parsing builds on every GOOS;
// flags_linux_test.go checks them against unix.MS_*.
const (
	msRdonly      = 0x1
	msNosuid      = 0x2
	msNodev       = 0x4
	msNoexec      = 0x8
	msSynchronous = 0x10
	msRemount     = 0x20
	msMandlock    = 0x40
	msDirsync     = 0x80
	msNoatime     = 0x400
	msNodiratime  = 0x800
	msBind        = 0x1000
	msMove        = 0x2000
	msRec         = 0x4000
	msSilent      = 0x8000
	msUnbindable  = 0x20000
	msPrivate     = 0x40000
	msSlave       = 0x80000
	msShared      = 0x100000
	msRelatime    = 0x200000
	msIVersion    = 0x800000
	msStrictatime = 0x1000000
	msLazytime    = 0x2000000

	// mntDetach is umount2's MNT_DETACH. enroot ORs it into the option flags
	// for "x-detach"; it only matters for the "is there a mount call" test.
	mntDetach = 0x2

	msPropagation = msShared | msSlave | msPrivate | msUnbindable
)

// option is one entry of enroot-mount's option table (enroot-mount.c
// mount_opts): the flag it sets, or clears when clear is true.
type option struct {
	flag  uintptr
	clear bool
}

// options is enroot-mount's option table. Words with a zero flag are
// accepted and dropped (fstab words mount(8) understands, nofail, x-create).
var options = map[string]option{
	"async":         {msSynchronous, true},
	"atime":         {msNoatime, true},
	"bind":          {msBind, false},
	"dev":           {msNodev, true},
	"diratime":      {msNodiratime, true},
	"dirsync":       {msDirsync, false},
	"exec":          {msNoexec, true},
	"iversion":      {msIVersion, false},
	"loud":          {msSilent, true},
	"mand":          {msMandlock, false},
	"noatime":       {msNoatime, false},
	"nodev":         {msNodev, false},
	"nodiratime":    {msNodiratime, false},
	"noexec":        {msNoexec, false},
	"noiversion":    {msIVersion, true},
	"nomand":        {msMandlock, true},
	"norelatime":    {msRelatime, true},
	"nostrictatime": {msStrictatime, true},
	"nosuid":        {msNosuid, false},
	"private":       {msPrivate, false},
	"rbind":         {msBind | msRec, false},
	"relatime":      {msRelatime, false},
	"remount":       {msRemount, false},
	"ro":            {msRdonly, false},
	"rprivate":      {msPrivate | msRec, false},
	"rshared":       {msShared | msRec, false},
	"rslave":        {msSlave | msRec, false},
	"runbindable":   {msUnbindable | msRec, false},
	"rw":            {msRdonly, true},
	"shared":        {msShared, false},
	"silent":        {msSilent, false},
	"slave":         {msSlave, false},
	"strictatime":   {msStrictatime, false},
	"suid":          {msNosuid, true},
	"sync":          {msSynchronous, false},
	"unbindable":    {msUnbindable, false},
	"lazytime":      {msLazytime, false},
	"nolazytime":    {msLazytime, true},

	"auto":          {},
	"defaults":      {},
	"group":         {},
	"noauto":        {},
	"nofail":        {},
	"nogroup":       {},
	"noowner":       {},
	"nouser":        {},
	"nousers":       {},
	"owner":         {},
	"user":          {},
	"users":         {},
	"x-create=dir":  {},
	"x-create=file": {},
	"x-create=auto": {},
	"x-move":        {msMove, false},
	"x-detach":      {},
}

// isOption reports whether a third fstab field holds options rather than a
// filesystem type (enroot-mount.c ismntopt). Unlike enroot, any "x-" word
// counts as an option, so that "SRC DST x-create=bad" reports the bad
// option instead of mounting a filesystem type "x-create=bad".
func isOption(s string) bool {
	if strings.ContainsRune(s, ',') || strings.HasPrefix(s, "x-") {
		return true
	}
	_, ok := options[s]
	return ok
}

// propagationOrder is the order enroot applies propagation changes in
// (enroot-mount.c mount_propagate), with the option that makes each
// recursive.
var propagationOrder = []struct {
	flag uintptr
	rec  string
}{
	{msShared, "rshared"},
	{msSlave, "rslave"},
	{msPrivate, "rprivate"},
	{msUnbindable, "runbindable"},
}

// setOptions lists the flag-setting options Mount.String emits, in a fixed
// order, to rebuild Flags from zero.
var setOptions = []struct {
	name string
	flag uintptr
}{
	{"ro", msRdonly},
	{"nosuid", msNosuid},
	{"nodev", msNodev},
	{"noexec", msNoexec},
	{"sync", msSynchronous},
	{"remount", msRemount},
	{"mand", msMandlock},
	{"dirsync", msDirsync},
	{"noatime", msNoatime},
	{"nodiratime", msNodiratime},
	{"relatime", msRelatime},
	{"iversion", msIVersion},
	{"strictatime", msStrictatime},
	{"lazytime", msLazytime},
}
