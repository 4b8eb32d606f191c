#!/bin/sh
# make demo: a working imapd on a loopback port with a demo Maildir in ./demo.
# Everything it creates stays in ./demo; Ctrl-C stops it.
set -eu
port=${1:-1143}
top=$(cd "$(dirname "$0")/.." && pwd)
demo=$top/demo
bin=$top/target/release

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

This is demo message $i, served by mailaccess imapd.
MSG
    done
fi

# Run as a plain user, the server serves that user's mail preauthenticated.
# As root, serve the demo Maildir as the unprivileged user "nobody".
run=""
if [ "$(id -u)" = 0 ]; then
    chown -R nobody "$demo"
    run="setpriv --reuid=nobody --regid=nogroup --clear-groups"
fi
cat <<TXT
imapd is listening on 127.0.0.1:$port, serving $demo/Maildir (preauthenticated).
Try:
  curl 'imap://127.0.0.1:$port/INBOX;UID=1'
  python3 -c "import imaplib; m=imaplib.IMAP4('127.0.0.1',$port); print(m.select('INBOX')); print(m.fetch('1:*','(ENVELOPE)'))"
Press Ctrl-C to stop.
TXT
exec env HOME="$demo" $run "$bin/imapd" -o "mail_location=maildir:$demo/Maildir" --listen "127.0.0.1:$port"
