// SPDX-License-Identifier: Apache-2.0

package registry

import (
	"fmt"
	"strings"

	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// choosePlatform picks the manifest for want from an index. OS and architecture
// must be equal; the variant must be one want can run, the best one first (an
// arm64 host takes v8 or an unspecified variant; an amd64 v3 host takes v3, v2,
// then v1). An empty wanted variant takes any variant, preferring the
// baseline. Attestations and entries that are not image manifests are never
// chosen. The error names ref and lists the platforms the index offers.
func choosePlatform(idx *imgspecv1.Index, want Platform, ref string) (imgspecv1.Descriptor, error) {
	cands := candidates(idx)
	for _, v := range variantPreference(want) {
		for _, d := range cands {
			if d.Platform.OS == want.OS && d.Platform.Architecture == want.Architecture &&
				normVariant(d.Platform.Architecture, d.Platform.Variant) == v {
				return d, nil
			}
		}
	}
	if want.Variant == "" {
		for _, d := range cands {
			if d.Platform.OS == want.OS && d.Platform.Architecture == want.Architecture {
				return d, nil
			}
		}
	}
	var avail []string
	for _, d := range cands {
		avail = append(avail, descPlatform(d).String())
	}
	if len(avail) == 0 {
		avail = []string{"none"}
	}
	return imgspecv1.Descriptor{}, &Error{Kind: ErrNoPlatform, Ref: want.String() + " in " + ref,
		Hint: "the image offers " + strings.Join(avail, ", ")}
}

// candidates are the index entries that may be chosen at all.
func candidates(idx *imgspecv1.Index) []imgspecv1.Descriptor {
	var out []imgspecv1.Descriptor
	for _, d := range idx.Manifests {
		if d.Platform == nil || d.Platform.OS == "unknown" || d.Platform.Architecture == "unknown" {
			continue
		}
		if d.Annotations["vnd.docker.reference.type"] != "" {
			continue // buildkit attestation manifests
		}
		if d.MediaType != "" && !isImageManifest(d.MediaType) {
			continue
		}
		out = append(out, d)
	}
	return out
}

func descPlatform(d imgspecv1.Descriptor) Platform {
	return Platform{OS: d.Platform.OS, Architecture: d.Platform.Architecture, Variant: d.Platform.Variant}
}

// normVariant maps the default variant of an architecture to its name.
func normVariant(arch, variant string) string {
	if variant != "" {
		return variant
	}
	switch arch {
	case "arm64":
		return "v8"
	case "arm":
		return "v7"
	case "amd64":
		return "v1"
	}
	return ""
}

// variantPreference lists the variants a want host can run, best first.
func variantPreference(want Platform) []string {
	v := normVariant(want.Architecture, want.Variant)
	var ladder []string
	switch want.Architecture {
	case "amd64":
		ladder = []string{"v4", "v3", "v2", "v1"}
	case "arm":
		ladder = []string{"v8", "v7", "v6", "v5"}
	}
	for i, l := range ladder {
		if l == v {
			return ladder[i:]
		}
	}
	return []string{v}
}

// platformMismatch describes how the config's platform differs from want, or "".
func platformMismatch(cfg imgspecv1.Image, want Platform) string {
	if cfg.Architecture == "" || (cfg.OS == want.OS && cfg.Architecture == want.Architecture) {
		return ""
	}
	return fmt.Sprintf("image is %s/%s, wanted %s", cfg.OS, cfg.Architecture, want)
}
