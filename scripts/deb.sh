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
#     /var/empty if postinst created them;
#   - lintian-clean (tests/deploy_deb.rs checks): compressed manual pages,
#     a changelog, a copyright file and md5sums; DEB_MAINTAINER names who
#     built it ("Name <address>"), for a package an administrator builds
#     locally. Two informational tags stay, by design: the binaries keep
#     the compiler's .comment section (as rustc writes them, stripped of
#     symbols), and hardening-no-fortify-functions (Rust code does not
#     call glibc's _chk functions; fortify is a C-compiler feature); and
#     spelling-error-in-binary "wtH" is a byte run in compiled code.
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
maintainer=${DEB_MAINTAINER:-"mailaccess developers <mailaccess@example.org>"}
# Debian policy 12.3: manual pages compressed, gzip -9n (reproducible).
find "$root/usr/share/man" -type f ! -name '*.gz' -exec gzip -9n {} +
doc="$root/usr/share/doc/mailaccess"
mkdir -p "$doc"
when=${SOURCE_DATE_EPOCH:-$(git -C "$top" log -1 --format=%ct 2>/dev/null || date +%s)}
# A native package's changelog, in Debian's format.
cat >"$doc/changelog" <<EOF
mailaccess ($version) unstable; urgency=medium

  * Built from the mailaccess repository with "make deb".

 -- $maintainer  $(date -R -d "@$when")
EOF
gzip -9n "$doc/changelog"
cat >"$doc/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: mailaccess
Source: the mailaccess repository

Files: *
Copyright: $(date -u -d "@$when" +%Y) the mailaccess developers
License: MIT
 Permission is hereby granted, free of charge, to any person obtaining a
 copy of this software and associated documentation files (the
 "Software"), to deal in the Software without restriction, including
 without limitation the rights to use, copy, modify, merge, publish,
 distribute, sublicense, and/or sell copies of the Software, and to
 permit persons to whom the Software is furnished to do so, subject to
 the following conditions:
 .
 The above copyright notice and this permission notice shall be included
 in all copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS
 OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF
 MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT.
 IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY
 CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT,
 TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE
 SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
EOF
chmod 644 "$doc/copyright" "$doc/changelog.gz"
mkdir -p "$root/DEBIAN"
size=$(du -sk "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<EOF
Package: mailaccess
Version: $version
Architecture: $arch
Maintainer: $maintainer
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
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | sort |
    xargs md5sum) >"$root/DEBIAN/md5sums"
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
