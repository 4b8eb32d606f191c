//! Message structure: header fields, the MIME tree with raw offsets,
//! ENVELOPE/BODYSTRUCTURE data and decoding for SEARCH.

/// RFC 3501 6.4.5 `section`: which part of a message BODY[...] names.
/// `part` is the list of part numbers (empty = the whole message); `text`
/// the optional specifier after them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Section {
    pub part: Vec<u32>,
    pub text: Option<SectionText>,
}

/// RFC 3501 9 `section-msgtext` / `section-text`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SectionText {
    /// `HEADER`
    Header,
    /// `HEADER.FIELDS (...)` (`not` = false) or `HEADER.FIELDS.NOT (...)`.
    /// Field names as the client gave them; matched case-insensitively.
    HeaderFields { not: bool, fields: Vec<String> },
    /// `TEXT`
    Text,
    /// `MIME` (only after a part number)
    Mime,
}
