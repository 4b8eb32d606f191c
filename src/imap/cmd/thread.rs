//! THREAD and UID THREAD (RFC 5256 3 and 4): ORDEREDSUBJECT and
//! REFERENCES, on the messages a search finds (`search::search`).
//!
//! Each message's base subject (and whether it is a reply or forward),
//! sent date (the arrival time when it has none) and, for REFERENCES, its
//! Message-ID, References and In-Reply-To come from its header block, read
//! once. The trees are arenas of containers; the answer is written as RFC
//! 5256 5's `thread-list`s.

use std::collections::HashMap;

use crate::imap::command::ThreadAlgorithm;
use crate::store::objectid;
use crate::store::{Mailbox, StoreError};

/// RFC 8474 THREADID of message `index`: the messages of one conversation
/// share it, whatever mailbox they are in. It is made from the
/// conversation's first Message-ID: the first of the message's
/// References (RFC 5322 3.6.4 keeps it when a long References is cut),
/// else its In-Reply-To, else its own Message-ID; so it needs no state
/// and never changes. A reply that names only its parent in In-Reply-To
/// starts from the parent, not the root. A message with no Message-ID and
/// no references is a thread of its own, named from its EMAILID.
pub fn thread_id(mailbox: &mut dyn Mailbox, index: usize) -> Result<String, StoreError> {
    let m = mailbox.message(index);
    let k = super::sort::keys(mailbox, index, &m)?;
    Ok(match k.references.first().or(k.id.as_ref()) {
        Some(root) => objectid::digest_id('T', root),
        None => objectid::digest_id('T', objectid::email_id(mailbox, index)?.as_bytes()),
    })
}

/// What threading needs of one message.
struct Msg {
    /// Its number in the answer (sequence number or UID).
    number: u32,
    /// Base subject under `i;unicode-casemap`.
    subject: Vec<u8>,
    reply: bool,
    date: i64,
    id: Option<Vec<u8>>,
    references: Vec<Vec<u8>>,
}

/// A node of a thread: a message, or a dummy standing for one that was
/// referred to but is not among those threaded.
#[derive(Default)]
struct Node {
    msg: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

/// The `* THREAD` answer for the messages at `indexes` of `mailbox` (in
/// mailbox order), numbered by `numbers`.
pub fn thread(
    mailbox: &mut dyn Mailbox,
    indexes: &[usize],
    numbers: &[u32],
    algorithm: ThreadAlgorithm,
) -> Result<Vec<u8>, StoreError> {
    let mut msgs = Vec::with_capacity(indexes.len());
    for (&i, &number) in indexes.iter().zip(numbers) {
        let m = mailbox.message(i);
        let k = super::sort::keys(mailbox, i, &m)?;
        msgs.push(Msg {
            number,
            subject: super::sort::fold(k.subject.as_bytes()),
            reply: k.reply,
            date: k.sent_date(&*mailbox, i),
            id: k.id,
            references: k.references,
        });
    }
    mailbox.flush_cache();
    let (nodes, roots) = match algorithm {
        ThreadAlgorithm::OrderedSubject => ordered_subject(&msgs),
        ThreadAlgorithm::References => references(&msgs, true),
        ThreadAlgorithm::Refs => references(&msgs, false),
    };
    let mut out = b"* THREAD".to_vec();
    if !roots.is_empty() {
        out.push(b' ');
    }
    for r in roots {
        write_list(&nodes, &msgs, r, &mut out);
    }
    out.extend_from_slice(b"\r\n");
    Ok(out)
}

/// RFC 5256 3, ORDEREDSUBJECT: messages of one base subject make a
/// thread, the first (by sent date) its root and the others its children;
/// threads in the order of their first messages.
fn ordered_subject(msgs: &[Msg]) -> (Vec<Node>, Vec<usize>) {
    let mut order: Vec<usize> = (0..msgs.len()).collect();
    order.sort_by(|&a, &b| {
        (&msgs[a].subject, msgs[a].date, a).cmp(&(&msgs[b].subject, msgs[b].date, b))
    });
    let mut nodes: Vec<Node> = (0..msgs.len())
        .map(|m| Node {
            msg: Some(m),
            ..Node::default()
        })
        .collect();
    let mut roots: Vec<usize> = Vec::new();
    for &m in &order {
        match roots.last() {
            Some(&r) if msgs[r].subject == msgs[m].subject => {
                nodes[r].children.push(m);
                nodes[m].parent = Some(r);
            }
            _ => roots.push(m),
        }
    }
    roots.sort_by_key(|&r| (msgs[r].date, r));
    (nodes, roots)
}

/// Whether `a` is `b` or one of its ancestors.
fn is_ancestor(nodes: &[Node], a: usize, b: usize) -> bool {
    let mut at = Some(b);
    while let Some(n) = at {
        if n == a {
            return true;
        }
        at = nodes[n].parent;
    }
    false
}

fn unlink(nodes: &mut [Node], child: usize) {
    if let Some(p) = nodes[child].parent.take() {
        nodes[p].children.retain(|&c| c != child);
    }
}

fn link(nodes: &mut [Node], parent: usize, child: usize) {
    nodes[child].parent = Some(parent);
    nodes[parent].children.push(child);
}

/// RFC 5256 4, REFERENCES (after Jamie Zawinski's algorithm).
/// Without `gather`, REFS: no step (5), and the threads in the order of
/// their newest message.
fn references<'a>(msgs: &'a [Msg], gather: bool) -> (Vec<Node>, Vec<usize>) {
    let mut nodes: Vec<Node> = Vec::new();
    let mut by_id: HashMap<&[u8], usize> = HashMap::new();
    let mut node_for = |nodes: &mut Vec<Node>, id: &'a [u8]| -> usize {
        *by_id.entry(id).or_insert_with(|| {
            nodes.push(Node::default());
            nodes.len() - 1
        })
    };
    // (1) Links from the References of each message, in mailbox order.
    for (k, m) in msgs.iter().enumerate() {
        // A message without an ID, or with one an earlier message has,
        // gets a node of its own.
        let me = match m.id.as_deref().map(|id| node_for(&mut nodes, id)) {
            Some(n) if nodes[n].msg.is_none() => n,
            _ => {
                nodes.push(Node::default());
                nodes.len() - 1
            }
        };
        nodes[me].msg = Some(k);
        let refs: Vec<usize> = m
            .references
            .iter()
            .map(|r| node_for(&mut nodes, r))
            .collect();
        for w in refs.windows(2) {
            let (parent, child) = (w[0], w[1]);
            if nodes[child].parent.is_none() && !is_ancestor(&nodes, child, parent) {
                link(&mut nodes, parent, child);
            }
        }
        // (1B) The last reference is the parent, whatever was there.
        match refs.last() {
            Some(&parent) if !is_ancestor(&nodes, me, parent) => {
                if nodes[me].parent != Some(parent) {
                    unlink(&mut nodes, me);
                    link(&mut nodes, parent, me);
                }
            }
            Some(_) => {}
            None => unlink(&mut nodes, me),
        }
    }
    // (2) The roots, (4) dummies pruned.
    let roots: Vec<usize> = (0..nodes.len())
        .filter(|&n| nodes[n].parent.is_none())
        .collect();
    let mut roots = prune(&mut nodes, roots, true);
    for &r in &roots {
        nodes[r].parent = None;
    }
    // (5) Roots of one base subject gathered.
    if !gather {
        let mut roots = sort_siblings(&mut nodes, msgs, roots);
        roots.sort_by_key(|&r| (newest(&nodes, msgs, r), first_message(&nodes, r)));
        return (nodes, roots);
    }
    let subject_of = |nodes: &[Node], n: usize| -> Option<usize> {
        nodes[n]
            .msg
            .or_else(|| nodes[n].children.first().and_then(|&c| nodes[c].msg))
    };
    let mut table: HashMap<Vec<u8>, usize> = HashMap::new();
    for &r in &roots {
        let Some(m) = subject_of(&nodes, r) else {
            continue;
        };
        if msgs[m].subject.is_empty() {
            continue;
        }
        let replace = match table.get(&msgs[m].subject) {
            None => true,
            Some(&old) => {
                let old_dummy = nodes[old].msg.is_none();
                let old_reply = nodes[old].msg.is_some_and(|o| msgs[o].reply);
                (nodes[r].msg.is_none() && !old_dummy)
                    || (old_reply && nodes[r].msg.is_some_and(|x| !msgs[x].reply))
            }
        };
        if replace {
            table.insert(msgs[m].subject.clone(), r);
        }
    }
    let mut gone = vec![false; nodes.len()];
    for r in roots.clone() {
        if gone[r] {
            continue;
        }
        let Some(m) = subject_of(&nodes, r) else {
            continue;
        };
        let Some(&t) = table.get(&msgs[m].subject) else {
            continue;
        };
        if t == r || gone[t] {
            continue;
        }
        let (r_dummy, t_dummy) = (nodes[r].msg.is_none(), nodes[t].msg.is_none());
        let reply = |n: usize| nodes[n].msg.is_some_and(|x| msgs[x].reply);
        if r_dummy && t_dummy {
            for c in std::mem::take(&mut nodes[r].children) {
                link(&mut nodes, t, c);
            }
            gone[r] = true;
        } else if t_dummy {
            link(&mut nodes, t, r);
            gone[r] = true;
        } else if r_dummy {
            link(&mut nodes, r, t);
            gone[t] = true;
            table.insert(msgs[m].subject.clone(), r);
        } else if !reply(t) && reply(r) {
            link(&mut nodes, t, r);
            gone[r] = true;
        } else if reply(t) && !reply(r) {
            link(&mut nodes, r, t);
            gone[t] = true;
            table.insert(msgs[m].subject.clone(), r);
        } else {
            nodes.push(Node::default());
            let d = nodes.len() - 1;
            gone.push(false);
            link(&mut nodes, d, t);
            link(&mut nodes, d, r);
            gone[t] = true;
            gone[r] = true;
            roots.push(d);
            table.insert(msgs[m].subject.clone(), d);
        }
    }
    roots.retain(|&r| !gone[r]);
    // (6) Siblings by sent date, a dummy by its first child's.
    let roots = sort_siblings(&mut nodes, msgs, roots);
    (nodes, roots)
}

/// RFC 5256 4 (4): dummies without children go; a dummy's children take
/// its place, except that several children of a dummy at the root stay
/// under it.
fn prune(nodes: &mut [Node], list: Vec<usize>, at_root: bool) -> Vec<usize> {
    let mut out = Vec::with_capacity(list.len());
    for n in list {
        let kids = std::mem::take(&mut nodes[n].children);
        let kids = prune(nodes, kids, false);
        for &k in &kids {
            nodes[k].parent = Some(n);
        }
        if nodes[n].msg.is_none() && (!at_root || kids.len() <= 1) {
            out.extend(kids);
            continue;
        }
        nodes[n].children = kids;
        out.push(n);
    }
    out
}

/// Sorts every list of siblings under `list` and `list` itself by sent
/// date (ties in mailbox order); returns `list` sorted.
fn sort_siblings(nodes: &mut [Node], msgs: &[Msg], mut list: Vec<usize>) -> Vec<usize> {
    for &n in &list {
        let kids = std::mem::take(&mut nodes[n].children);
        nodes[n].children = sort_siblings(nodes, msgs, kids);
    }
    list.sort_by_key(|&n| {
        let first = first_message(nodes, n);
        (first.map(|m| msgs[m].date), first)
    });
    list
}

/// The newest sent date under `n` (itself included).
fn newest(nodes: &[Node], msgs: &[Msg], n: usize) -> Option<i64> {
    let own = nodes[n].msg.map(|m| msgs[m].date);
    nodes[n]
        .children
        .iter()
        .map(|&c| newest(nodes, msgs, c))
        .fold(own, |a, b| a.max(b))
}

/// The message of `n`, or of its first child, recursively.
fn first_message(nodes: &[Node], n: usize) -> Option<usize> {
    nodes[n].msg.or_else(|| {
        nodes[n]
            .children
            .first()
            .and_then(|&c| first_message(nodes, c))
    })
}

/// RFC 5256 5: `thread-list = "(" (thread-members / thread-nested) ")"`.
fn write_list(nodes: &[Node], msgs: &[Msg], n: usize, out: &mut Vec<u8>) {
    out.push(b'(');
    write_members(nodes, msgs, n, out);
    out.push(b')');
}

/// A node's number, then its only child's members, or its children's
/// lists.
fn write_members(nodes: &[Node], msgs: &[Msg], n: usize, out: &mut Vec<u8>) {
    if let Some(m) = nodes[n].msg {
        out.extend_from_slice(msgs[m].number.to_string().as_bytes());
    }
    match nodes[n].children.as_slice() {
        [] => {}
        [only] => {
            if nodes[n].msg.is_some() {
                out.push(b' ');
            }
            write_members(nodes, msgs, *only, out);
        }
        many => {
            if nodes[n].msg.is_some() {
                out.push(b' ');
            }
            for &c in many {
                write_list(nodes, msgs, c, out);
            }
        }
    }
}
