//! The application's one error type for what a person asked of it (open a case from ignored
//! mail, send a receipt after all, set a new date, purge): refused for a reason said in the
//! operator's words, or failed underneath with the cause kept as `source()`.

use crate::mail::outgoing::ComposeError;
use crate::store::StoreError;

/// Why a request to the application did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Refused for a reason a person can act on (no such case, the receipt went already, a date
    /// passed, …), worded for the command line and the web page alike.
    #[error("{0}")]
    Refused(String),
    /// The store could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A mail the request needs could not be built.
    #[error(transparent)]
    Compose(#[from] ComposeError),
}

impl From<crate::app::edit::EditError> for AppError {
    fn from(e: crate::app::edit::EditError) -> Self {
        match e {
            crate::app::edit::EditError::Store(e) => AppError::Store(e),
            crate::app::edit::EditError::Refused(why) => AppError::Refused(why),
        }
    }
}

/// An [`AppError::Refused`] from `format!` arguments.
macro_rules! refused {
    ($($arg:tt)*) => {
        $crate::app::error::AppError::Refused(format!($($arg)*))
    };
}

/// Returns early with an [`AppError::Refused`] from `format!` arguments.
macro_rules! refuse {
    ($($arg:tt)*) => {
        return Err($crate::app::error::refused!($($arg)*))
    };
}

/// Returns early with an [`AppError::Refused`] unless the condition holds.
macro_rules! require {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return Err($crate::app::error::refused!($($arg)*));
        }
    };
}

pub(crate) use {refuse, refused, require};
