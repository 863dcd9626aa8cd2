//! One file per command or small group, mini-redis style: the command's type (its fields are
//! what travels) and what it does — an `app::admin` call, then the words from `text`.

pub mod case;
pub mod cases;
pub mod contact;
pub mod explain;
pub mod ignored;
pub mod import;
pub mod measure;
pub mod r#move;
pub mod officer;
pub mod person;
pub mod purge;
pub mod report;
