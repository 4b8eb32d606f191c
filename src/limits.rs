//! Every size, time and count cap of the servers, each with its reason.
//!
//! A limit lives here and nowhere else, so an administrator (and a reviewer)
//! can see in one place what a hostile client or a hostile mail file can cost.

use std::time::Duration;

/// Longest IMAP command line (without literals). RFC 7162 3.2.1 asks servers
/// to accept lines of at least 8192 octets; long UID sets from clients such
/// as mbsync exceed that, so we allow 64 KiB, still small enough to buffer.
pub const IMAP_LINE_MAX: usize = 64 * 1024;

/// Largest literal in any command except APPEND. Mailbox names, search
/// strings and passwords never need more.
pub const IMAP_LITERAL_MAX: usize = 64 * 1024;

/// Largest message APPEND accepts. Big enough for any mail an MTA would
/// deliver (Postfix's default message_size_limit is 10 MB; we allow far
/// more), small enough that a client cannot fill the disk in one command.
pub const APPEND_MAX: u64 = 256 * 1024 * 1024;

/// Total bytes of one command, line plus all its literals except an APPEND
/// message: the most memory a single non-APPEND command can make us hold.
pub const IMAP_COMMAND_MAX: usize = 1024 * 1024;

/// Most messages in one APPEND (RFC 3502 MULTIAPPEND). Each large message
/// holds an open spool file until the command is done, so this bounds file
/// descriptors; no client needs more in one command.
pub const IMAP_APPEND_MESSAGES_MAX: usize = 1000;

/// Most octets read and thrown away after a command is refused for a limit
/// while the client keeps sending (a non-synchronising `{n+}` literal, the
/// rest of an over-long line). Costs time, never memory; the same bound as
/// an APPEND we would accept. Beyond it the connection is closed.
pub const IMAP_DISCARD_MAX: u64 = APPEND_MAX;

/// Deepest nesting of parenthesised lists (SEARCH keys, FETCH BODY section
/// lists). Parsers recurse; this bounds the stack.
pub const IMAP_NESTING_MAX: usize = 32;

/// Syntax errors in a row before the session is ended with BYE: a client
/// this confused is not an IMAP client (or is attacking the parser).
pub const IMAP_BAD_COMMANDS_MAX: u32 = 20;

/// RFC 3501 5.4: the autologout timer must be at least 30 minutes once
/// authenticated.
pub const IMAP_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Before login a client has no reason to sit idle; free the process sooner.
pub const IMAP_LOGIN_TIMEOUT: Duration = Duration::from_secs(60);

/// Longest POP3 command line. RFC 2449 4: 255 octets including CRLF.
pub const POP3_LINE_MAX: usize = 255;

/// RFC 1939 3: the inactivity autologout timer must be at least 10 minutes.
pub const POP3_IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// Erroneous POP3 commands before the session is closed.
pub const POP3_BAD_COMMANDS_MAX: u32 = 20;

/// Most octets of one over-long POP3 line read and thrown away before the
/// connection is closed: a line that long is not a POP3 client's. Costs
/// time, never memory.
pub const POP3_DISCARD_MAX: usize = 64 * 1024;

/// Longest wait for the maildrop lock another POP3 session holds. A session
/// that just sent QUIT holds it while it deletes; a client that reconnects
/// at once should wait for that, not get `[IN-USE]`. A session still in
/// TRANSACTION holds it for minutes: past this the answer is `[IN-USE]`.
pub const POP3_LOCK_WAIT: Duration = Duration::from_secs(2);

/// Largest header block of one MIME part kept in memory while parsing
/// structure; longer header blocks are cut (the bytes are still served
/// verbatim by BODY[]).
pub const MIME_HEADER_MAX: usize = 256 * 1024;

/// A Maildir look that finds more new files than this leaves their
/// INTERNALDATEs (mtimes) to be read when first asked for: an lstat of
/// each was a sixth of the first open of 100,000 messages. Fewer (a
/// delivery since the last look) are dated at once, as a date read later
/// costs a commit (a lock and an fdatasync) of its own.
pub const MAILDIR_DATES_LATER_FROM: usize = 1000;

/// What `mime::header::read_block` reads first (then 8 KB at a time):
/// most header blocks are shorter, and a FETCH ENVELOPE of many messages
/// should copy little more than their headers out of the page cache.
pub const HEADER_READ_FIRST: usize = 2048;

/// The window through which the MIME parser reads a large message file
/// (`mime::source::FileSource`): the structure of a message of any size is
/// found with this much of it in memory (issue 20). Big enough that a
/// header block or a boundary line rarely needs a second read; a longer
/// one is read whole all the same. 256 KB until the mbox sessions of a 1 GB
/// mbox came within 0.3 MB of Dovecot's: 64 KB takes 0.2 MB off a FETCH of
/// a big message, at the same speed.
pub const MIME_WINDOW: usize = 64 * 1024;

/// How many blocks the line-end index of one message has at most
/// (`mime::crlf::SizeIndex`, 16 octets a block), while a block stays
/// within 4 KiB and `MIME_WINDOW`: 64 KB for any message up to 256 MB
/// (`APPEND_MAX`; a bigger one delivered by the MTA has more blocks, 256 KB
/// of them at 1 GB), and a part's size costs reading at most two blocks.
pub const SIZE_INDEX_BLOCKS: usize = 4096;

/// The buffer a big mbox message is copied out of the mbox with (pread,
/// not the memory map, so its pages never count in the session's memory),
/// and an in-place rewrite's journal copied into it.
pub const MBOX_COPY_CHUNK: usize = 64 << 10;

/// How far a pass over a memory-mapped mbox goes before it lets the pages
/// behind it go (`Map::release_before`): the session's resident memory
/// stays this order of size (plus the kernel's read-ahead), not the file's.
pub const MBOX_RELEASE_STEP: usize = 256 << 10;

/// A quoted-printable line longer than this is decoded in SEARCH without
/// waiting for its end (RFC 2045 6.7: lines are at most 76 octets), so a
/// hostile part without line ends costs this much memory, not its size.
pub const QP_LINE_MAX: usize = 64 << 10;

/// Deepest MIME nesting parsed (multipart inside message/rfc822 inside ...);
/// deeper parts are treated as opaque text/plain, as Dovecot does.
pub const MIME_DEPTH_MAX: usize = 100;

/// Most MIME parts parsed in one message; the rest is opaque.
pub const MIME_PARTS_MAX: usize = 10_000;

/// Most keywords one mailbox may define. Maildir file names can carry 26
/// (a-z); more are kept in the index only. Beyond this, STORE of a new
/// keyword gets NO and PERMANENTFLAGS drops `\*`.
pub const KEYWORDS_MAX: usize = 256;

/// Longest keyword (an IMAP atom).
pub const KEYWORD_LEN_MAX: usize = 128;

/// Longest mailbox name in octets (wire form). Each component becomes part of
/// a file name, which Linux caps at 255 octets.
pub const MAILBOX_NAME_MAX: usize = 240;

/// Deepest mailbox hierarchy.
pub const MAILBOX_DEPTH_MAX: usize = 16;

/// Whole-message FETCH (BODY[], RFC822) of a message larger than this is
/// streamed from the file in two passes (count, then send) instead of being
/// read into memory: small messages are faster read once, large ones must
/// not cost their size in memory (DESIGN.md 5).
pub const FETCH_STREAM_ABOVE: u64 = 1024 * 1024;

/// RFC 8970 PREVIEW: characters of text in a preview (the RFC's maximum
/// is 256; 200 is what a client shows in a message list, as Dovecot).
pub const PREVIEW_CHARS: usize = 200;

/// Octets of a text part's body read for its preview, whatever its size:
/// enough for `PREVIEW_CHARS` after HTML markup in nearly all mail, and a
/// bound on the work for one message.
pub const PREVIEW_SCAN: usize = 16 * 1024;

/// Client input buffer. Bigger than any command line needs at once (the
/// framer accumulates), small enough to hand over whole after login.
pub const INPUT_BUFFER: usize = 16 * 1024;

/// Buffer used to stream message bodies to the client: memory does not grow
/// with message size.
pub const STREAM_BUFFER: usize = 64 * 1024;

/// How many messages a parse of an mbox gathers in one piece before they
/// are put in one array of exactly their number (about 190 KB a piece):
/// small enough that the pieces cost little beside the array, large
/// enough that a million messages make only a thousand of them.
pub const MBOX_PARSE_PIECE: usize = 1024;

/// How far into a message's body an mbox is read through its memory map:
/// past it a parse looks for the message's end, counts its size and a
/// rewrite copies it with pread(2), a `MBOX_COPY_CHUNK` at a time, so that
/// a big message is never mapped (a mapped page can bring a large
/// page-cache folio, several MB on Linux 6: issue 20); the many small
/// messages of a big mbox are read in place. At 1 MB the first session on
/// a 200 MB message peaked at 5.6 MB, at 64 KB at 4.5 (Dovecot 5.1).
pub const MBOX_SCAN_MAPPED: usize = 64 * 1024;

/// The window through which an mbox parse cache is read and written: a
/// cache of 50,000 messages is about 5 MB, which a session must not hold
/// whole beside the entries it becomes (issue 20).
pub const MBOX_CACHE_WINDOW: usize = 64 * 1024;

/// Entries of an mbox session read from its parse cache at a time (40
/// octets a record: 80 KB a read, 64 KB held). The session holds one
/// window and the first UID of each (4 octets per 2048 messages); a search
/// by UID reads one window. Each pass over all messages (the open's
/// checks, the view, FETCH 1:*) reads every window once: at 256 records a
/// window the 1,300 reads of a re-open of 50,000 messages took half its
/// 29 ms.
pub const MBOX_ENTRIES_WINDOW: usize = 2048;

/// Largest index file we will read. An index holds ~40 bytes per message;
/// this is room for millions of messages while refusing an absurd file.
pub const INDEX_FILE_MAX: u64 = 512 * 1024 * 1024;

/// The index's transaction log is folded into a new main file when it
/// grows past half the main file's size, but never below the first bound
/// (a small mailbox would otherwise rewrite its main file at every
/// change) nor above the second (every session replays the log at open:
/// 1 MiB is about 20,000 flag changes, a few milliseconds).
pub const INDEX_LOG_FOLD_MIN: u64 = 64 * 1024;

/// Where modseqs start in a mailbox imported from Dovecot's or Courier's
/// files (which keep UIDs but not modseqs): above any modseq a client of
/// the server before us can hold (2^40 changes is more than a mailbox
/// sees in its life), so that its CHANGEDSINCE or QRESYNC with an old
/// modseq gets every message and every expunge, never nothing (RFC 7162:
/// reporting more than changed is allowed, less is not). Far below the
/// 2^63 modseqs may reach.
pub const IMPORTED_MODSEQ_FROM: u64 = 1 << 40;
pub const INDEX_LOG_FOLD_MAX: u64 = 1024 * 1024;

/// Longest index-log record payload we read: no record we write is longer
/// (a file name of 255 octets, 256 keyword positions), so a longer length
/// field is damage.
pub const INDEX_LOG_RECORD_MAX: usize = 4096;

/// Most messages in one mailbox. UIDs are 32-bit; this keeps the in-memory
/// view bounded.
pub const MESSAGES_MAX: usize = 10_000_000;

/// Maildir tmp/ files older than this are leftovers of a crashed delivery
/// (the Maildir spec says 36 hours) and may be removed.
pub const MAILDIR_TMP_STALE: Duration = Duration::from_secs(36 * 60 * 60);

/// Longest wait for a mailbox or store lock held by another session. Index
/// updates take milliseconds; a lock held longer than this belongs to a hung
/// or very slow process, and the client gets `[INUSE]` instead of a hang.
pub const LOCK_WAIT_MAX: Duration = Duration::from_secs(10);

/// Largest small control file we read whole (`dovecot-keywords`,
/// `subscriptions`): real ones are a few KiB; another program's garbage must
/// not make us allocate without bound.
pub const CONTROL_FILE_MAX: u64 = 1024 * 1024;

/// The special-use file (`store/special_use.rs`): a line per mailbox that
/// was given a use; read whole at LIST. Past this it is not read (no uses
/// kept, names still recognised).
pub const SPECIAL_USE_FILE_MAX: u64 = 64 * 1024;

/// The URLAUTH key file (`store/urlauth.rs`): a line of about 100 octets
/// per mailbox that has a key; read whole at GENURLAUTH and URLFETCH. Past
/// this it is not read (no keys: every URL fails, no mail is lost).
pub const URLAUTH_FILE_MAX: u64 = 1024 * 1024;

/// A mailbox's MAILBOXID file (`store/objectid.rs`): one RFC 8474 objectid
/// (at most 255 octets) and a line end. Past this it is damage, not an id.
pub const MAILBOXID_FILE_MAX: u64 = 256;

/// Most mailbox directories LIST reports; the rest are ignored (and logged),
/// so a tree with millions of folders cannot exhaust memory.
pub const MAILBOXES_MAX: usize = 100_000;

/// How often IDLE looks at the mailbox for changes by others: short enough
/// that new mail shows within seconds, long enough that an idling client
/// costs nothing (a look is two directory stats when nothing changed).
pub const IDLE_CHECK_INTERVAL: Duration = Duration::from_secs(2);

/// With NOTIFY set and inotify watching, how often a session still looks
/// for news no watch saw (a folder nested in an mbox tree, a file system
/// without inotify events): rarely, as each look reads every watched
/// mailbox's status.
pub const NOTIFY_CHECK_INTERVAL: Duration = Duration::from_secs(60);

/// How long IDLE waits after a watched file changed before it looks: the
/// changes of one delivery or one session's commit (a rename, then an
/// index log append) are taken in one look, and new mail still shows
/// well within 100 ms.
pub const IDLE_SETTLE: Duration = Duration::from_millis(20);

/// How long a Maildir directory's modification time must have stood before
/// an unchanged time is taken to mean "nothing changed" and a sync skips the
/// scan. File systems tick in milliseconds (ext4, tmpfs) or seconds (some
/// network file systems); a change within the same tick as the last one
/// would otherwise hide behind an unchanged time.
pub const MAILDIR_STAMP_SETTLE: Duration = Duration::from_secs(1);

/// Messages taken from gss_display_status for one status code, for the
/// log line of a GSSAPI failure: MIT gives one or two; a library that never
/// clears its message context must not keep the parent in a loop.
pub const GSS_STATUS_MESSAGES_MAX: usize = 4;

/// Largest single client message in a SASL exchange, after base64 decoding.
/// The biggest legitimate one is an OAUTHBEARER or XOAUTH2 message: a JWT
/// bearer token with its framing, which from some identity providers
/// (Microsoft Entra with group claims) passes 4 KB, and a GSSAPI token:
/// a Kerberos AP-REQ is 1-2 KB, with an Active Directory PAC of many
/// groups about 12 KB (Windows' own default MaxTokenSize); a PLAIN message
/// at its field limits below is 1.5 KB, a SCRAM client-final about 400
/// octets, an EXTERNAL message an identity. Anything beyond is not a
/// login attempt.
/// Base64 of it fits an IMAP line (`IMAP_LINE_MAX`).
pub const SASL_MESSAGE_MAX: usize = 16 * 1024;

/// Longest user name (authentication or authorisation identity) in octets.
/// RFC 4616 2 requires servers to take at least 255 octets; virtual users
/// are mail addresses, which RFC 5321 4.5.3.1.3 caps at 254 octets.
pub const SASL_USER_MAX: usize = 255;

/// Longest password in octets. RFC 4616 2 asks for at least 255; long
/// passphrases exceed that, and the privileged side hashes what it gets, so
/// a bound keeps a hostile client from making it hash megabytes.
pub const SASL_PASSWORD_MAX: usize = 1024;

/// Longest ANONYMOUS trace string in characters: RFC 4505 2 fixes 255.
pub const SASL_TRACE_MAX: usize = 255;

/// PBKDF2 iteration count offered in SCRAM-SHA-1 and -256 and the only one the
/// privileged side accepts. RFC 7677 4 says at least 4096; each login costs
/// the privileged side this many HMAC-SHA-256 rounds (a few milliseconds),
/// and a compromised login process must not be able to ask for more.
pub const SCRAM_ITERATIONS: u32 = 4096;

/// Largest sasldb file we read. The file is read whole into memory for each
/// login; a Cyrus sasldb costs well under 1 KiB per user, so this allows
/// tens of thousands of users while a wrong `sasldb_path` (a disk image, a
/// log) cannot make the login process allocate without bound.
pub const SASLDB_FILE_MAX: u64 = 64 * 1024 * 1024;

/// Most reads of the sasldb file for one lookup: it is read again when it
/// looks corrupt, and once more to confirm a "no such user". `saslpasswd2`
/// rewrites the file in place, page by page, with no lock a reader could
/// take; a read in the middle sees a mix of old and new pages. An update
/// takes milliseconds, so a few tries get a consistent copy, and a file that
/// is really damaged fails after a bounded wait.
pub const SASLDB_READ_TRIES: u32 = 5;

/// Pause before re-reading a sasldb that looked corrupt, doubled each try
/// (20 + 40 + 80 + 160 ms at most in all): longer than an update takes.
pub const SASLDB_RETRY_DELAY: Duration = Duration::from_millis(20);

/// Largest message on the socket between the login process and its
/// privileged parent: a request holds a user name and a password or SASL
/// proof (each far below this), a handover the client's unread input, at
/// most one input buffer.
pub const CHANNEL_MESSAGE_MAX: usize = 64 * 1024;

/// Largest mailbox cache file (ENVELOPE/BODYSTRUCTURE per message, a few
/// hundred octets each): room for a million messages; past it the cache is
/// started anew rather than read into memory.
pub const CACHE_FILE_MAX: u64 = 512 * 1024 * 1024;

/// Spaces kept at the end of a message's `X-Keywords:` line in an mbox
/// when its status lines are first written: room for `Status: RO`, all of
/// `X-Status` and a keyword or two, so that a later flag change rewrites
/// those lines in place instead of moving the rest of the file.
pub const MBOX_STATUS_PADDING: usize = 48;

/// The least an mbox rewrite reads of the old file at a time (pread) to
/// compare what it writes with (`inplace::Diverge`): a page, so that the
/// small writes of one message's header share one read, while a STORE on
/// a big mbox reads a page or two around the lines it changes.
pub const MBOX_COMPARE_READ_MIN: usize = 4096;

/// Two runs of changed octets of an mbox rewrite closer than this are
/// journaled as one, the equal octets between them too: a run costs 16
/// octets of offset and length in the journal.
pub const MBOX_JOURNAL_RUN_GAP: u64 = 64;

/// The mbox parse cache's delta file (flag changes in place) holds up to
/// this many messages, or a sixteenth of the mailbox if more, before the
/// cache is written whole again: past that, reading the delta at each
/// open costs about what writing the cache does.
pub const MBOX_CACHE_DELTA_MIN: usize = 256;

/// A cache file is compacted (rewritten with the items of messages that
/// are still there) when at least half of it is items of expunged
/// messages and it is at least this large: below it, the dead items cost
/// less than the rewrite.
pub const CACHE_COMPACT_MIN: u64 = 1024 * 1024;

/// A session appends what it computed for the cache once this much waits
/// (and at the end of each command): a first `FETCH 1:* ENVELOPE` of a big
/// mailbox holds this much, not every ENVELOPE.
pub const CACHE_FLUSH_EVERY: usize = 256 * 1024;

/// Longest record header line of the cache file ("<uid> <kind> <length>"):
/// anything longer is damage, and the good part ends before it.
pub const CACHE_RECORD_HEADER_MAX: u64 = 64;

/// Largest single cached item. An ENVELOPE or BODYSTRUCTURE beyond this
/// (thousands of parts or recipients) is recomputed each time instead.
pub const CACHE_ITEM_MAX: usize = 256 * 1024;

/// A dotlock (`mbox.lock`) older than this is taken to be left by a crashed
/// process and is removed. Delivery and our rewrites hold one for seconds;
/// five minutes is what procmail and liblockfile also use.
pub const MBOX_DOTLOCK_STALE: Duration = Duration::from_secs(5 * 60);

/// Longest `From ` separator line examined for the envelope date; real ones
/// are under 200 octets, and a longer line is body text.
pub const MBOX_FROM_LINE_MAX: usize = 1000;

/// Largest mbox file we map and parse. Beyond this the mailbox is refused
/// (`[LIMIT]`) rather than letting one file exhaust the address space on
/// 32-bit systems or take minutes per sync.
pub const MBOX_FILE_MAX: u64 = 16 * 1024 * 1024 * 1024;

/// mbox files at least this large get a cache of their parse
/// (`mailaccess-mbox-index`): below it, parsing costs less than reading and
/// writing the cache.
pub const MBOX_CACHE_MIN: u64 = 1024 * 1024;

/// Largest mbox message copied into memory when a client reads it; bigger
/// ones are copied (under the lock) to an anonymous temporary file, so
/// memory does not grow with message size.
pub const MBOX_MESSAGE_MEMORY_MAX: u64 = 1024 * 1024;

/// Pauses between tries of a lock held by another process: short at first
/// (index updates take milliseconds), doubling up to the longer one so a
/// waiting session does not spin; the whole wait is bounded by the caller.
/// The longer pause stays short: flock(2) tries are not queued, so with
/// many sessions waiting, one that sleeps long misses every moment the lock
/// is free and starves into `[INUSE]` (50 sessions on one mailbox did, with
/// 100 ms); a try is one system call.
pub const LOCK_PAUSE_MIN: Duration = Duration::from_millis(1);
pub const LOCK_PAUSE_MAX: Duration = Duration::from_millis(10);

/// Searches one session keeps up to date (RFC 5267 `RETURN (UPDATE)`):
/// each runs again whenever the mailbox changes, so their number bounds
/// that work; a client past it is told `NOUPDATE` and gets a plain answer.
pub const SEARCH_CONTEXTS_MAX: usize = 8;

/// Octets of a SORT value kept in the sort index (a string's casemap key
/// is cut there): values that agree that far sort as equal, in mailbox
/// order. Base subjects and addresses are far shorter.
pub const SORT_VALUE_MAX: usize = 200;

/// Largest sort index file read or written: 100,000 messages of values
/// at `SORT_VALUE_MAX` stay under it; past it, SORT works without one.
pub const SORT_INDEX_FILE_MAX: u64 = 32 * 1024 * 1024;

/// SORT places each message's rank through a table by UID (4 octets a UID
/// between the view's first and last) when the UIDs span at most this many
/// times the message count, and by binary search otherwise: a mailbox with
/// more expunged than kept UIDs costs no more than twice the view.
pub const SORT_UID_TABLE_SPAN: usize = 2;

/// A Maildir++ `maildirsize` grown past this many octets is counted again
/// from the messages and rewritten, as the Maildir++ rules have every
/// program do (5120 there): its lines of changes stay few.
pub const MAILDIRSIZE_RECOUNT: u64 = 5120;

/// Largest `maildirsize` read whole; a larger one is damage: its first
/// line is kept and the rest counted again.
pub const MAILDIRSIZE_FILE_MAX: u64 = 1024 * 1024;

/// The most of an oversized `maildirsize` read for its first line, the
/// limits (`NNNS,NNNC`: two 20-digit numbers and their units fit many times).
pub const MAILDIRSIZE_LIMITS_LINE_MAX: u64 = 256;

/// Longest string sent as a quoted string; longer ones go as literals,
/// as some clients cap the length of quoted strings.
pub const QUOTED_MAX: usize = 1024;

/// `--listen` (development, demo): further tries, 20 ms apart, of a
/// connection's process whose fork or exec failed for a moment.
pub const LISTEN_SPAWN_TRIES: u32 = 3;

/// A PROXY protocol version 1 line is at most 107 octets, `\r\n`
/// included (HAProxy's specification, 2.1).
pub const PROXY_V1_MAX: usize = 107;

/// Octets after a version 2 header's fixed 16 that we take: the longest
/// addresses (216, AF_UNIX) and the TLVs proxies add (ALPN, TLS version
/// and cipher, a unique id), well within; more is refused.
pub const PROXY_V2_BODY_MAX: usize = 2048;

/// How long a trusted proxy may take to send its PROXY header: it sends
/// it at once on connecting, so a longer wait is a stuck connection.
pub const PROXY_HEADER_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Largest `oauth2_jwks` file read: a JWKS holds a few public keys (a
/// provider's has about ten, 5 KiB); past this it is not one.
pub const OAUTH_JWKS_MAX: u64 = 256 * 1024;

/// How far a token's `exp` and `nbf` may be off the clock: the issuer's
/// and this host's clocks differ by seconds, not minutes (RFC 7519 4.1.4
/// allows "some small leeway").
pub const OAUTH_CLOCK_SKEW: Duration = Duration::from_secs(60);

/// Largest `tls_client_user = map:` file: a line of 64 hexadecimal digits
/// and a name per certificate; a megabyte is thousands of users.
pub const CLIENT_MAP_MAX: u64 = 1024 * 1024;

const _: () = assert!(SASL_MESSAGE_MAX.div_ceil(3) * 4 + 2 < IMAP_LINE_MAX);
