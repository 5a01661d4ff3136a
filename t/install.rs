//! package/install: the slashpackage tree and the home, twice in a row.

use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::process::Command;

use crate::common::*;

fn install(prefix: &std::path::Path) -> std::process::Output {
    Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/package/install"))
        .env("SQMAIL_PREFIX", prefix)
        .env("SQMAIL_NOIDS", "1")
        .env("SQMAIL_BIN", bin_dir())
        .output()
        .unwrap()
}

fn mode(p: &std::path::Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn install_twice_keeps_controls_and_sets_modes() {
    let prefix = fresh_dir("install");
    let out = install(&prefix);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let version =
        fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/conf-files/version")).unwrap();
    let pkg = prefix.join("package/mail/sqmail");
    assert_eq!(
        fs::read_link(pkg.join("sqmail")).unwrap().to_str().unwrap(),
        format!("sqmail-{}", version.trim())
    );
    let cmd = pkg.join("sqmail/command");
    assert_eq!(mode(&cmd.join("qmail-showctl")), 0o755);
    let home = prefix.join("var/qmail");
    assert_eq!(mode(&home.join("queue")), 0o750);
    assert_eq!(mode(&home.join("queue/intd/0")), 0o700);
    assert!(home.join("queue/mess/22").is_dir());
    assert_eq!(mode(&home.join("queue/lock/trigger")), 0o622);
    assert!(
        fs::metadata(home.join("queue/lock/trigger"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert_eq!(
        fs::metadata(home.join("queue/lock/tcpto")).unwrap().len(),
        1024
    );
    assert_eq!(mode(&home.join("alias")), 0o2755);
    // A copy, not a link into /package: C qmail's make setup would
    // write through a link.
    assert!(
        fs::symlink_metadata(home.join("bin/qmail-showctl"))
            .unwrap()
            .is_file()
    );
    assert_eq!(
        fs::read(home.join("bin/qmail-showctl")).unwrap(),
        fs::read(cmd.join("qmail-showctl")).unwrap()
    );
    assert_eq!(
        fs::read_to_string(home.join("control/tlsdestinations")).unwrap(),
        "*:\n"
    );
    assert!(prefix.join("usr/local/man/man8/qmail-showctl.8").is_file());
    // qmailanalog's reports by their names.
    assert_eq!(
        fs::read_link(home.join("bin/zoverall")).unwrap().to_str(),
        Some("qmailanalog")
    );
    // DANE on: the root's anchors from dns-root-data, else our copy.
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/conf-files/trustanchors");
    let debian = std::path::Path::new("/usr/share/dns/root.key");
    let from = if debian.is_file() {
        debian
    } else {
        std::path::Path::new(shipped)
    };
    let anchors = home.join("control/trustanchors");
    assert_eq!(fs::read(&anchors).unwrap(), fs::read(from).unwrap());
    assert_eq!(mode(&anchors), 0o644);

    fs::write(home.join("control/me"), "kept.example\n").unwrap();
    fs::write(&anchors, "ad\n").unwrap();
    let out = install(&prefix);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        fs::read_to_string(home.join("control/me")).unwrap(),
        "kept.example\n"
    );
    assert_eq!(fs::read_to_string(&anchors).unwrap(), "ad\n", "the admin's");
    // The control step alone, without dns-root-data: the copy shipped.
    fs::remove_file(&anchors).unwrap();
    let out = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/package/control"))
        .env("SQMAIL_PREFIX", &prefix)
        .env("SQMAIL_NOIDS", "1")
        .env("SQMAIL_BIN", bin_dir())
        .env("SQMAIL_ROOTKEY", prefix.join("no-root.key"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(fs::read(&anchors).unwrap(), fs::read(shipped).unwrap());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("trustanchors from") && said.contains("DANE is on"),
        "{said}"
    );
    fs::remove_dir_all(&prefix).unwrap();
}

#[test]
fn setuid_modes_from_package_modes() {
    let prefix = fresh_dir("install-modes");
    let out = install(&prefix);
    assert!(out.status.success());
    let cmd = prefix.join("package/mail/sqmail/sqmail/command");
    assert_eq!(mode(&cmd.join("qmail-queue")), 0o4711);
    assert_eq!(mode(&cmd.join("qmail-lspawn")), 0o700);
    assert_eq!(mode(&cmd.join("qmail-authuser")), 0o6711);
    assert_eq!(mode(&cmd.join("qmail-send")), 0o711);
    fs::remove_dir_all(&prefix).unwrap();
}

/// Runs `body` in a scratch root and checks that it printed each of
/// `steps`; a loud skip without daemontools (the body prints
/// NO-DAEMONTOOLS) or without namespaces.
fn scratch_steps(name: &str, body: &str, steps: &[&str]) {
    scratch_steps_with(name, body, steps, &[]);
}

/// `scratch_steps` with more trees readable inside (`scratch::run_with`).
fn scratch_steps_with(name: &str, body: &str, steps: &[&str], binds: &[&std::path::Path]) {
    let script = format!("{SH_HELPERS}\ncd {}\n{body}", env!("CARGO_MANIFEST_DIR"));
    let Some((out, dir)) = scratch::run_with(name, &script, binds) else {
        return;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    if stdout.contains("NO-DAEMONTOOLS") {
        skip("daemontools (svscan, multilog) not installed: sh package/testdeps as root");
    } else {
        for step in steps {
            assert!(stdout.contains(step), "{step} missing:\n{stdout}\n{stderr}");
        }
    }
    fs::remove_dir_all(&dir).unwrap();
}

/// The shell helpers of the scripts run in a scratch root: `waitfor COND`
/// polls COND (sh) every 0.1 s for 30 s at most.
const SH_HELPERS: &str = r#"
set -eu
PATH=/usr/sbin:/usr/bin:/sbin:/bin; export PATH
waitfor() {
  i=0
  until eval "$1"; do
    i=$((i + 1)); [ "$i" -lt 300 ] || { echo "TIMEOUT: $1"; return 1; }
    sleep 0.1
  done
}
# never CMD...: fails the script when CMD succeeds (set -e ignores "! CMD").
never() { if "$@"; then echo "UNEXPECTED: $*"; exit 1; fi; }
listening() { python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 1).close()" 2>/dev/null; }
install_all() { sh package/install > /tmp/install.log 2>&1 || { cat /tmp/install.log; exit 1; }; }
add_alice() {
  useradd -m -d /home/alice -s /bin/sh alice
  su alice -s /bin/sh -c '/var/qmail/bin/maildirmake /home/alice/Maildir'
}
"#;

/// A fresh system install (accounts, /var/qmail, /service, sendmail links)
/// in a scratch root, its services under daemontools' svscan: a message
/// sent over STARTTLS on port 25 lands in a user's Maildir, svc -d and -u
/// work, and the logs carry TAI64N stamps.
#[test]
fn system_install_serves_mail_under_svscan() {
    let body = r#"install_all
grep -q 'package/ids: added user qmaild' /tmp/install.log
grep -q 'package/sslenv: made a self-signed certificate for mx.test.example' /tmp/install.log
[ ! -d /etc/systemd/system ] || grep -q '^ExecStart=/usr/bin/svscan /service$' /etc/systemd/system/sqmail.service
echo INSTALLED
# Again: nothing new to say but the steps' own state lines.
sh package/install > /tmp/install2.log 2>&1 || { cat /tmp/install2.log; exit 1; }
never grep -E 'created|wrote|linked|added|made' /tmp/install2.log
# An edited run script is kept, the template put beside it.
echo '# a local change' >> /var/qmail/svc/qmail-smtpd/run
sh package/service | grep -q 'kept /var/qmail/svc/qmail-smtpd/run (edited'
grep -q '# a local change' /var/qmail/svc/qmail-smtpd/run
[ -f /var/qmail/svc/qmail-smtpd/run.sqmail ]
echo IDEMPOTENT
# Another MTA's sendmail (the host's postfix, say) is left alone.
if [ -e /usr/sbin/sendmail ] && [ "$(readlink /usr/sbin/sendmail)" != /var/qmail/bin/sendmail ]; then
  grep -q 'package/run: left /usr/sbin/sendmail alone' /tmp/install.log
  rm -f /usr/sbin/sendmail
  sh package/run | grep -q 'linked /usr/sbin/sendmail'
fi
[ "$(readlink /usr/sbin/sendmail)" = /var/qmail/bin/sendmail ]
if [ -e /usr/bin/mailq ] && [ "$(readlink /usr/bin/mailq)" != /var/qmail/bin/sendmail ]; then
  rm -f /usr/bin/mailq
  sh package/run | grep -q 'linked /usr/bin/mailq'
fi
[ "$(readlink /usr/bin/mailq)" = /var/qmail/bin/sendmail ]
add_alice
command -v svscan >/dev/null || { echo NO-DAEMONTOOLS; exit 0; }
svscan /service > /tmp/svscan.log 2>&1 &
waitfor 'svstat /service/qmail-send | grep -q ": up"'
waitfor 'listening 25'
svstat /service/qmail-smtpsd | grep -q ': down'
echo UP
python3 - <<'PY'
import smtplib, ssl
s = smtplib.SMTP("127.0.0.1", 25, timeout=20)
s.ehlo("client.test")
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s.starttls(context=ctx)
s.ehlo("client.test")
s.sendmail("bob@client.test", ["alice@mx.test.example"], b"Subject: hi\r\n\r\nhello over STARTTLS\r\n")
s.quit()
PY
echo SENT
waitfor 'ls /home/alice/Maildir/new | grep -q .'
grep -q 'hello over STARTTLS' /home/alice/Maildir/new/*
echo DELIVERED
echo hello by sendmail | /usr/sbin/sendmail alice
waitfor '[ "$(ls /home/alice/Maildir/new | wc -l)" = 2 ]'
echo SENDMAIL
# Mail to root and postmaster has a home: alias/Maildir (package/run).
echo to the admin | /usr/sbin/sendmail root postmaster
waitfor '[ "$(ls /var/qmail/alias/Maildir/new | wc -l)" = 2 ]'
echo ALIAS
svc -d /service/qmail-smtpd
waitfor 'svstat /service/qmail-smtpd | grep -q ": down"'
waitfor '! listening 25'
svc -u /service/qmail-smtpd
waitfor 'listening 25'
/var/qmail/bin/qmailctl stat | grep -q '^/service/qmail-send: up'
never /var/qmail/bin/qmailctl stop qmail-nosuch
/var/qmail/bin/qmailctl cdb | grep -q 'compiled /var/qmail/control/rules.smtpd.cdb'
/var/qmail/bin/qmailctl queue | grep -q 'messages in queue: 0'
# mailq (sendmail as mailq: qmail-qread) lists the empty queue.
q=$(mailq); [ -z "$q" ]
/var/qmail/bin/qmailctl reload | grep -q 'rereads its controls'
/var/qmail/bin/qmailctl doqueue | grep -q 'retries the queue'
waitfor 'grep -q "status: " /var/log/qmail-send/current'
echo SVC
# The TLS services that start down, with ssl.env's chroot and user.
svc -u /service/qmail-smtpsd /service/qmail-smtpsub
waitfor 'listening 465'
waitfor 'listening 587'
python3 - <<'PY'
import smtplib, ssl
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP_SSL("127.0.0.1", 465, timeout=20, context=ctx)
code, text = s.ehlo("client.test")
assert code == 250 and b"AUTH" in text, text
s.quit()
s = smtplib.SMTP("127.0.0.1", 587, timeout=20)
s.ehlo("client.test")
code, text = s.mail("bob@client.test")
assert code >= 500, (code, text)  # TLS and AUTH first
s.starttls(context=ctx)
code, text = s.ehlo("client.test")
assert code == 250 and b"AUTH" in text, text
s.quit()
PY
echo TLS-SERVICES
# Every other service comes up with svc -u and goes down with svc -d.
for sp in qmail-qmtpd:209 qmail-qmtpsd:6209 qmail-qmqpd:628 qmail-pop3d:110 qmail-pop3sd:995; do
  svc -u /service/${sp%:*}
  waitfor "listening ${sp#*:}"
  svc -d /service/${sp%:*}
  waitfor "! listening ${sp#*:}"
done
echo ALL-SERVICES
waitfor 'grep -q "new msg" /var/log/qmail-send/current'
head -n 1 /var/log/qmail-send/current | grep -Eq '^@4000[0-9a-f]{20} '
[ "$(stat -c %U /var/log/qmail-send/current)" = qmaill ]
echo LOGS
"#;
    scratch_steps(
        "install-svscan",
        body,
        &[
            "INSTALLED",
            "IDEMPOTENT",
            "UP",
            "SENT",
            "DELIVERED",
            "SENDMAIL",
            "ALIAS",
            "SVC",
            "LOGS",
        ],
    );
}

/// A queue as C qmail lays it out (flat todo/ID and intd/ID, a stale mess
/// file) and qmail 1.03's smtproutes: qmail-send logs the flat entries and
/// keeps the message through its cleanup, qmail-qmaint reports it as not
/// yet preprocessed, and package/upgrade moves it into the split layout
/// (after which it is delivered) and rewrites the route with a backup.
#[test]
fn upgrade_converts_a_flat_queue_and_routes() {
    let body = r#"install_all
command -v svscan >/dev/null || { echo NO-DAEMONTOOLS; exit 0; }
add_alice
printf 'remote.test:relay.test:2525\nother.test:[10.0.0.1];26\n' > /var/qmail/control/smtproutes
# A message queued while qmail-send is down, then moved where C qmail puts
# its todo and intd entries; its mess file as old as leftovers get.
echo 'Subject: from C qmail' | /var/qmail/bin/qmail-inject alice
q=/var/qmail/queue
t=$(find $q/todo -type f)
id=${t##*/}
mv "$t" $q/todo/$id
mv $q/intd/*/$id $q/intd/$id
m=$(find $q/mess -type f -name $id)
touch -a -d '3 days ago' "$m"
echo QUEUED
/var/qmail/bin/qmail-qmaint > /tmp/qmaint.out 2>&1 || :
grep -q "todo/$id: qmail 1.03's flat layout" /tmp/qmaint.out
grep -q '1 not yet preprocessed' /tmp/qmaint.out
never grep -q 'only, left by an interrupted' /tmp/qmaint.out
/var/qmail/bin/qmail-qstat > /tmp/qstat.out 2> /tmp/qstat.err
grep -q 'not yet preprocessed: 1$' /tmp/qstat.out
grep -q "1 todo entries in qmail 1.03's flat layout" /tmp/qstat.err
echo QMAINT
svscan /service > /tmp/svscan.log 2>&1 &
waitfor "grep -q 'warning: todo/$id is out of place' /var/log/qmail-send/current"
svc -d /service/qmail-send
waitfor 'svstat /service/qmail-send | grep -q ": down"'
[ -f "$m" ]
[ -z "$(ls /home/alice/Maildir/new)" ]
echo KEPT
sh package/upgrade > /tmp/upgrade.log 2>&1 || { cat /tmp/upgrade.log; exit 1; }
cat /tmp/upgrade.log
grep -q "moved 1 todo entries" /tmp/upgrade.log
grep -q "smtproutes: line 1: remote.test:relay.test:2525 -> remote.test:relay.test;2525" /tmp/upgrade.log
[ "$(cat /var/qmail/control/smtproutes)" = "$(printf 'remote.test:relay.test;2525\nother.test:[10.0.0.1];26')" ]
grep -q 'relay.test:2525' /var/qmail/control/smtproutes.qmail
n=$((id % $(head -n 1 conf-files/split)))
[ -f $q/todo/$n/$id ]
[ -f $q/intd/$n/$id ]
echo CONVERTED
svc -u /service/qmail-send
waitfor 'ls /home/alice/Maildir/new | grep -q .'
grep -q 'from C qmail' /home/alice/Maildir/new/*
echo DELIVERED
# Again: nothing left to convert.
sh package/upgrade > /tmp/upgrade2.log 2>&1
never grep -E 'moved|converted|line [0-9]' /tmp/upgrade2.log
echo IDEMPOTENT
# And back: package/downgrade lays a queued message out as C qmail does
# and writes the route in qmail 1.03's syntax.
svc -d /service/qmail-send
waitfor 'svstat /service/qmail-send | grep -q ": down"'
echo 'Subject: for C qmail' | /var/qmail/bin/qmail-inject alice
sh package/downgrade > /tmp/downgrade.log 2>&1 || { cat /tmp/downgrade.log; exit 1; }
t=$(find $q/todo -type f)
[ "${t%/*}" = $q/todo ]
[ -f $q/intd/${t##*/} ]
[ "$(head -n 1 /var/qmail/control/smtproutes)" = remote.test:relay.test:2525 ]
grep -q 'relay.test;2525' /var/qmail/control/smtproutes.sqmail
echo DOWNGRADED
"#;
    scratch_steps(
        "install-upgrade",
        body,
        &[
            "QUEUED",
            "QMAINT",
            "KEPT",
            "CONVERTED",
            "DELIVERED",
            "IDEMPOTENT",
            "DOWNGRADED",
        ],
    );
}

/// Accounts that exist with other ids, a home that is a link to another
/// directory, no /service: the install keeps the ids and the link, says
/// so, and leaves a queue qmail-qmaint calls sane (owners looked up by name).
#[test]
fn install_keeps_existing_ids_and_a_linked_home() {
    let body = r#"
groupadd -g 3000 nofiles
useradd -u 3001 -g nofiles -M -d /nonexistent -s /bin/false qmaild
mkdir -p /srv/qmail
ln -s /srv/qmail /var/qmail
install_all
grep -q 'package/ids: group nofiles exists with gid 3000, kept' /tmp/install.log
grep -q 'package/ids: user qmaild exists with uid 3001, kept' /tmp/install.log
grep -q 'package/dir: /var/qmail is kept (a link to /srv/qmail)' /tmp/install.log
[ -L /var/qmail ]
[ -d /srv/qmail/queue/todo/0 ]
[ -L /service/qmail-send ]
[ "$(stat -c %U:%G /srv/qmail/queue/todo)" = qmailq:sqmail ]
[ "$(stat -c %G /var/log/qmail-send)" = nofiles ]
/var/qmail/bin/qmail-qmaint | grep -q 'queue is sane'
echo KEPT
"#;
    scratch_steps("install-ids", body, &["KEPT"]);
}

/// notqmail built from the source tree `SQMAIL_NOTQMAIL_SRC` (opt-in, as
/// t/qmtp_compat's SQMAIL_NOTQMAIL: not a system package) and installed
/// in the scratch root, with mail delivered, deferred remote and waiting in
/// its flat todo; then our install over it: the waiting message is
/// delivered, the deferred one stays queued, smtproutes is converted.
/// Then the reverse: package/downgrade, notqmail's make setup (which
/// leaves /package alone) and notqmail's qmail-send delivers what ours
/// queued.
#[test]
fn notqmail_home_upgraded_and_downgraded() {
    let Some(nq) = std::env::var_os("SQMAIL_NOTQMAIL_SRC") else {
        return;
    };
    let nq = std::path::PathBuf::from(nq);
    let body = format!(
        r#"
src=$(pwd)
command -v svscan >/dev/null || {{ echo NO-DAEMONTOOLS; exit 0; }}
{}
cd "$src"
c=/var/qmail/control
echo mx.test.example > $c/me; echo mx.test.example > $c/locals; echo mx.test.example > $c/rcpthosts
echo remote.test:127.0.0.1:2525 > $c/smtproutes
: > /var/qmail/alias/.qmail-root; : > /var/qmail/alias/.qmail-postmaster
add_alice
# users/cdb (joe is alice's) and a .qmail file, made by notqmail.
printf '=joe:alice:%s:%s:/home/alice:::\n.\n' "$(id -u alice)" "$(id -g alice)" > /var/qmail/users/assign
/var/qmail/bin/qmail-newu
echo ./Maildir/ > /home/alice/.qmail-list
got() {{ grep -lq "^Subject: $1\$" /home/alice/Maildir/new/* 2>/dev/null; }}
env - PATH=/var/qmail/bin:/usr/bin:/bin qmail-start ./Maildir/ > /tmp/cq.log 2>&1 &
cq=$!
echo 'Subject: deferred' | /var/qmail/bin/qmail-inject bob@remote.test
echo 'Subject: delivered by C qmail' | /var/qmail/bin/qmail-inject joe@mx.test.example
# A bounce for bob@remote.test, deferred in its turn.
echo 'Subject: to nobody' | /var/qmail/bin/qmail-inject -fbob@remote.test nosuch@mx.test.example
waitfor 'got "delivered by C qmail"'
waitfor '[ "$(grep -c "deferral: Sorry,_I_wasn.t_able" /tmp/cq.log)" -ge 2 ]'
kill -TERM $cq; wait $cq || :
echo 'Subject: waiting in todo' | /var/qmail/bin/qmail-inject alice-list@mx.test.example
[ -n "$(find /var/qmail/queue/todo -maxdepth 1 -type f)" ]
echo NQ-QUEUED
install_all
grep -q "C qmail's group qmail stays" /tmp/install.log
grep -q 'was written by C qmail' /tmp/install.log
grep -q 'moved 1 todo entries' /tmp/install.log
grep -q 'remote.test:127.0.0.1:2525 -> remote.test:127.0.0.1;2525' /tmp/install.log
svscan /service > /tmp/svscan.log 2>&1 &
waitfor 'got "waiting in todo"'
echo 'Subject: for joe by sqmail' | /var/qmail/bin/qmail-inject joe@mx.test.example
waitfor 'got "for joe by sqmail"'
# The deferred message and the deferred bounce stay queued.
/var/qmail/bin/qmail-qstat | grep -q 'messages in queue: 2$'
/var/qmail/bin/qmail-qread | grep -q 'bob@remote.test'
echo UPGRADED
svc -d /service/qmail-send
waitfor 'svstat /service/qmail-send | grep -q ": down"'
echo 'Subject: back to C qmail' | /var/qmail/bin/qmail-inject alice
sh package/downgrade > /tmp/downgrade.log 2>&1 || {{ cat /tmp/downgrade.log; exit 1; }}
ours=/package/mail/sqmail/sqmail/command/qmail-send
cp $ours /tmp/ours
(cd /tmp/nq && make setup check > /tmp/nq2.log 2>&1) || {{ tail -30 /tmp/nq2.log; exit 1; }}
cmp -s /tmp/ours $ours
never cmp -s /var/qmail/bin/qmail-send $ours
env - PATH=/var/qmail/bin:/usr/bin:/bin qmail-start ./Maildir/ > /tmp/cq2.log 2>&1 &
waitfor 'got "back to C qmail"'
echo DOWNGRADED
"#,
        scratch::notqmail_setup(&nq)
    );
    scratch_steps_with(
        "install-notqmail",
        &body,
        &["NQ-QUEUED", "UPGRADED", "DOWNGRADED"],
        &[&nq],
    );
}
