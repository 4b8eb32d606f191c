//! Message structure: header fields, the MIME tree with raw offsets,
//! ENVELOPE/BODYSTRUCTURE data and decoding for SEARCH.
