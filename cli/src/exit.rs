//! Exit codes and the failures that end a run early.

/// Everything asked for was done.
pub const OK: u8 = 0;
/// Some files failed; each failure was reported.
pub const SOME_FAILED: u8 = 1;
/// Usage or configuration error: nothing was uploaded.
pub const USAGE: u8 = 2;
/// Not enough credits for the work: nothing was uploaded.
pub const NO_CREDITS: u8 = 3;

/// A run that stops before (or instead of) its work, with the exit code that says why.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    /// A usage or configuration problem (exit 2).
    pub fn config(message: impl Into<String>) -> Failure {
        Failure {
            code: USAGE,
            message: message.into(),
        }
    }

    /// Not enough credits (exit 3).
    pub fn credits(message: impl Into<String>) -> Failure {
        Failure {
            code: NO_CREDITS,
            message: message.into(),
        }
    }

    /// A library error that ended the whole call, with the code its kind deserves.
    pub fn from_error(e: &fluximage::Error) -> Failure {
        use fluximage::ErrorKind as K;
        let code = match e.kind() {
            K::QuotaExceeded => NO_CREDITS,
            // Rejected before any work was charged: the key, the plan or an option.
            K::InvalidArgument | K::Unauthorized | K::Forbidden | K::BadRequest => USAGE,
            K::Cancelled => crate::signals::exit_code().unwrap_or(130),
            _ => SOME_FAILED,
        };
        Failure {
            code,
            message: e.to_string(),
        }
    }
}
