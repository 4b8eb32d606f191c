//! mbox storage (placeholder while being built).

pub mod parse;
