//! The store over PostgreSQL (`store = "postgresql://…"`), against the server
//! `scripts/pgstack` starts (run through `scripts/test`).

mod common;

#[test]
fn each_test_gets_a_fresh_database() {
    let (url, password_file) = common::pg_database("fresh");
    assert!(url.contains("/t_fresh?"), "{url}");
    assert!(std::fs::read_to_string(password_file).is_ok());
}
