//! The trace crate's one error type.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: at byte offset {offset}: {what}")]
    Format { path: PathBuf, offset: u64, what: String },
    #[error("{path}: unsupported link type {linktype} on interface {interface}: rstlab reads {}", crate::wire::LinkType::supported_list())]
    UnsupportedLinkType { path: PathBuf, linktype: u32, interface: u32 },
    #[error("interrupted")]
    Interrupted,
}
