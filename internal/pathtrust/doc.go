// SPDX-License-Identifier: Apache-2.0

// Package pathtrust decides whether a user may trust a directory or file it
// is about to use, as ssh's StrictModes does for ~/.ssh: a per-user
// directory that another user can write to (or could swap on the way to it)
// lets that user plant the binaries the owner runs next.
//
// The rule, for a path used by uid:
//
//   - the directory (or file) itself belongs to uid and is not writable by
//     group or others;
//   - every directory above it, up to /, belongs to root or uid and is not
//     writable by group or others unless it is sticky (a 1777 /tmp or
//     /var/lib/enroot/data is fine: others cannot rename or remove what uid
//     made there);
//   - a symbolic link on the way belongs to root or uid (another user's link
//     in a sticky directory is refused), and its target is checked by the
//     same rule.
//
// The walk opens each component with O_NOFOLLOW relative to its parent's
// descriptor and checks what it opened (fstat), so a component swapped
// during the check is either seen or not reached, never followed.
package pathtrust
