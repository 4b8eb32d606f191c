#!/bin/sh
# Installs what the test suite needs, only where it is missing, and creates
# the unprivileged test user the end-to-end tests run the servers as.
# Run as root on Debian 12 (make test does).
set -eu

# Debian packages the tests use, with a command or file that shows each is there.
need=""
want() { [ -e "$2" ] || need="$need $1"; }
want dovecot-imapd      /usr/lib/dovecot/imap
want dovecot-pop3d      /usr/lib/dovecot/pop3
want isync              /usr/bin/mbsync
want fetchmail          /usr/bin/fetchmail
want xinetd             /usr/sbin/xinetd
want stunnel4           /usr/bin/stunnel4
want sasl2-bin          /usr/sbin/saslpasswd2
want db5.3-util         /usr/bin/db5.3_load
want curl               /usr/bin/curl
want mutt               /usr/bin/mutt
want neomutt            /usr/bin/neomutt
want alpine             /usr/bin/alpine
want aerc               /usr/bin/aerc
want procmail           /usr/bin/procmail
want systemd            /usr/bin/systemd-socket-activate
want util-linux         /usr/bin/setpriv
want strace             /usr/bin/strace
want openssl            /usr/bin/openssl
want man-db             /usr/bin/man
want groff-base         /usr/bin/groff
want make               /usr/bin/make
want adduser            /usr/sbin/adduser
want lintian            /usr/bin/lintian
want haproxy            /usr/sbin/haproxy
want nginx              /usr/sbin/nginx
want libnginx-mod-mail  /usr/lib/nginx/modules/ngx_mail_module.so
want gsasl              /usr/bin/gsasl
want krb5-kdc           /usr/sbin/krb5kdc
want krb5-admin-server  /usr/sbin/kadmin.local
want krb5-user          /usr/bin/kinit
want slapd              /usr/sbin/slapd
lib=/usr/lib/$(uname -m)-linux-gnu
# System users from LDAP (tests/auth_ldap.rs): nslcd, NSS and PAM modules
# (pam-auth-update adds pam_ldap to common-auth).
want nslcd              /usr/sbin/nslcd
want libnss-ldapd       $lib/libnss_ldap.so.2
want libpam-ldapd       $lib/security/pam_ldap.so
# The GSS-API library imapd and pop3d load for GSSAPI (auth/gss.rs).
want libgssapi-krb5-2   $lib/libgssapi_krb5.so.2
# Libraries of Courier's imapd and pop3d (extracted below, not installed).
want libidn12           $lib/libidn.so.12
want libgdbm6           $lib/libgdbm.so.6
want libstdc++6         $lib/libstdc++.so.6
# ... and of Courier's maildirmake and deliverquota (tests/imap_quota.rs).
want libpcre3           $lib/libpcre.so.3

if [ "$(id -u)" != 0 ]; then
    [ -z "$need" ] || { echo "test-deps: missing packages:$need (run make test as root to install them)"; exit 1; }
    exit 0
fi
# Another apt or dpkg (unattended-upgrades, say) may hold the lock: wait
# for it up to 5 minutes rather than fail at once.
wait="-o DPkg::Lock::Timeout=300"
if [ -n "$need" ]; then
    echo "test-deps: installing$need"
    export DEBIAN_FRONTEND=noninteractive
    apt-get $wait update -qq || { echo "test-deps: apt-get update failed (is another apt running?)"; exit 1; }
    apt-get $wait install -y -qq --no-install-recommends $need >/dev/null ||
        { echo "test-deps: could not install$need (apt lock held for 5 minutes, or no network)"; exit 1; }
    # Debian starts the daemons it installs; the tests start their own.
    for s in dovecot xinetd stunnel4 haproxy nginx krb5-kdc krb5-admin-server; do
        systemctl stop $s >/dev/null 2>&1 || service $s stop >/dev/null 2>&1 || true
    done
fi

# Courier-IMAP's imapd and pop3d, for tests/courier_import.rs (mail written
# by the real Courier, then read by us). Debian's Courier packages conflict
# with Dovecot's, so they are downloaded and unpacked here, not installed.
courier=/var/cache/mailaccess-test/courier
if [ ! -x $courier/usr/bin/imapd ] || [ ! -x $courier/usr/lib/courier/courier/courierpop3d ]; then
    echo "test-deps: unpacking Courier-IMAP into $courier"
    debs="courier-imap courier-pop courier-base courier-authlib libcourier-unicode4 libgamin0"
    tmp=$(mktemp -d)
    ( cd "$tmp" && { apt-get $wait download -qq $debs 2>/dev/null ||
        { apt-get $wait update -qq && apt-get $wait download -qq $debs 2>/dev/null; }; } ) ||
        { rm -rf "$tmp"; echo "test-deps: could not download Courier-IMAP (no network?)"; exit 1; }
    rm -rf $courier && mkdir -p $courier
    for d in "$tmp"/*.deb; do dpkg-deb -x "$d" $courier; done
    rm -rf "$tmp"
fi

# The mail user of the end-to-end tests: a real unprivileged account.
id mailtest >/dev/null 2>&1 || useradd --create-home --shell /bin/sh mailtest

# Login tests (tests/login_*.rs): the unprivileged pre-login user and its
# empty, root-owned jail (login_user and login_chroot defaults).
id mailaccess >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin mailaccess
install -d -o root -g root -m 0755 /var/empty
# A SCRAM-SHA-256 client not written by us, for tests/clients/login_sasl.py.
python3 -c 'import scramp' 2>/dev/null || python3 -m pip install -q scramp
