# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
# Image building blocks for images-build.sh: layers from directories or tar files, configs,
# manifests (OCI and Docker v2s2), indexes, and a push over the registry HTTP API with curl.
# No docker, buildah or umoci: every byte of every manifest is ours, so digests are known
# before the push and recorded for the tests.

BUILD=$GPX_STATE/build
OCI=$BUILD/oci              # an OCI layout holding every blob (umoci can unpack from it)
LAYERS=$BUILD/layers        # NAME.json: cached layer descriptors
RECORDS=$GPX_STATE/images.d # one JSON record per pushed tag, read by the harness
PUSH_REG=${PUSH_REG:-http://$REG_HOST:$REG_PLAIN_PORT}
CREATED=2025-01-01T00:00:00Z

MT_OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
MT_OCI_INDEX=application/vnd.oci.image.index.v1+json
MT_OCI_CONFIG=application/vnd.oci.image.config.v1+json
MT_V2S2_MANIFEST=application/vnd.docker.distribution.manifest.v2+json
MT_V2S2_LIST=application/vnd.docker.distribution.manifest.list.v2+json
MT_V2S2_CONFIG=application/vnd.docker.container.image.v1+json

init_store() {
	mkdir -p "$OCI/blobs/sha256" "$LAYERS" "$RECORDS" "$BUILD/tmp"
	[ -f "$OCI/oci-layout" ] || echo '{"imageLayoutVersion":"1.0.0"}' >"$OCI/oci-layout"
	[ -f "$OCI/index.json" ] || echo '{"schemaVersion":2,"mediaType":"'$MT_OCI_INDEX'","manifests":[]}' >"$OCI/index.json"
}

blob_path() { printf '%s/blobs/sha256/%s\n' "$OCI" "${1#sha256:}"; }

# add_blob FILE: moves FILE into the blob store and prints its digest.
add_blob() {
	local h
	h=$(sha256sum "$1" | cut -d' ' -f1)
	mv -f "$1" "$OCI/blobs/sha256/$h"
	printf 'sha256:%s\n' "$h"
}

# layer_from_tar NAME TARFILE [gzip|zstd]: compresses TARFILE (consumed) into a layer blob and
# caches its descriptor as $LAYERS/NAME.json {digest,size,diff_id,compression}.
layer_from_tar() {
	local name=$1 tarfile=$2 comp=${3:-gzip} diffid digest tmp=$BUILD/tmp/$1.blob
	diffid=sha256:$(sha256sum "$tarfile" | cut -d' ' -f1)
	case $comp in
	gzip) pigz -6 -n -c "$tarfile" >"$tmp" ;;
	zstd) zstd -q -T0 -3 -c "$tarfile" >"$tmp" ;;
	*) die "unknown compression $comp" ;;
	esac
	rm -f "$tarfile"
	digest=$(add_blob "$tmp")
	jq -n --arg d "$digest" --argjson s "$(stat -c %s "$(blob_path "$digest")")" --arg i "$diffid" --arg c "$comp" \
		'{digest:$d,size:$s,diff_id:$i,compression:$c}' >"$LAYERS/$name.json.tmp"
	mv "$LAYERS/$name.json.tmp" "$LAYERS/$name.json"
}

# layer_cached NAME: true if NAME's descriptor and blob are both there.
layer_cached() {
	[ -s "$LAYERS/$1.json" ] && [ -s "$(blob_path "$(jq -r .digest "$LAYERS/$1.json")")" ]
}

# tar_dir DIR OUT [TAR-OPTS...]: packs DIR's content (names without a leading ./, as docker
# writes them) into OUT, sorted, with numeric owners.
tar_dir() {
	local dir=$1 out=$2 entries
	shift 2
	mapfile -t entries < <(cd "$dir" && ls -A)
	if [ ${#entries[@]} -eq 0 ]; then
		tar -C "$dir" --numeric-owner --no-recursion "$@" -cf "$out" .
	else
		tar -C "$dir" --numeric-owner --sort=name "$@" -cf "$out" -- "${entries[@]}"
	fi
}

# layer_from_dir NAME DIR [TAR-OPTS...]: a gzip layer from a directory, cached by NAME.
layer_from_dir() {
	local name=$1 dir=$2
	shift 2
	layer_cached "$name" && return 0
	tar_dir "$dir" "$BUILD/tmp/$name.tar" "$@"
	layer_from_tar "$name" "$BUILD/tmp/$name.tar"
}

# make_image OUTVAR FORMAT CFG-JSON LAYER... : writes config and manifest blobs for a
# single-platform image (ARCH, VARIANT from the environment, default amd64) and sets
# OUTVAR to the manifest's descriptor JSON. FORMAT is oci or v2s2.
make_image() {
	local -n _out=$1
	local format=$2 cfg=$3 descs cfgblob cfgdigest mtype ctype ltype mblob mdigest
	shift 3
	descs=$(for l in "$@"; do cat "$LAYERS/$l.json"; done | jq -s .)
	cfgblob=$BUILD/tmp/config.json
	jq -nc --argjson cfg "$cfg" --argjson l "$descs" --arg arch "${ARCH:-amd64}" --arg var "${VARIANT:-}" --arg created "$CREATED" '
		{created:$created, architecture:$arch, os:"linux"}
		+ (if $var != "" then {variant:$var} else {} end)
		+ {config:$cfg, rootfs:{type:"layers", diff_ids:[$l[].diff_id]},
		   history:[$l[] | {created:$created, created_by:"gpyxis integration/infra/images-build.sh"}]}' >"$cfgblob"
	cfgdigest=$(add_blob "$cfgblob")
	case $format in
	oci) mtype=$MT_OCI_MANIFEST ctype=$MT_OCI_CONFIG ltype=application/vnd.oci.image.layer.v1.tar ;;
	v2s2) mtype=$MT_V2S2_MANIFEST ctype=$MT_V2S2_CONFIG ltype=application/vnd.docker.image.rootfs.diff.tar ;;
	*) die "unknown manifest format $format" ;;
	esac
	mblob=$BUILD/tmp/manifest.json
	jq -nc --arg mt "$mtype" --arg ct "$ctype" --arg lt "$ltype" --arg cd "$cfgdigest" \
		--argjson cs "$(stat -c %s "$(blob_path "$cfgdigest")")" --argjson l "$descs" --arg fmt "$format" '
		{schemaVersion:2, mediaType:$mt, config:{mediaType:$ct, digest:$cd, size:$cs},
		 layers:[$l[] | {mediaType:($lt + (if .compression == "gzip" then (if $fmt == "oci" then "+gzip" else ".gzip" end)
		                                   else "+" + .compression end)),
		                 digest, size}]}' >"$mblob"
	mdigest=$(add_blob "$mblob")
	_out=$(jq -nc --arg mt "$mtype" --arg d "$mdigest" --argjson s "$(stat -c %s "$(blob_path "$mdigest")")" \
		--arg arch "${ARCH:-amd64}" --arg var "${VARIANT:-}" '
		{mediaType:$mt, digest:$d, size:$s, platform:({architecture:$arch, os:"linux"}
		 + (if $var != "" then {variant:$var} else {} end))}')
}

# make_index OUTVAR FORMAT DESC-JSON...: an OCI index (oci) or Docker manifest list (v2s2).
make_index() {
	local -n _idx=$1
	local format=$2 mt blob digest
	shift 2
	case $format in oci) mt=$MT_OCI_INDEX ;; v2s2) mt=$MT_V2S2_LIST ;; *) die "unknown index format $format" ;; esac
	blob=$BUILD/tmp/index.json
	printf '%s\n' "$@" | jq -sc --arg mt "$mt" '{schemaVersion:2, mediaType:$mt, manifests:.}' >"$blob"
	digest=$(add_blob "$blob")
	_idx=$(jq -nc --arg mt "$mt" --arg d "$digest" --argjson s "$(stat -c %s "$(blob_path "$digest")")" \
		'{mediaType:$mt, digest:$d, size:$s}')
}

# push_blob REPO DIGEST: uploads one blob unless the registry has it (monolithic upload;
# curl -T streams the file instead of loading it into memory).
push_blob() {
	local repo=$1 digest=$2 loc sep
	curl -sf -o /dev/null -I "$PUSH_REG/v2/$repo/blobs/$digest" && return 0
	loc=$(curl -sf -D - -o /dev/null -X POST "$PUSH_REG/v2/$repo/blobs/uploads/" |
		awk 'tolower($1) == "location:" { print $2 }' | tr -d '\r')
	[ -n "$loc" ] || die "registry refused an upload to $repo"
	case $loc in http*) ;; *) loc=$PUSH_REG$loc ;; esac
	case $loc in *\?*) sep='&' ;; *) sep='?' ;; esac
	curl -sf -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' \
		-T "$(blob_path "$digest")" "$loc${sep}digest=$digest" || die "uploading $digest to $repo failed"
}

# push_manifest REPO REF DESC-JSON: pushes a manifest or index (and everything it names) to
# REPO under REF (a tag or the digest itself).
push_manifest() {
	local repo=$1 ref=$2 desc=$3 mt digest f d
	mt=$(jq -r .mediaType <<<"$desc")
	digest=$(jq -r .digest <<<"$desc")
	f=$(blob_path "$digest")
	case $mt in
	"$MT_OCI_INDEX" | "$MT_V2S2_LIST")
		jq -c '.manifests[]' "$f" | while read -r d; do push_manifest "$repo" "$(jq -r .digest <<<"$d")" "$d"; done
		;;
	*)
		for d in $(jq -r '.config.digest, .layers[].digest' "$f"); do push_blob "$repo" "$d"; done
		;;
	esac
	curl -sf -o /dev/null -X PUT -H "Content-Type: $mt" --data-binary @"$f" "$PUSH_REG/v2/$repo/manifests/$ref" ||
		die "pushing manifest $digest to $repo:$ref failed"
}

# publish REPO TAG DESC-JSON: pushes and records the tag for the harness, and names it in
# the OCI layout's index.json (ref name REPO:TAG) so umoci and skopeo can read it locally.
publish() {
	local repo=$1 tag=$2 desc=$3 rec
	push_manifest "$repo" "$tag" "$desc"
	rec=$RECORDS/${repo//\//_}_$tag.json
	jq -c --arg r "$repo" --arg t "$tag" '{repository:$r, tag:$t, digest, mediaType, size}' <<<"$desc" >"$rec.tmp"
	mv "$rec.tmp" "$rec"
	jq -c --argjson d "$desc" --arg n "$repo:$tag" '
		.manifests = ([.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] != $n)]
		  + [$d | del(.platform) | .annotations = {"org.opencontainers.image.ref.name": $n}])' \
		"$OCI/index.json" >"$OCI/index.json.tmp"
	mv "$OCI/index.json.tmp" "$OCI/index.json"
	log "pushed $repo:$tag ($(jq -r .digest <<<"$desc"))"
}

# present REPO TAG: true if the registry serves REPO:TAG with the digest we recorded.
present() {
	local rec=$RECORDS/${1//\//_}_$2.json want got
	[ -s "$rec" ] || return 1
	want=$(jq -r .digest "$rec")
	got=$(curl -sf -I -H "Accept: $(jq -r .mediaType "$rec")" "$PUSH_REG/v2/$1/manifests/$2" |
		awk 'tolower($1) == "docker-content-digest:" { print $2 }' | tr -d '\r')
	[ "$want" = "$got" ]
}
