//! Writing to stdout. A reader that goes away (`envv ls | head -1`) is
//! not an error to report: envv stops quietly with the status a process
//! killed by SIGPIPE shows (141), where `println!` would panic.

use std::fmt;
use std::io::{self, Write};

use crate::error::{Failure, exit};

/// `println!` that returns a [`Failure`] instead of panicking.
macro_rules! outln {
    () => {
        $crate::out::write(format_args!("\n"))?
    };
    ($($arg:tt)*) => {
        $crate::out::write(format_args!("{}\n", format_args!($($arg)*)))?
    };
}
pub(crate) use outln;

/// Writes formatted text to stdout and flushes it.
pub fn write(args: fmt::Arguments<'_>) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    out.write_fmt(args)
        .and_then(|()| out.flush())
        .map_err(failed)
}

/// Writes bytes to stdout and flushes them.
pub fn bytes(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(failed)
}

/// What a failed write to stdout means to the user.
pub fn failed(e: io::Error) -> Failure {
    if e.kind() == io::ErrorKind::BrokenPipe {
        // The reader has all it wanted; nothing to say.
        return Failure::new(exit::CLOSED_PIPE, "");
    }
    Failure::new(exit::ERROR, format!("could not write to stdout: {e}"))
}
