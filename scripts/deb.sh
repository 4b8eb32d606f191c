#!/bin/sh
# Builds mailaccess_VERSION_ARCH.deb in the repository from the release
# binaries ("make deb"): the files "make install" puts in place, with
# PREFIX=/usr, into a staging tree, plus the package's control data:
#   - the files under /etc are conffiles (dpkg keeps local changes);
#   - postinst creates the system user mailaccess and /var/empty when
#     missing, and notes what it created;
#   - nothing is enabled: the xinetd services are installed disabled and
#     the systemd socket units not enabled, so no port opens;
#   - purge removes the configuration files (dpkg), and the user and
#     /var/empty if postinst created them.
# Needs dpkg-deb (Debian's dpkg). Run after "make release".
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$top/Cargo.toml" | head -n 1)
arch=$(dpkg --print-architecture)
out="$top/mailaccess_${version}_${arch}.deb"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

PREFIX=/usr DESTDIR="$stage/root" sh "$top/scripts/install.sh" install >/dev/null
root="$stage/root"
mkdir -p "$root/DEBIAN"
size=$(du -sk "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<EOF
Package: mailaccess
Version: $version
Architecture: $arch
Maintainer: mailaccess developers <mailaccess@localhost>
Installed-Size: $size
Depends: libc6, libpam0g, adduser
Section: mail
Priority: optional
Description: IMAP and POP3 servers for Maildir and mbox, run per connection
 imapd and pop3d serve one connection each, started by xinetd, systemd
 socket activation, stunnel or ssh; they authenticate through PAM or a
 Cyrus sasldb file with privilege separation and work directly on the
 user's Maildir or mbox. Nothing is enabled on installation.
EOF
(cd "$root" && find etc -type f | sed 's|^|/|' | sort) >"$root/DEBIAN/conffiles"
cat >"$root/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
    mkdir -p /var/lib/mailaccess
    if ! getent passwd mailaccess >/dev/null; then
        adduser --system --no-create-home --home /nonexistent --group mailaccess >/dev/null
        touch /var/lib/mailaccess/created-user
    fi
    if [ ! -d /var/empty ]; then
        install -d -m 755 -o root -g root /var/empty
        touch /var/lib/mailaccess/created-var-empty
    fi
fi
exit 0
EOF
cat >"$root/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = purge ]; then
    if [ -e /var/lib/mailaccess/created-user ] && getent passwd mailaccess >/dev/null; then
        deluser --system mailaccess >/dev/null 2>&1 || true
        getent group mailaccess >/dev/null && delgroup --system mailaccess >/dev/null 2>&1 || true
    fi
    if [ -e /var/lib/mailaccess/created-var-empty ]; then
        rmdir /var/empty 2>/dev/null || true
    fi
    rm -rf /var/lib/mailaccess
fi
exit 0
EOF
chmod 755 "$root/DEBIAN/postinst" "$root/DEBIAN/postrm"
dpkg-deb --root-owner-group --build "$root" "$out" >/dev/null
echo "$out"
