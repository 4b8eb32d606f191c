#!/bin/sh
# make demo: imapd and pop3d on loopback ports with a demo account and a
# demo Maildir, everything in ./demo. Ctrl-C stops them; nothing is left
# outside ./demo ("make clean" removes it).
#
# As root (the real thing, as xinetd would run it): IMAP on 1143, POP3 on
# 1110, and with implicit TLS on 1993 and 1995 (a self-signed certificate
# made in ./demo); STARTTLS/STLS on the plain ports. Logins go through the
# privilege-separated login process (as "nobody", chrooted into
# ./demo/empty) and are checked against ./demo/sasldb2 (user demo,
# password demo); no system user is created.
# As a normal user: imapd on 1143, preauthenticated, serving ./demo/Maildir
# as you.
#
# Ports: the first argument (make demo DEMO_PORT=...) is the IMAP port;
# DEMO_POP3_PORT, DEMO_IMAPS_PORT, DEMO_POP3S_PORT set the others;
# DEMO_DIR another directory than ./demo (tests/deploy_demo.rs).
#
# As root, the sessions run as nobody, who must reach the Maildir: when the
# demo directory is not reachable by nobody (a checkout in /root, or in a
# directory made by mktemp -d), the demo lives in DEMO_FALLBACK_DIR
# (/var/tmp/mailaccess-demo) instead and ./demo is a symbolic link to it;
# "make clean" removes both.
set -eu
port=${1:-1143}
pop3_port=${DEMO_POP3_PORT:-1110}
imaps_port=${DEMO_IMAPS_PORT:-1993}
pop3s_port=${DEMO_POP3S_PORT:-1995}
top=$(cd "$(dirname "$0")/.." && pwd)
demo=${DEMO_DIR:-$top/demo}
bin=$top/target/release
user=demo
password=demo

for b in imapd pop3d; do
    [ -x "$bin/$b" ] || { echo "demo: $bin/$b is missing: run make release" >&2; exit 1; }
done

umask 022
if [ "$(id -u)" = 0 ]; then
    # The logins need saslpasswd2 (the demo account) and openssl (the
    # certificate): install them on a fresh Debian, as make test does.
    need=""
    command -v saslpasswd2 >/dev/null 2>&1 || need="$need sasl2-bin"
    command -v openssl >/dev/null 2>&1 || need="$need openssl"
    if [ -n "$need" ]; then
        echo "demo: installing$need (apt-get)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null \
            || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null; } \
            || { echo "demo: could not install$need; install them (apt-get install$need) and run make demo again" >&2; exit 1; }
    fi

    # Can nobody (the sessions' user) reach $1? Every directory on the way
    # must let it through.
    reachable() {
        setpriv --reuid=nobody --regid=nogroup --clear-groups sh -c 'cd "$1"' _ "$1" 2>/dev/null
    }
    parent=$(dirname "$demo")
    if [ -L "$demo" ] || ! reachable "$parent"; then
        fallback=${DEMO_FALLBACK_DIR:-/var/tmp/mailaccess-demo}
        [ ! -L "$demo" ] || fallback=$(readlink "$demo")
        if [ -e "$demo" ] && [ ! -L "$demo" ]; then
            echo "demo: $demo is not reachable by nobody, who the sessions run as;" >&2
            echo "demo: remove it (make clean) to let the demo live in $fallback, or use a checkout outside /root" >&2
            exit 1
        fi
        [ -L "$demo" ] || echo "demo: $parent is closed to nobody (the sessions' user): the demo lives in $fallback, linked from $demo"
        mkdir -p "$fallback"
        chmod 755 "$fallback"
        reachable "$fallback" || { echo "demo: $fallback is not reachable by nobody either; set DEMO_FALLBACK_DIR" >&2; exit 1; }
        ln -sfn "$fallback" "$demo"
        demo=$fallback
    fi
fi
mkdir -p "$demo/Maildir/cur" "$demo/Maildir/new" "$demo/Maildir/tmp"
if [ -z "$(find "$demo/Maildir/new" "$demo/Maildir/cur" -type f)" ]; then
    now=$(date -R)
    for i in 1 2 3; do
        cat > "$demo/Maildir/new/$(date +%s).demo$i.$(hostname)" <<MSG
From: Demo Sender <demo@example.org>
To: You <you@example.org>
Subject: Demo message $i
Date: $now
Message-ID: <demo$i@example.org>
Content-Type: text/plain; charset=utf-8

This is demo message $i, served by mailaccess.
MSG
    done
fi

preauth() {
    cat <<TXT
imapd is listening on 127.0.0.1:$port, serving $demo/Maildir preauthenticated
as $(id -un) (run "make demo" as root for logins, TLS and POP3).
Try:
  curl 'imap://127.0.0.1:$port/INBOX;UID=1'
  python3 -c "import imaplib; m=imaplib.IMAP4('127.0.0.1',$port); print(m.select('INBOX')); print(m.fetch('1:*','(ENVELOPE)'))"
  mutt -f imap://127.0.0.1:$port/INBOX
Press Ctrl-C to stop.
TXT
    exec env HOME="$demo" "$bin/imapd" -c /dev/null -o "mail_location=maildir:$demo/Maildir" --listen "127.0.0.1:$port"
}

if [ "$(id -u)" != 0 ]; then
    preauth
fi

# The account the demo user runs as: nobody (a virtual user, as on a real
# virtual-mailbox server), whose uid first_valid_uid must then allow.
run_as=nobody
uid=$(id -u "$run_as")
chown -R "$run_as" "$demo/Maildir"
chmod 700 "$demo/Maildir"

# The pre-login jail: an empty directory owned by root.
mkdir -p "$demo/empty"
chown root:root "$demo/empty"
chmod 755 "$demo/empty"

# The demo account in a Cyrus sasldb file (only root reads it).
rm -f "$demo/sasldb2"
printf '%s' "$password" | saslpasswd2 -p -c -f "$demo/sasldb2" -u demo "$user"
chmod 600 "$demo/sasldb2"

# A self-signed certificate for 127.0.0.1 and localhost.
if [ ! -s "$demo/cert.pem" ] || [ ! -s "$demo/key.pem" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 365 \
        -keyout "$demo/key.pem" -out "$demo/cert.pem" \
        -subj "/CN=localhost" \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
    chmod 600 "$demo/key.pem"
fi

cat > "$demo/mailaccess.conf" <<CONF
# make demo: written by scripts/demo.sh on each run.
auth = sasldb
sasldb_path = $demo/sasldb2
sasl_realm = demo
virtual_user = $run_as
first_valid_uid = $uid
mail_location = maildir:$demo/Maildir
login_user = nobody
login_chroot = $demo/empty
log_path = $demo/log
auth_failure_delay = 1s
tls_cert = $demo/cert.pem
tls_key = $demo/key.pem
CONF

pids=""
stop() { # exit status
    trap - INT TERM EXIT
    [ -z "$pids" ] || kill $pids 2>/dev/null || true
    wait 2>/dev/null || true
    echo
    echo "demo: stopped. Mail, account, certificate and log stay in $demo (make clean removes it)."
    exit "$1"
}
trap 'stop 0' INT TERM
trap 'stop $?' EXIT

serve() { # binary port [--tls]
    "$bin/$1" -c "$demo/mailaccess.conf" --listen "127.0.0.1:$2" ${3:-} &
    pids="$pids $!"
}
serve imapd "$port"
serve pop3d "$pop3_port"
serve imapd "$imaps_port" --tls
serve pop3d "$pop3s_port" --tls
sleep 0.5
for p in $pids; do
    kill -0 "$p" 2>/dev/null || { echo "demo: a server did not start (port in use?)" >&2; exit 1; }
done

cat <<TXT

mailaccess demo: user "$user", password "$password" (sasldb in $demo/sasldb2;
sessions run as $run_as, the login process as nobody in $demo/empty).
  IMAP   127.0.0.1:$port   (STARTTLS; plaintext login allowed: loopback)
  POP3   127.0.0.1:$pop3_port   (STLS)
  IMAPS  127.0.0.1:$imaps_port   (implicit TLS, self-signed $demo/cert.pem)
  POP3S  127.0.0.1:$pop3s_port   (implicit TLS)
Log: $demo/log

curl:
  curl -u $user:$password 'imap://127.0.0.1:$port/INBOX;UID=1'
  curl -u $user:$password pop3://127.0.0.1:$pop3_port/1
  curl -k -u $user:$password 'imaps://127.0.0.1:$imaps_port/INBOX;UID=1'
  curl -k --ssl-reqd -u $user:$password 'imap://127.0.0.1:$port/INBOX'
  curl -k -u $user:$password pop3s://127.0.0.1:$pop3s_port/
Python:
  python3 -c "import imaplib,ssl; m=imaplib.IMAP4_SSL('127.0.0.1',$imaps_port,ssl_context=ssl._create_unverified_context()); m.login('$user','$password'); print(m.select('INBOX')); print(m.fetch('1:*','(ENVELOPE)'))"
mutt (accept the certificate once when asked):
  mutt -f imaps://$user@127.0.0.1:$imaps_port/INBOX
Thunderbird: Account Settings > Add Mail Account > Configure manually:
  incoming IMAP, server 127.0.0.1, port $imaps_port, SSL/TLS, Normal password,
  user name $user (or POP3 on $pop3s_port); accept the security exception for
  the self-signed certificate. Outgoing mail is not part of the demo.
TXT
echo "Press Ctrl-C to stop."
wait
