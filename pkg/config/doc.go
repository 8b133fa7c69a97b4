// SPDX-License-Identifier: Apache-2.0

// Package config loads gpyxis' runtime configuration with enroot's rules:
// KEY VALUE or KEY=VALUE files (enroot.conf, then gpyxis.conf, conf.d and the
// per-user file, later wins), ENROOT_* and GPYXIS_* spellings of every key, the
// environment over all files, and enroot's boolean spellings. Values expand
// ${VAR}, $VAR, ${VAR:-word} and ~, but never run commands: $(...) and
// backquotes are refused, except a few fixed forms such as $(id -u) that are
// computed without a shell. See docs/config.md for every key.
package config
