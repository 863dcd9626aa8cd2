//! `faults failover [MESSAGES] [ROUNDS]`: two instances on one PostgreSQL store watch the same
//! mailbox; while a backlog of residents' mail is answered, the instance holding the leases is
//! killed (-9) and the other takes over. Per round: lost, duplicated, and the takeover time
//! (from the kill to the other instance watching the mailbox, and to its sender's lease).
//! Needs the PostgreSQL of `scripts/pgstack` (scripts/faults starts it).

use super::{config, fill, receipts, start, tally, Env};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A fresh database for one round on the server of `scripts/pgstack`: its URL and the file
/// holding the password.
fn database(name: &str) -> anyhow::Result<(String, PathBuf)> {
    let admin = std::env::var("KVITTENS_PG_URL")
        .map_err(|_| anyhow::anyhow!("KVITTENS_PG_URL is not set: run this through scripts/faults, which starts PostgreSQL (scripts/pgstack)"))?;
    let dir = PathBuf::from(std::env::var("KVITTENS_PG_DIR")?);
    let mut pg: postgres::Config = admin.parse()?;
    pg.password(std::env::var("KVITTENS_PG_PASSWORD")?);
    let mut client = pg.connect(postgres::NoTls)?;
    client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
    client.batch_execute(&format!("CREATE DATABASE {name}"))?;
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    Ok((
        format!("{base}/{name}?sslmode=disable"),
        dir.join("password"),
    ))
}

/// One instance's config in `dir`: the shared department and database.
fn instance(dir: &Path, env: &Env, tag: &str, url: &str, pw: &Path) -> anyhow::Result<PathBuf> {
    let cfg = config(dir, env, tag, &[("d", "secret")])?;
    let text = std::fs::read_to_string(&cfg)?.replacen(
        "store = \"store\"\n",
        &format!(
            "store = \"{url}\"\nstore_password_file = \"{}\"\nstate_dir = \"{}\"\n",
            pw.display(),
            dir.join("state").display()
        ),
        1,
    );
    std::fs::write(&cfg, text)?;
    Ok(cfg)
}

/// Waits (at most `limit`) until `log` has a line containing `text`; how long that took.
async fn until_line(log: &Path, text: &str, limit: Duration) -> anyhow::Result<Duration> {
    let t0 = Instant::now();
    while !std::fs::read_to_string(log)
        .unwrap_or_default()
        .contains(text)
    {
        anyhow::ensure!(
            t0.elapsed() < limit,
            "no {text:?} in {} after {limit:?}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(t0.elapsed())
}

/// The rounds; true when no round lost or doubled a receipt and every takeover was within
/// 30 s.
pub async fn failover(env: &Env, n: usize, rounds: usize) -> anyhow::Result<bool> {
    let mut ok = true;
    for round in 1..=rounds {
        let tag = format!("fo{}r{round}", std::process::id());
        // The sync client blocks on a runtime of its own: off this one's threads.
        let name = format!("faults_{tag}");
        let (url, pw) = tokio::task::spawn_blocking(move || database(&name)).await??;
        let (da, db) = (tempfile::tempdir()?, tempfile::tempdir()?);
        let (ca, cb) = (
            instance(da.path(), env, &tag, &url, &pw)?,
            instance(db.path(), env, &tag, &url, &pw)?,
        );
        let (la, lb) = (da.path().join("log"), db.path().join("log"));
        let mailbox = format!("d-{tag}@kommun.test");
        let mut first = start(&ca, &la)?;
        until_line(&la, "watching mailbox", Duration::from_secs(60)).await?;
        let mut second = start(&cb, &lb)?;
        until_line(
            &lb,
            "under which it holds its leases",
            Duration::from_secs(60),
        )
        .await?;
        // The backlog arrives while the first instance answers it; it dies a quarter in.
        fill(env, &mailbox, &tag, 0..n / 2).await?;
        let rest = fill(env, &mailbox, &tag, n / 2..n);
        let kill = async {
            while receipts(env, &tag).await?.values().sum::<usize>() < n / 4 {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            first.kill()?;
            first.wait()?;
            anyhow::Ok(Instant::now())
        };
        let (filled, killed) = tokio::join!(rest, kill);
        filled?;
        let killed = killed?;
        // Polled from the kill on: each figure is at most 0.1 s late.
        until_line(&lb, "watching mailbox", Duration::from_secs(120)).await?;
        until_line(
            &lb,
            "the sender's lease is held here",
            Duration::from_secs(120),
        )
        .await?;
        let takeover = killed.elapsed();
        let (lost, duplicated) = tally(env, &tag, n).await?;
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &second.id().to_string()])
            .status();
        second.wait()?;
        println!(
            "failover: round {round}: kill -9 of the holder a quarter into {n} messages; the other instance watched the mailbox and sent within {:.1} s; lost={lost} duplicated={duplicated}",
            takeover.as_secs_f64()
        );
        ok &= lost == 0 && duplicated == 0 && takeover <= Duration::from_secs(30);
    }
    Ok(ok)
}
