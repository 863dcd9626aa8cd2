//! Two daemons on one machine: a second `kvittens run` with the same state directory, or with
//! a listen address already taken, refuses to start and says why, instead of taking the first's
//! control socket over (after which the commands and `export` no longer saw the first).

mod common;

use common::{kvittens_ok, Setup};

#[test]
fn a_second_daemon_on_the_same_state_dir_is_refused() {
    let s = Setup::new("twice", "");
    let first = s.start();
    let config = s.config.to_str().unwrap();
    let second = s.spawn();
    let status = second.wait_exit();
    let said = std::fs::read_to_string(s.dir.path().join("kvittens.log")).unwrap();
    assert!(!status.success(), "{said}");
    assert!(
        said.contains("a kvittens daemon already runs with this state_dir")
            && said.contains("give each instance on one machine its own state_dir and listen"),
        "{said}"
    );
    let pid = said
        .split("(pid ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .unwrap_or("");
    assert!(pid.parse::<u32>().is_ok(), "the first daemon's pid: {said}");
    // The first still has its socket: a command reaches it.
    kvittens_ok(&["cases", "--config", config]);
    // A daemon that was killed leaves its socket file; nothing answers there, so a new
    // daemon replaces it.
    first.kill();
    assert!(s.dir.path().join("store/control.sock").exists());
    let again = s.start();
    kvittens_ok(&["cases", "--config", config]);
    assert!(again.stop().success());
}

#[test]
fn a_metrics_address_in_use_stops_the_start_naming_the_key() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let s = Setup::new("taken", "");
    let text = std::fs::read_to_string(&s.config).unwrap();
    let text = text.replacen(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"{addr}\""),
        1,
    );
    std::fs::write(&s.config, text).unwrap();
    let status = s.spawn().wait_exit();
    let said = std::fs::read_to_string(s.dir.path().join("kvittens.log")).unwrap();
    assert!(!status.success(), "{said}");
    assert!(
        said.contains(&format!("key `daemon.listen`: {addr} is in use")),
        "{said}"
    );
    assert!(!said.contains("watching mailbox"), "{said}");
}
