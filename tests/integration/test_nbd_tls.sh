#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# test_nbd_tls.sh - NBD over TLS (NBD_OPT_STARTTLS, docs/nbd.md "TLS") with
# real clients. A CA, a server certificate (SAN localhost, 127.0.0.1) and a
# client certificate are made with the openssl CLI; r0 has tls = require,
# r1 tls = allow. Cases:
#   - nbdinfo over nbds:// shows r0's size, and the daemon logs the TLS
#     session with the client certificate's subject;
#   - nbdcopy writes 16 MiB of random data over TLS and reads back the same
#     bytes; qemu-img (tls-creds-x509) reads them too;
#   - a client whose certificate comes from another CA is refused (the
#     server's verification error is logged); a client that does not trust
#     the server's CA gives up and the daemon logs the failed handshake;
#   - a plain client on r0 gets "TLS required" and the refusal is logged;
#   - r1 (allow) serves plain and TLS clients.
# Prints PASS/FAIL/SKIP lines; exits 1 if a case failed.
set -u
. "$(dirname "$0")/../lib.sh"

need_bins nbd-tls "$WBREPD" "$WBCTL"
need_tools nbd-tls nbdinfo nbdcopy qemu-img openssl cmp
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "nbd-tls: engine wblog not built"
tmpdir nbdtls

SIZE=$((16 << 20))
P0=$(free_port)
P1=$(free_port)
PKI=$T/pki  # the daemon's files
CL=$T/client # a good client: libnbd / qemu names
BAD=$T/bad   # client certificate from another CA, trusts our CA
ALIEN=$T/alien # another CA altogether (does not trust the server)
mkdir -p "$PKI" "$CL" "$BAD" "$ALIEN"

# ca DIR NAME: a CA key and self-signed certificate DIR/ca-{key,cert}.pem
ca() {
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$2" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-keyout "$1/ca-key.pem" -out "$1/ca-cert.pem" 2>/dev/null
}
# cert CADIR OUT-PREFIX CN KIND(server|client): key + certificate signed by CADIR
cert() {
	local ext=$T/ext.cnf
	if [ "$4" = server ]; then
		printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$ext"
	else
		printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' >"$ext"
	fi
	openssl req -newkey rsa:2048 -nodes -subj "/CN=$3" -keyout "$2-key.pem" \
		-out "$2.csr" 2>/dev/null &&
		openssl x509 -req -in "$2.csr" -CA "$1/ca-cert.pem" -CAkey "$1/ca-key.pem" \
			-CAcreateserial -days 2 -extfile "$ext" -out "$2-cert.pem" 2>/dev/null
}
if ! { ca "$PKI" wbrep-test-ca && cert "$PKI" "$PKI/server" localhost server &&
	cert "$PKI" "$CL/client" nbd-client-good client &&
	ca "$ALIEN" other-ca && cert "$ALIEN" "$BAD/client" nbd-client-bad client &&
	cert "$ALIEN" "$ALIEN/client" nbd-client-alien client; }; then
	fail "nbd-tls-certs: openssl could not make the test certificates"
	finish
fi
cp "$PKI/ca-cert.pem" "$CL/ca-cert.pem"
cp "$PKI/ca-cert.pem" "$BAD/ca-cert.pem"

truncate -s $((SIZE + 4096)) "$T/b0" "$T/b1"
truncate -s 64M "$T/l0" "$T/l1"
{
	conf_global tlstest "log-level = info" "tls-cert = $PKI/server-cert.pem" \
		"tls-key = $PKI/server-key.pem" "tls-ca = $PKI/ca-cert.pem"
	conf_resource r0 engine=wblog backing="$T/b0" log="$T/l0" nbd-listen="127.0.0.1:$P0" \
		tls=require
	conf_resource r1 engine=wblog backing="$T/b1" log="$T/l1" nbd-listen="127.0.0.1:$P1" \
		tls=allow
} >"$WB_CONF"

U0="nbds://127.0.0.1:$P0/r0?tls-certificates=$CL"
ready() { timeout 10 nbdinfo --size "nbd://127.0.0.1:$P1/r1" >/dev/null 2>&1; }
start_daemon ready || { fail "nbd-tls-start: wbrepd did not start"; finish; }
pass "nbd-tls-start"

# --- nbdinfo over TLS
info=$(timeout 30 nbdinfo "$U0" 2>&1)
if grep -q "export-size: $SIZE" <<<"$info"; then
	pass "nbd-tls-nbdinfo (export-size $SIZE over TLS)"
else
	fail "nbd-tls-nbdinfo: $(tr '\n' ' ' <<<"$info" | head -c 400)"
fi
if wait_log 10 "$WB_DLOG" 'TLSv1.3 established, client certificate .*CN ?= ?nbd-client-good'; then
	pass "nbd-tls-logged-session"
else
	fail "nbd-tls-logged-session: no 'TLSv1.3 established' line for nbd-client-good"
fi

# --- nbdcopy write + read back, qemu-img read
head -c $SIZE /dev/urandom >"$T/data"
if timeout 120 nbdcopy "$T/data" "$U0" 2>"$T/err" &&
	timeout 120 nbdcopy "$U0" "$T/back" 2>>"$T/err" && cmp -s "$T/data" "$T/back"; then
	pass "nbd-tls-nbdcopy (16 MiB written and read back identical)"
else
	fail "nbd-tls-nbdcopy: $(head -c 300 "$T/err")"
fi
rm -f "$T/back"
if timeout 120 qemu-img convert --object "tls-creds-x509,id=tls0,dir=$CL,endpoint=client" \
	--image-opts "driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=$P0,export=r0,tls-creds=tls0" \
	-O raw "$T/back" 2>"$T/err" && cmp -s "$T/data" "$T/back"; then
	pass "nbd-tls-qemu-img (read over TLS identical)"
else
	fail "nbd-tls-qemu-img: $(head -c 300 "$T/err")"
fi
rm -f "$T/back"

# --- client certificate from another CA: the server refuses it
n0=$(grep -c 'TLS handshake failed' "$WB_DLOG")
if out=$(timeout 30 nbdinfo --size "nbds://127.0.0.1:$P0/r0?tls-certificates=$BAD" 2>&1); then
	fail "nbd-tls-wrong-ca-client: served: $out"
elif wait_log_count 10 "$WB_DLOG" 'TLS handshake failed: certificate verification' "$n0"; then
	pass "nbd-tls-wrong-ca-client ($(grep 'TLS handshake failed' "$WB_DLOG" | tail -1 | sed 's/.*failed: //' | cut -c1-80))"
else
	fail "nbd-tls-wrong-ca-client: refused but not logged: $(tail -2 "$WB_DLOG" | tr '\n' ' ')"
fi
# --- a client of another CA altogether: it refuses us, the daemon logs it
n0=$(grep -c 'TLS handshake failed' "$WB_DLOG")
if out=$(timeout 30 nbdinfo --size "nbds://127.0.0.1:$P0/r0?tls-certificates=$ALIEN" 2>&1); then
	fail "nbd-tls-alien-ca: served: $out"
elif wait_log_count 10 "$WB_DLOG" 'TLS handshake failed' "$n0"; then
	pass "nbd-tls-alien-ca ($(grep 'TLS handshake failed' "$WB_DLOG" | tail -1 | sed 's/.*failed: //' | cut -c1-80))"
else
	fail "nbd-tls-alien-ca: refused but not logged"
fi

# --- plain client on the require export
n0=$(grep -c 'refused: .* tls = require export\|requires TLS' "$WB_DLOG")
if out=$(timeout 30 nbdinfo --size "nbd://127.0.0.1:$P0/r0" 2>&1); then
	fail "nbd-tls-plain-refused: served in plain text: $out"
elif ! grep -qi 'tls' <<<"$out"; then
	fail "nbd-tls-plain-refused: failed without a TLS reason: $out"
elif wait_log_count 10 "$WB_DLOG" 'refused: .* tls = require export|requires TLS' "$n0"; then
	pass "nbd-tls-plain-refused ($(head -1 <<<"$out" | cut -c1-80))"
else
	fail "nbd-tls-plain-refused: not logged"
fi

# --- tls = allow: plain and TLS
plain=$(timeout 30 nbdinfo --size "nbd://127.0.0.1:$P1/r1" 2>&1)
tls=$(timeout 30 nbdinfo --size "nbds://127.0.0.1:$P1/r1?tls-certificates=$CL" 2>&1)
if [ "$plain" = "$SIZE" ] && [ "$tls" = "$SIZE" ]; then
	pass "nbd-tls-allow (plain and TLS both served)"
else
	fail "nbd-tls-allow: plain '$plain', tls '$tls'"
fi

# still serving after all that
if [ "$(timeout 30 nbdinfo --size "$U0" 2>&1)" = "$SIZE" ]; then
	pass "nbd-tls-still-serving"
else
	fail "nbd-tls-still-serving"
fi
stop_daemon
daemon_log_clean nbd-tls
finish
