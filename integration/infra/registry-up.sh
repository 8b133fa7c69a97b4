#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# registry-up.sh: installs Debian's docker-registry (distribution 2.8) and starts four
# instances on loopback that share one storage directory, so an image pushed once can
# be pulled from every variant:
#   http://127.0.0.1:5000   anonymous
#   http://127.0.0.1:5001   basic auth (htpasswd, bcrypt)
#   http://127.0.0.1:5002   Docker-Hub-style bearer tokens from our token server on :5004
#   https://127.0.0.1:5443  basic auth over TLS, certificate from a test CA that is not in
#                           the system trust store
# Idempotent: running daemons whose configuration did not change are left alone.
. "$(dirname "$0")/lib.sh"
need_root

REG_ETC=$GPX_ETC/registry
REG_STORE=$GPX_STATE/registry

install_packages() {
	apt_install docker-registry apache2-utils openssl curl ca-certificates jq
	# On a systemd host the package's own unit would hold :5000 on every interface.
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
		systemctl disable --now docker-registry.service >/dev/null 2>&1 || true
	fi
}

# make_ca writes the test CA and a server certificate for the loopback names.
make_ca() {
	[ -s "$REG_ETC/server.crt" ] && [ -s "$REG_ETC/ca.crt" ] && return 0
	log "creating test CA and server certificate"
	local tmp
	tmp=$(mktemp -d)
	openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=gpyxis test CA" \
		-keyout "$tmp/ca.key" -out "$tmp/ca.crt" \
		-addext basicConstraints=critical,CA:true -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
		-keyout "$tmp/server.key" -out "$tmp/server.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost,DNS:%s\nextendedKeyUsage=serverAuth\n' \
		"$(hostname -s 2>/dev/null || echo localhost)" >"$tmp/ext"
	openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.crt" -CAkey "$tmp/ca.key" -CAcreateserial \
		-days 3650 -extfile "$tmp/ext" -out "$tmp/server.crt" 2>/dev/null
	install -m 0644 "$tmp/ca.crt" "$tmp/server.crt" "$REG_ETC/"
	install -m 0600 "$tmp/ca.key" "$REG_ETC/"
	install -m 0640 -g docker-registry "$tmp/server.key" "$REG_ETC/"
	rm -rf "$tmp"
	# A certs.d tree (containers/image and docker layout) for clients that are told where it is;
	# deliberately not /etc/containers/certs.d, so that "untrusted CA" stays testable.
	local d
	for d in "127.0.0.1:$REG_TLS_PORT" "localhost:$REG_TLS_PORT"; do
		install -D -m 0644 "$REG_ETC/ca.crt" "$GPX_ETC/certs.d/$d/ca.crt"
	done
}

# make_credentials writes the htpasswd file (bcrypt, the only hash distribution accepts)
# and the token server's user list.
make_credentials() {
	if ! [ -s "$REG_ETC/htpasswd" ] || ! htpasswd -vb "$REG_ETC/htpasswd" "$REG_USER" "$REG_PASS" >/dev/null 2>&1; then
		htpasswd -Bbc "$REG_ETC/htpasswd" "$REG_USER" "$REG_PASS" 2>/dev/null
	fi
	chgrp docker-registry "$REG_ETC/htpasswd" && chmod 0640 "$REG_ETC/htpasswd"
	printf '%s:%s\n' "$REG_USER" "$REG_PASS" >"$REG_ETC/token-users.tmp"
	install -m 0640 -g docker-registry "$REG_ETC/token-users.tmp" "$REG_ETC/token-users" && rm -f "$REG_ETC/token-users.tmp"
	if ! [ -s "$REG_ETC/token-signing.crt" ]; then
		openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=gpyxis-token-issuer" \
			-keyout "$REG_ETC/token-signing.key" -out "$REG_ETC/token-signing.crt" 2>/dev/null
		chgrp docker-registry "$REG_ETC/token-signing.key" && chmod 0640 "$REG_ETC/token-signing.key"
	fi
	[ -s "$REG_ETC/http-secret" ] || { openssl rand -hex 32 >"$REG_ETC/http-secret"; chmod 0600 "$REG_ETC/http-secret"; }
}

# write_config NAME PORT AUTH-YAML TLS-YAML: writes NAME.yml; returns 0 if it changed.
write_config() {
	local name=$1 port=$2 auth=$3 tls=$4 f=$REG_ETC/$1.yml
	cat >"$f.tmp" <<YAML
version: 0.1
log: {level: info, fields: {service: registry-$name}}
storage:
  filesystem: {rootdirectory: $REG_STORE}
  delete: {enabled: true}
  cache: {blobdescriptor: inmemory}
http:
  addr: $REG_HOST:$port
  # The same secret for every instance: upload state is HMAC'd with it.
  secret: $(cat "$REG_ETC/http-secret")
  headers: {X-Content-Type-Options: [nosniff]}
$tls
$auth
YAML
	chgrp docker-registry "$f.tmp" && chmod 0640 "$f.tmp"
	if cmp -s "$f.tmp" "$f"; then rm -f "$f.tmp"; return 1; fi
	mv "$f.tmp" "$f"
}

# start_registry NAME PORT: (re)starts one instance from NAME.yml when needed.
start_registry() {
	local name=$1 port=$2 changed=$3 pidf=$GPX_RUN/registry-$1.pid
	if pid_alive "$pidf" docker-registry; then
		[ "$changed" = yes ] || return 0
		stop_pidfile "$pidf" docker-registry
	fi
	port_free "$port" || die "127.0.0.1:$port is in use by a process we did not start; stop it and re-run"
	start-stop-daemon --start --background --make-pidfile --pidfile "$pidf" \
		--chuid docker-registry:docker-registry --output "$GPX_LOG/registry-$name.log" \
		--exec /usr/bin/docker-registry -- serve "$REG_ETC/$name.yml"
}

build_tokenserver() {
	local bin=$GPX_STATE/bin/tokenserver src=$REPO_ROOT/integration/tokenserver go
	if [ -x "$bin" ] && [ -z "$(find "$src" -newer "$bin" -name '*.go' | head -n1)" ]; then return 0; fi
	go=$(go_bin) || die "Go is needed to build the token server (integration/tokenserver)"
	log "building token server"
	mkdir -p "$GPX_STATE/bin"
	(cd "$REPO_ROOT" && CGO_ENABLED=0 "$go" build -o "$bin.tmp" ./integration/tokenserver) && mv "$bin.tmp" "$bin"
	return 1 # rebuilt: a running server must be restarted
}

start_tokenserver() {
	local pidf=$GPX_RUN/tokenserver.pid rebuilt=no
	build_tokenserver || rebuilt=yes
	if pid_alive "$pidf" tokenserver; then
		[ "$rebuilt" = yes ] || return 0
		stop_pidfile "$pidf" tokenserver
	fi
	port_free "$TOKEN_PORT" || die "127.0.0.1:$TOKEN_PORT is in use by a process we did not start; stop it and re-run"
	start-stop-daemon --start --background --make-pidfile --pidfile "$pidf" \
		--chuid docker-registry:docker-registry --output "$GPX_LOG/tokenserver.log" \
		--exec "$GPX_STATE/bin/tokenserver" -- -addr "$REG_HOST:$TOKEN_PORT" \
		-key "$REG_ETC/token-signing.key" -cert "$REG_ETC/token-signing.crt" -users "$REG_ETC/token-users" \
		-issuer gpyxis-token-issuer -service gpyxis-registry
}

# v2_answers URL: the registry's API root answers (200, or 401 when auth is on).
v2_answers() {
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$REG_ETC/ca.crt" "$1/v2/" 2>/dev/null) || return 1
	[ "$code" = 200 ] || [ "$code" = 401 ]
}

# write_registries_json describes the variants for the Go tests (integration/harness).
write_registries_json() {
	local h=http://$REG_HOST
	jq -n --arg h "$h" --arg tls "https://$REG_HOST:$REG_TLS_PORT" --arg u "$REG_USER" --arg p "$REG_PASS" \
		--arg ca "$REG_ETC/ca.crt" --arg certs "$GPX_ETC/certs.d" --arg realm "$h:$TOKEN_PORT/token" \
		--argjson pp $REG_PLAIN_PORT --argjson bp $REG_BASIC_PORT --argjson tp $REG_TOKEN_PORT '
		{registries: [
			{name: "plain", url: "\($h):\($pp)", auth: "none"},
			{name: "basic", url: "\($h):\($bp)", auth: "basic", username: $u, password: $p},
			{name: "token", url: "\($h):\($tp)", auth: "bearer", username: $u, password: $p, realm: $realm},
			{name: "tls", url: $tls, auth: "basic", username: $u, password: $p, ca_file: $ca, certs_dir: $certs}],
		 private_prefix: "private/"}' >"$GPX_STATE/registries.json.tmp"
	chmod 0644 "$GPX_STATE/registries.json.tmp" && mv "$GPX_STATE/registries.json.tmp" "$GPX_STATE/registries.json"
}

main() {
	mkdir -p "$GPX_ETC" "$GPX_RUN" "$GPX_LOG" "$GPX_STATE"
	install_packages
	install -d -m 0755 "$REG_ETC"
	install -d -m 0755 -o docker-registry -g docker-registry "$REG_STORE"
	chmod 0755 "$GPX_ETC" "$GPX_STATE"
	make_ca
	make_credentials

	local basic token tls c
	basic="auth:
  htpasswd: {realm: gpyxis-test, path: $REG_ETC/htpasswd}"
	token="auth:
  token: {realm: \"http://$REG_HOST:$TOKEN_PORT/token\", service: gpyxis-registry, issuer: gpyxis-token-issuer, rootcertbundle: $REG_ETC/token-signing.crt}"
	tls="  tls: {certificate: $REG_ETC/server.crt, key: $REG_ETC/server.key}"

	c=no; write_config plain "$REG_PLAIN_PORT" "" "" && c=yes; start_registry plain "$REG_PLAIN_PORT" $c
	c=no; write_config basic "$REG_BASIC_PORT" "$basic" "" && c=yes; start_registry basic "$REG_BASIC_PORT" $c
	c=no; write_config token "$REG_TOKEN_PORT" "$token" "" && c=yes; start_registry token "$REG_TOKEN_PORT" $c
	c=no; write_config tls "$REG_TLS_PORT" "$basic" "$tls" && c=yes; start_registry tls "$REG_TLS_PORT" $c
	start_tokenserver

	wait_for 20 v2_answers "http://$REG_HOST:$REG_PLAIN_PORT" || die "registry :$REG_PLAIN_PORT did not come up, see $GPX_LOG/registry-plain.log"
	wait_for 20 v2_answers "http://$REG_HOST:$REG_BASIC_PORT" || die "registry :$REG_BASIC_PORT did not come up, see $GPX_LOG/registry-basic.log"
	wait_for 20 v2_answers "http://$REG_HOST:$REG_TOKEN_PORT" || die "registry :$REG_TOKEN_PORT did not come up, see $GPX_LOG/registry-token.log"
	wait_for 20 v2_answers "https://$REG_HOST:$REG_TLS_PORT" || die "registry :$REG_TLS_PORT did not come up, see $GPX_LOG/registry-tls.log"
	wait_for 20 curl -sf -o /dev/null "http://$REG_HOST:$TOKEN_PORT/healthz" || die "token server did not come up, see $GPX_LOG/tokenserver.log"
	write_registries_json
	log "registries up on $REG_HOST:$REG_PLAIN_PORT (anonymous), :$REG_BASIC_PORT (basic), :$REG_TOKEN_PORT (bearer), :$REG_TLS_PORT (TLS)"
}

main "$@"
