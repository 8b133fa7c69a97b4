// SPDX-License-Identifier: Apache-2.0

package squashfs

// On-disk constants of the squashfs 4.0 format. All integers are little-endian.
const (
	magic          = 0x73717368 // "hsqs"
	superblockSize = 96
	versionMajor   = 4
	versionMinor   = 0

	// Metadata (inodes, directories, tables) is stored in blocks of at most
	// 8 KiB uncompressed, each preceded by a 2-byte length word.
	metaBlockSize    = 8192
	metaUncompressed = 0x8000 // bit in the metadata length word

	// Data and fragment block size words: bit 24 marks a block stored raw, a
	// zero word marks a sparse (all-zero) block that is not stored at all.
	dataUncompressed = 1 << 24

	noFragment = 0xffffffff
	noXattr    = 0xffffffff
	invalidBlk = 0xffffffffffffffff // table start of an absent table

	compGzip = 1
	compZstd = 6

	// Directory headers hold at most 256 entries whose inodes are in one
	// inode metadata block and within a signed 16-bit delta of the base.
	dirMaxEntries = 256
	maxNameLen    = 255

	// The kernel mounts loop devices only on whole 4 KiB pages.
	padTo = 4096
)

// Superblock flags.
const (
	flagNoInodeComp = 1 << 0
	flagNoDataComp  = 1 << 1
	flagNoFragComp  = 1 << 3
	flagNoFragments = 1 << 4
	flagAlwaysFrags = 1 << 5
	flagDuplicates  = 1 << 6 // duplicate files share their data
	flagNoXattrComp = 1 << 8
	flagNoXattrs    = 1 << 9
	flagCompOptions = 1 << 10
	flagNoIDComp    = 1 << 11
	uncompressedAll = flagNoInodeComp | flagNoDataComp | flagNoFragComp | flagNoXattrComp | flagNoIDComp
)

// Inode types. The extended ("long") variant of each basic type is basic+7.
const (
	inoDir     = 1
	inoReg     = 2
	inoSymlink = 3
	inoBlock   = 4
	inoChar    = 5
	inoFifo    = 6
	inoSocket  = 7
	extOffset  = 7
)

// Xattr name prefixes and their on-disk type codes.
var xattrPrefixes = []struct {
	prefix string
	code   uint16
}{
	{"user.", 0},
	{"trusted.", 1},
	{"security.", 2},
}
