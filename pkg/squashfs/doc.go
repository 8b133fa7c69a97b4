// Package squashfs writes and reads squashfs images, the on-disk form in which
// gpyxis keeps container images on shared storage.
//
// The writer produces squashfs 4.0 images that the Linux kernel mounts and
// squashfs-tools reads. Entries are added in any order (children before their
// parents, missing parents are created implicitly); regular file data is
// streamed straight to the output file while it is compressed in parallel,
// and the metadata tables are built in memory and written by Close.
//
// Layout of an image written here, in file order:
//
//	superblock (96 bytes, written last at offset 0)
//	compressor options (zstd only: one metadata block holding the level)
//	data blocks and fragment blocks, in the order files were added
//	(a file with the content of an earlier one shares that one's data)
//	inode table
//	directory table
//	fragment table (metadata blocks, then their u64 index)
//	id table (metadata blocks, then their u64 index)
//	xattr key/value table, xattr id table, xattr id header and index
//	padding to a 4 KiB multiple
//
// The order of the tables after the data is not a free choice: the kernel
// checks at mount time that each table's index ends exactly where the next
// table begins (id index before the xattr tables or bytes_used, xattr index at
// bytes_used), so it must stay as above.
package squashfs
