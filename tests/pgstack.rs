//! What `scripts/pgstack` leaves on disk for the tests: the files that hold the test role's
//! password are the owner's only, as any file with a password on a shared machine must be.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

#[test]
fn the_password_files_are_readable_by_their_owner_only() {
    let dir = std::env::var("KVITTENS_PG_DIR")
        .unwrap_or_else(|_| panic!("KVITTENS_PG_DIR is not set: run the tests with scripts/test"));
    for name in ["password", "env"] {
        let path = Path::new(&dir).join(name);
        let mode = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "{} is mode {:o}",
            path.display(),
            mode & 0o777
        );
    }
}
