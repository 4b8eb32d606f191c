#!/bin/sh
# make install / make uninstall (see README "Installing").
#
#   sh scripts/install.sh install|uninstall
#
# Environment (the Makefile passes them): PREFIX (default /usr/local),
# DESTDIR (staging root, default empty), SYSCONFDIR (default /etc).
#
# install:
#   - imapd, pop3d               -> $PREFIX/sbin (replaced)
#   - systemd socket units       -> $PREFIX/lib/systemd/system (replaced,
#                                   not enabled)
#   - imapd.8 pop3d.8 mailaccess.conf.5 -> $PREFIX/share/man (replaced)
#   - stunnel/ and the example   -> $PREFIX/share/doc/mailaccess (replaced)
#   - /etc/pam.d/imap, pop3, /etc/xinetd.d/imap, pop3, imaps, pop3s and
#     /etc/mailaccess.conf       -> only where the file does not exist yet;
#     the xinetd services are installed DISABLED ("disable = yes"), so
#     installing never opens a port: enable each one you want.
#   - the system user "mailaccess" and the empty directory /var/empty, when
#     missing, and only when installing for real (DESTDIR empty).
# uninstall:
#   - removes the programs, man pages and examples;
#   - removes each configuration file only if it is still exactly as
#     install wrote it; a file you changed is kept (and listed); an xinetd
#     service you only enabled is removed, one changed otherwise is kept
#     disabled, and a running xinetd is reloaded;
#   - keeps the user mailaccess and /var/empty (other programs may use
#     them; "deluser --system mailaccess" removes the user).
set -eu

action=${1:?usage: install.sh install|uninstall}
top=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
SYSCONFDIR=${SYSCONFDIR:-/etc}

sbindir=$DESTDIR$PREFIX/sbin
mandir=$DESTDIR$PREFIX/share/man
docdir=$DESTDIR$PREFIX/share/doc/mailaccess
# systemd finds units in /usr/local/lib/systemd/system and /lib/systemd/system.
unitdir=$DESTDIR$PREFIX/lib/systemd/system
units="imap.socket imap@.service imaps.socket imaps@.service pop3.socket pop3@.service pop3s.socket pop3s@.service"
etc=$DESTDIR$SYSCONFDIR

# The configuration files as installed: xinetd services point at
# $PREFIX/sbin and start disabled.
staged=$(mktemp -d)
trap 'rm -rf "$staged"' EXIT
for s in imap pop3 imaps pop3s; do
    sed -e "s|/usr/local/sbin/|$PREFIX/sbin/|" \
        -e 's|^\([[:space:]]*disable[[:space:]]*=[[:space:]]*\)no|\1yes|' \
        -e "1i# Installed disabled by \"make install\": set \"disable = no\" and\n# reload xinetd (systemctl reload xinetd) to start the service." \
        "$top/xinetd.d/$s" > "$staged/xinetd.$s"
done
cp "$top/pam.d/imap" "$staged/pam.imap"
cp "$top/pam.d/pop3" "$staged/pam.pop3"
cp "$top/mailaccess.conf.example" "$staged/mailaccess.conf"

# Each configuration file: staged name, destination, mode.
conffiles() {
    cat <<EOF
pam.imap $etc/pam.d/imap
pam.pop3 $etc/pam.d/pop3
xinetd.imap $etc/xinetd.d/imap
xinetd.pop3 $etc/xinetd.d/pop3
xinetd.imaps $etc/xinetd.d/imaps
xinetd.pop3s $etc/xinetd.d/pop3s
mailaccess.conf $etc/mailaccess.conf
EOF
}

mans="imapd.8:man8 pop3d.8:man8 mailaccess.conf.5:man5"
examples="stunnel/mailaccess.conf stunnel/imaps-inetd.conf stunnel/pop3s-inetd.conf stunnel/xinetd-imaps stunnel/xinetd-pop3s mailaccess.conf.example"

case $action in
install)
    for b in imapd pop3d; do
        [ -x "$top/target/release/$b" ] || {
            echo "install: target/release/$b is missing: run \"make release\" first (as the user who builds)" >&2
            exit 1
        }
    done
    install -d -m 755 "$sbindir" "$mandir/man5" "$mandir/man8" "$docdir/stunnel"
    # Stripped: the release build keeps debug information (26 MB a binary);
    # the installed programs need none of it. Unstripped where binutils'
    # strip is missing.
    strip=""
    command -v strip >/dev/null 2>&1 && strip="-s"
    for b in imapd pop3d; do
        install $strip -m 755 "$top/target/release/$b" "$sbindir/$b"
    done
    for m in $mans; do
        install -m 644 "$top/man/${m%%:*}" "$mandir/${m##*:}/${m%%:*}"
    done
    for f in $examples; do
        install -m 644 "$top/$f" "$docdir/$f"
    done
    # systemd socket units, installed but not enabled (no port opened).
    install -d -m 755 "$unitdir"
    for u in $units; do
        sed -e "s|/usr/local/sbin/|$PREFIX/sbin/|" "$top/systemd/$u" >"$unitdir/$u"
        chmod 644 "$unitdir/$u"
    done
    conffiles | while read -r src dest; do
        if [ -e "$dest" ]; then
            echo "install: kept existing $dest (ours: $docdir or the source tree)"
        else
            install -d -m 755 "$(dirname "$dest")"
            install -m 644 "$staged/$src" "$dest"
            echo "install: $dest"
        fi
    done
    if [ -z "$DESTDIR" ]; then
        if ! id mailaccess >/dev/null 2>&1; then
            adduser --system --no-create-home --home /nonexistent --group \
                --gecos "mailaccess pre-login process" mailaccess >/dev/null
            echo "install: created the system user mailaccess"
        fi
        if [ ! -d /var/empty ]; then
            install -d -m 755 -o root -g root /var/empty
            echo "install: created /var/empty"
        fi
        echo "install: done; the xinetd services are disabled until you enable them. Check with: $PREFIX/sbin/imapd --check"
    fi
    ;;
uninstall)
    rm -f "$sbindir/imapd" "$sbindir/pop3d"
    for m in $mans; do
        rm -f "$mandir/${m##*:}/${m%%:*}"
    done
    for f in $examples; do
        rm -f "$docdir/$f"
    done
    rmdir "$docdir/stunnel" "$docdir" 2>/dev/null || true
    for u in $units; do
        rm -f "$unitdir/$u"
    done
    # The programs are gone: no xinetd service may stay enabled to exec
    # them. A service file that differs only by being enabled is removed;
    # one changed otherwise is kept, disabled.
    disabled() { sed 's/^\([[:space:]]*disable[[:space:]]*=[[:space:]]*\)no/\1yes/' "$1"; }
    conffiles | while read -r src dest; do
        if [ -e "$dest" ]; then
            case "$dest" in
            */xinetd.d/*)
                if disabled "$dest" | cmp -s "$staged/$src" -; then
                    rm -f "$dest"
                    echo "uninstall: removed $dest"
                else
                    if ! disabled "$dest" | cmp -s "$dest" -; then
                        disabled "$dest" >"$dest.mailaccess-new" && mv "$dest.mailaccess-new" "$dest"
                        echo "uninstall: kept $dest (changed since install), now disabled"
                    else
                        echo "uninstall: kept $dest (changed since install)"
                    fi
                fi
                ;;
            *)
                if cmp -s "$staged/$src" "$dest"; then
                    rm -f "$dest"
                    echo "uninstall: removed $dest"
                else
                    echo "uninstall: kept $dest (changed since install)"
                fi
                ;;
            esac
        fi
    done
    # xinetd forgets removed or disabled services when told to reload.
    if [ -z "$DESTDIR" ] && pidof xinetd >/dev/null 2>&1; then
        if systemctl reload xinetd >/dev/null 2>&1 || service xinetd reload >/dev/null 2>&1 ||
            kill -HUP $(pidof xinetd) 2>/dev/null; then
            echo "uninstall: xinetd reloaded"
        else
            echo "uninstall: reload xinetd yourself: service xinetd reload"
        fi
    fi
    echo "uninstall: done; the user mailaccess and /var/empty are kept"
    ;;
*)
    echo "usage: install.sh install|uninstall" >&2
    exit 2
    ;;
esac
