//! NOTIFY (RFC 5465): once set, news is sent as it happens, between
//! commands and during IDLE, not only when the client asks.
//!
//! * The selected mailbox (`SELECTED`, `SELECTED-DELAYED`): what a NOOP
//!   would report (EXISTS, EXPUNGE, FETCH FLAGS; expunges held back with
//!   `SELECTED-DELAYED` until a command that may report them), and for
//!   each new message the FETCH attributes given with MessageNew.
//!   Without either filter, nothing of the selected mailbox is sent
//!   unasked; the commands report it as always.
//! * Other mailboxes (`INBOXES`, `PERSONAL`, `SUBSCRIBED`, `SUBTREE`,
//!   `MAILBOXES`): a message event is a `* STATUS` with what changed, as
//!   Dovecot sends it (new or expunged messages: MESSAGES UIDNEXT UNSEEN;
//!   a new UIDVALIDITY: that too; flags: UNSEEN, and HIGHESTMODSEQ once
//!   CONDSTORE is on); MailboxName a `* LIST` of the mailbox made
//!   (`\NonExistent` when deleted, `OLDNAME` when renamed: the MAILBOXID
//!   tells a rename from a delete and a create); SubscriptionChange a
//!   `* LIST` with or without `\Subscribed`; without CHILDREN attributes,
//!   as Dovecot writes them. Our only inboxes are INBOX.
//! * `NOTIFY SET STATUS` sends the STATUS of every watched mailbox at
//!   once.
//!
//! What to look at is learnt from inotify(7) on the files and directories
//! the store names (`Store::watch_paths`, `Mailbox::watch_paths`); a look
//! every `NOTIFY_CHECK_INTERVAL` catches what no watch sees. Changes are
//! found by comparing with what the client was last told, so changes made
//! by this session are reported too (as Dovecot does); AnnotationChange
//! and the METADATA events are refused with `[BADEVENT]`, as this server
//! keeps no annotations.

use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::AsFd;
use std::time::Instant;

use crate::conn::{ClientInput, Wake};
use crate::imap::cmd::idle::Watch;
use crate::imap::command::{
    FetchItem, NotifyEvent, NotifyFilter, NotifyRequest, SeqNumber, SequenceSet, StatusItem,
};
use crate::imap::response;
use crate::imap::session::{Done, Error, Result, Session, State};
use crate::limits;
use crate::store::{MailboxInfo, Status};

/// The events of one filter.
#[derive(Clone, Copy, Debug, Default)]
struct Events {
    new: bool,
    expunge: bool,
    flags: bool,
    name: bool,
    subscription: bool,
}

impl Events {
    fn messages(&self) -> bool {
        self.new || self.expunge || self.flags
    }
}

/// What the client set, and what it was last told.
pub struct Notify {
    /// The selected mailbox's events: None when neither SELECTED nor
    /// SELECTED-DELAYED was given (or with NONE).
    selected: Option<SelectedEvents>,
    groups: Vec<(NotifyFilter, Events)>,
    /// The other mailboxes' counts as last told (or first seen).
    statuses: BTreeMap<String, Status>,
    /// Every mailbox, with its MAILBOXID when MailboxName is watched.
    names: BTreeMap<String, Option<String>>,
    subscribed: BTreeSet<String>,
    watch: Option<Watch>,
    watched: Vec<std::path::PathBuf>,
    /// Whether the client was told the state once (before that, the
    /// first look only takes it in).
    told: bool,
}

struct SelectedEvents {
    /// SELECTED-DELAYED: expunges wait for a command that may report them.
    delayed: bool,
    /// MessageNew's FETCH attributes.
    fetch: Vec<FetchItem>,
    /// The mailbox, and the UIDNEXT up to which its new messages were
    /// FETCHed (a newly selected mailbox has had none fetched).
    fetched_in: String,
    fetched_to: u32,
}

/// NOTIFY NONE, or NOTIFY SET.
pub fn notify(s: &mut Session, req: Option<NotifyRequest>) -> Result<Done> {
    let Some(req) = req else {
        s.notify = None;
        return Done::ok("NOTIFY completed.");
    };
    let mut selected = None;
    let mut groups = Vec::new();
    let mut unsupported = Vec::new();
    for g in &req.groups {
        let mut ev = Events::default();
        let mut fetch = Vec::new();
        for e in &g.events {
            match e {
                NotifyEvent::MessageNew(items) => {
                    ev.new = true;
                    fetch.clone_from(items);
                }
                NotifyEvent::MessageExpunge => ev.expunge = true,
                NotifyEvent::FlagChange => ev.flags = true,
                NotifyEvent::MailboxName => ev.name = true,
                NotifyEvent::SubscriptionChange => ev.subscription = true,
                NotifyEvent::Other(name) => unsupported.push(name.clone()),
            }
        }
        // RFC 5465 5: MessageNew and MessageExpunge go together, and
        // FlagChange needs them.
        if ev.new != ev.expunge || (ev.flags && !ev.new) {
            return Err(Error::Bad(
                "MessageNew and MessageExpunge go together, and FlagChange needs them".into(),
            ));
        }
        let delayed = match g.filter {
            NotifyFilter::Selected => false,
            NotifyFilter::SelectedDelayed => true,
            _ => {
                if !fetch.is_empty() {
                    return Err(Error::Bad(
                        "MessageNew takes FETCH attributes only for the selected mailbox".into(),
                    ));
                }
                groups.push((g.filter.clone(), ev));
                continue;
            }
        };
        if selected.is_some() {
            return Err(Error::Bad("The selected mailbox is named twice".into()));
        }
        selected = Some(ev.messages().then_some(SelectedEvents {
            delayed,
            fetch,
            fetched_in: String::new(),
            fetched_to: 0,
        }));
    }
    if !unsupported.is_empty() {
        return Err(Error::no_code(
            &format!("BADEVENT ({})", unsupported.join(" ")),
            "Unsupported NOTIFY events.",
        ));
    }
    let mut n = Notify {
        selected: selected.flatten(),
        groups,
        statuses: BTreeMap::new(),
        names: BTreeMap::new(),
        subscribed: BTreeSet::new(),
        watch: None,
        watched: Vec::new(),
        told: false,
    };
    fetch_new_in(s, &mut n)?;
    let mut out = Vec::new();
    look(s, &mut n, &mut out, req.status)?;
    s.out.write_all(&out)?;
    s.notify = Some(n);
    Done::ok("NOTIFY completed.")
}

/// Whether `name` is one that `filter` names.
fn matches(filter: &NotifyFilter, name: &str, subscribed: &BTreeSet<String>, sep: char) -> bool {
    let under = |root: &String| {
        name == root
            || (name.len() > root.len()
                && name.starts_with(root.as_str())
                && name[root.len()..].starts_with(sep))
    };
    match filter {
        NotifyFilter::Selected | NotifyFilter::SelectedDelayed => false,
        NotifyFilter::Inboxes => name == "INBOX",
        NotifyFilter::Personal => true,
        NotifyFilter::Subscribed => subscribed.contains(name),
        NotifyFilter::Subtree(roots) => roots.iter().any(under),
        NotifyFilter::Mailboxes(names) => names.iter().any(|n| n == name),
    }
}

/// The events the groups want of `name`, together.
fn wanted(n: &Notify, name: &str, sep: char) -> Events {
    wanted_with(n, name, sep, &n.subscribed)
}

/// `wanted` as it was with the subscriptions `subs`.
fn wanted_with(n: &Notify, name: &str, sep: char, subs: &BTreeSet<String>) -> Events {
    let mut all = Events::default();
    for (filter, ev) in &n.groups {
        if matches(filter, name, subs, sep) {
            all.new |= ev.new;
            all.expunge |= ev.expunge;
            all.flags |= ev.flags;
            all.name |= ev.name;
            all.subscription |= ev.subscription;
        }
    }
    all
}

/// Compares the store with what the client was told, writes what changed
/// (or, the first time, takes it as told; with `status_now`, writes every
/// watched mailbox's STATUS), and watches what must be watched.
fn look(s: &mut Session, n: &mut Notify, out: &mut Vec<u8>, status_now: bool) -> Result<()> {
    let first = !std::mem::replace(&mut n.told, true);
    let selected_name = match &s.state {
        State::Selected(sel) => Some(sel.name.clone()),
        _ => None,
    };
    let condstore = s.enabled.condstore;
    let store = s.store()?;
    let sep = store.separator();
    let any = |f: fn(&Events) -> bool| n.groups.iter().any(|(_, e)| f(e));
    let want_names = any(|e| e.name);
    let want_subs =
        any(|e| e.subscription) || n.groups.iter().any(|(f, _)| *f == NotifyFilter::Subscribed);
    let list: Vec<MailboxInfo> = if n.groups.is_empty() {
        Vec::new()
    } else {
        store.list()?
    };
    let subscribed: BTreeSet<String> = if want_subs {
        store.subscriptions()?.into_iter().collect()
    } else {
        BTreeSet::new()
    };
    let info = |name: &str| list.iter().find(|m| m.name == name);
    // SubscriptionChange.
    let old_subs = std::mem::replace(&mut n.subscribed, subscribed);
    if !first {
        for name in n.subscribed.symmetric_difference(&old_subs) {
            let ev = wanted(n, name, sep);
            if ev.subscription
                || (old_subs.contains(name) && wanted_with(n, name, sep, &old_subs).subscription)
            {
                let on = n.subscribed.contains(name);
                list_line(
                    out,
                    info(name),
                    name,
                    sep,
                    if on { "\\Subscribed" } else { "" },
                    None,
                );
            }
        }
    }
    // MailboxName.
    let now: BTreeMap<String, Option<String>> = list
        .iter()
        .filter(|m| !m.noselect)
        .map(|m| {
            let id = n.names.get(&m.name).cloned().flatten().or_else(|| {
                if want_names {
                    store.mailbox_id(&m.name).ok()
                } else {
                    None
                }
            });
            (m.name.clone(), id)
        })
        .collect();
    if !first && want_names {
        let gone: Vec<(&String, &Option<String>)> = n
            .names
            .iter()
            .filter(|(k, _)| !now.contains_key(*k))
            .collect();
        let made: Vec<(&String, &Option<String>)> = now
            .iter()
            .filter(|(k, _)| !n.names.contains_key(*k))
            .collect();
        let mut renamed_from = BTreeSet::new();
        for (name, id) in &made {
            let old = gone
                .iter()
                .find(|(_, old_id)| id.is_some() && old_id == id)
                .map(|(old, _)| (*old).clone());
            let ev = wanted(n, name, sep);
            let old_ev = old
                .as_deref()
                .map(|o| wanted(n, o, sep))
                .unwrap_or_default();
            if ev.name || old_ev.name {
                list_line(out, info(name), name, sep, "", old.as_deref());
            }
            if let Some(o) = old {
                renamed_from.insert(o);
            }
        }
        for (name, _) in gone {
            if !renamed_from.contains(name) && wanted(n, name, sep).name {
                list_line(out, None, name, sep, "", None);
            }
        }
    }
    n.names = now;
    // Message events of the other mailboxes.
    let mut statuses = BTreeMap::new();
    for name in n.names.keys() {
        let ev = wanted(n, name, sep);
        if !ev.messages() || selected_name.as_deref() == Some(name.as_str()) {
            continue;
        }
        let Ok(st) = store.status(name) else {
            continue;
        };
        let mut items = Vec::new();
        match n.statuses.get(name) {
            _ if status_now => {
                items.extend([
                    StatusItem::Messages,
                    StatusItem::UidNext,
                    StatusItem::UidValidity,
                    StatusItem::Unseen,
                ]);
                if condstore {
                    items.push(StatusItem::HighestModSeq);
                }
            }
            Some(old) => {
                if old.uid_validity != st.uid_validity {
                    items.push(StatusItem::UidValidity);
                }
                let count_changed = old.messages != st.messages || old.uid_next != st.uid_next;
                if old.uid_validity != st.uid_validity || (count_changed && (ev.new || ev.expunge))
                {
                    items.extend([
                        StatusItem::Messages,
                        StatusItem::UidNext,
                        StatusItem::Unseen,
                    ]);
                } else if old.unseen != st.unseen && ev.flags {
                    items.push(StatusItem::Unseen);
                }
                if condstore && ev.flags && old.highest_modseq != st.highest_modseq {
                    items.push(StatusItem::HighestModSeq);
                }
            }
            // A mailbox not seen before: made since (MailboxName tells it).
            None => {}
        }
        if !items.is_empty() {
            // In the order STATUS items are always written (Dovecot's).
            const ORDER: [StatusItem; 5] = [
                StatusItem::Messages,
                StatusItem::UidNext,
                StatusItem::UidValidity,
                StatusItem::Unseen,
                StatusItem::HighestModSeq,
            ];
            let items: Vec<StatusItem> = ORDER.into_iter().filter(|i| items.contains(i)).collect();
            crate::imap::cmd::status::write_line(out, name, &st, &items, "");
        }
        statuses.insert(name.clone(), st);
    }
    n.statuses = statuses;
    // What to watch: the list, each watched mailbox, the selected one.
    let mut paths = store.watch_paths(None);
    for name in n.statuses.keys() {
        paths.extend(store.watch_paths(Some(name)));
    }
    if let (Some(_), State::Selected(sel)) = (&n.selected, &s.state) {
        paths.extend(sel.mailbox.watch_paths());
    }
    if paths != n.watched || n.watch.is_none() {
        n.watch = Watch::new(paths.clone());
        n.watched = paths;
    } else if let Some(w) = &n.watch {
        w.add();
    }
    Ok(())
}

/// `* LIST (attributes) "sep" name [("OLDNAME" (old))]`; `info` None: the
/// mailbox does not exist (`\NonExistent`).
fn list_line(
    out: &mut Vec<u8>,
    info: Option<&MailboxInfo>,
    name: &str,
    sep: char,
    extra: &str,
    old: Option<&str>,
) {
    // As Dovecot sends them: no CHILDREN attributes.
    let mut attrs: Vec<&str> = Vec::new();
    match info {
        None => attrs.push("\\NonExistent"),
        Some(i) if i.noselect => attrs.push("\\Noselect"),
        Some(_) => {}
    }
    if !extra.is_empty() {
        attrs.push(extra);
    }
    out.extend_from_slice(format!("* LIST ({}) \"{sep}\" ", attrs.join(" ")).as_bytes());
    response::mailbox(out, name);
    if let Some(old) = old {
        out.extend_from_slice(b" (\"OLDNAME\" (");
        response::mailbox(out, old);
        out.extend_from_slice(b"))");
    }
    out.extend_from_slice(b"\r\n");
}

/// Everything to send now: the selected mailbox's news (sync and report,
/// then MessageNew's FETCH), then the other mailboxes'. `selected`
/// false: the selected mailbox was just synced (IDLE does it).
fn send_news(s: &mut Session, selected: bool) -> Result<()> {
    let Some(mut n) = s.notify.take() else {
        return Ok(());
    };
    let r = (|| {
        if let (true, Some(sel), State::Selected(_)) = (selected, &n.selected, &s.state) {
            s.report_changes(!sel.delayed)?;
        }
        fetch_new_in(s, &mut n)?;
        let mut out = Vec::new();
        look(s, &mut n, &mut out, false)?;
        s.out.write_all(&out)?;
        Ok(())
    })();
    s.notify = Some(n);
    r
}

/// After a command reported the selected mailbox's news: MessageNew's
/// FETCH of the messages new since the last.
pub fn fetch_new(s: &mut Session) -> Result<()> {
    let Some(mut n) = s.notify.take() else {
        return Ok(());
    };
    let r = fetch_new_in(s, &mut n);
    s.notify = Some(n);
    r
}

fn fetch_new_in(s: &mut Session, n: &mut Notify) -> Result<()> {
    let (Some(sel), State::Selected(open)) = (&mut n.selected, &s.state) else {
        return Ok(());
    };
    let mb = open.mailbox.as_ref();
    let uid_next = mb.uid_next();
    let count = mb.count();
    if sel.fetched_in != open.name {
        // Newly selected: SELECT told the client of every message.
        sel.fetched_in.clone_from(&open.name);
        sel.fetched_to = uid_next;
        return Ok(());
    }
    let from = sel.fetched_to.max(1);
    // `UID n:*` would name the last message even below n.
    let any_new = count > 0 && mb.uid(count - 1) >= from;
    sel.fetched_to = uid_next;
    if sel.fetch.is_empty() || !any_new {
        return Ok(());
    }
    let set = SequenceSet(vec![(SeqNumber::Value(from), SeqNumber::Star)]);
    let items = sel.fetch.clone();
    crate::imap::cmd::fetch::fetch(s, &set, &items, true, (None, false)).map(|_| ())
}

/// Between commands, with NOTIFY set: waits for the client, sending news
/// as it comes. Returns when the client has sent something.
pub fn wait<R: ClientInput>(s: &mut Session, input: &mut R) -> Result<()> {
    // A client that has already sent its next command gets it answered
    // first: the news (a look at every watched mailbox) waits for a pause.
    if input.poll_input(std::time::Duration::ZERO)? {
        return Ok(());
    }
    let started = Instant::now();
    send_news(s, true)?;
    s.out.flush()?;
    loop {
        let Some(n) = &s.notify else {
            return Ok(());
        };
        let (fd, interval) = match &n.watch {
            Some(w) => (Some(w.fd.as_fd()), limits::NOTIFY_CHECK_INTERVAL),
            None => (None, limits::IDLE_CHECK_INTERVAL),
        };
        match input.poll_input_or(interval, fd)? {
            Wake::Client => return Ok(()),
            Wake::Other => {
                std::thread::sleep(limits::IDLE_SETTLE);
                if let Some(w) = &n.watch {
                    w.drain();
                }
            }
            Wake::Timeout => {}
        }
        if started.elapsed() >= limits::IMAP_IDLE_TIMEOUT {
            return Err(Error::Bye("Disconnected for inactivity.".into()));
        }
        send_news(s, true)?;
        s.out.flush()?;
    }
}

/// The paths NOTIFY watches, for IDLE to watch too.
pub fn watched(s: &Session) -> Vec<std::path::PathBuf> {
    s.notify
        .as_ref()
        .map(|n| n.watched.clone())
        .unwrap_or_default()
}

/// During IDLE, after the selected mailbox's news: the rest.
pub fn check_others(s: &mut Session) -> Result<()> {
    send_news(s, false)
}
