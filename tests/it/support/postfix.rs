//! A private Postfix instance (its own `config_directory`, a loopback port,
//! no relay) wired to `docket mailgate` exactly as the README's recipe says:
//! a `pipe` transport running as the `docket` user. Needs root (Postfix's
//! master runs as root) and the `docket` system user that
//! `scripts/test-peers.sh` creates.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::missing_peer;
use super::peers::free_port;

pub struct Postfix {
    pub port: u16,
    pub dir: tempfile::TempDir,
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run a postfix command");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed: {text}");
    text
}

impl Postfix {
    /// Starts Postfix delivering `recipient` through the `docket` pipe
    /// transport into `database_url` with `--queue queue`.
    pub fn start(recipient: &str, database_url: &str, queue: &str) -> Option<Postfix> {
        if !Path::new("/usr/sbin/postfix").exists() {
            missing_peer(
                "Postfix",
                "/usr/sbin/postfix not installed (apt-get install postfix)",
            );
            return None;
        }
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout == b"0\n");
        if !root {
            missing_peer(
                "Postfix",
                "a private Postfix master must be started as root",
            );
            return None;
        }
        if !Command::new("id")
            .arg("docket")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            missing_peer(
                "Postfix",
                "no `docket` system user (scripts/test-peers.sh adds it)",
            );
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let r = dir.path().display().to_string();
        for sub in ["etc", "queue", "data"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("mkdir");
        }
        run(Command::new("chmod").args(["755", &r]));
        run(Command::new("chown").args(["postfix", &format!("{r}/data")]));
        let port = free_port();
        let domain = recipient.split('@').nth(1).expect("recipient domain");
        let main_cf = format!(
            "compatibility_level = 3.6\n\
queue_directory = {r}/queue\ndata_directory = {r}/data\n\
mail_owner = postfix\nsetgid_group = postdrop\n\
myhostname = mx.docket.test\nmydomain = docket.test\nmyorigin = $myhostname\n\
inet_interfaces = 127.0.0.1\ninet_protocols = ipv4\nmynetworks = 127.0.0.0/8\n\
relayhost =\ndefault_transport = error:the test instance relays nothing\n\
alias_maps =\nalias_database =\nsmtputf8_enable = no\nbiff = no\n\
maillog_file = {r}/maillog\nmaillog_file_prefixes = {r}\n\
# The README's recipe from here on.\n\
mydestination = $myhostname, {domain}\n\
transport_maps = hash:{r}/etc/transport\n\
local_recipient_maps = $transport_maps\n\
docket_destination_recipient_limit = 1\n\
message_size_limit = 26214400\n"
        );
        std::fs::write(dir.path().join("etc/main.cf"), main_cf).expect("main.cf");
        let bin = super::docket_bin();
        let services = [
            format!("127.0.0.1:{port} inet n - n - - smtpd"),
            "pickup unix n - n 60 1 pickup".into(),
            "cleanup unix n - n - 0 cleanup".into(),
            "qmgr unix n - n 300 1 qmgr".into(),
            "rewrite unix - - n - - trivial-rewrite".into(),
            "bounce unix - - n - 0 bounce".into(),
            "defer unix - - n - 0 bounce".into(),
            "trace unix - - n - 0 bounce".into(),
            "verify unix - - n - 1 verify".into(),
            "flush unix n - n 1000? 0 flush".into(),
            "proxymap unix - - n - - proxymap".into(),
            "showq unix n - n - - showq".into(),
            "error unix - - n - - error".into(),
            "retry unix - - n - - error".into(),
            "discard unix - - n - - discard".into(),
            "anvil unix - - n - 1 anvil".into(),
            "scache unix - - n - 1 scache".into(),
            "postlog unix-dgram n - n - 1 postlogd".into(),
            format!(
                "docket unix - n n - - pipe\n  flags=DRO user=docket argv={bin} \
                 --database-url {database_url} mailgate --queue {queue}"
            ),
        ];
        std::fs::write(dir.path().join("etc/master.cf"), services.join("\n") + "\n")
            .expect("master.cf");
        std::fs::write(
            dir.path().join("etc/transport"),
            format!("{recipient} docket:\n"),
        )
        .expect("transport");
        let etc = format!("{r}/etc");
        run(Command::new("postmap").args(["-c", &etc, &format!("hash:{etc}/transport")]));
        run(Command::new("postfix").args(["-c", &etc, "start"]));
        let pf = Postfix { port, dir };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(pf);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("Postfix did not listen on {port}:\n{}", pf.log());
    }

    fn etc(&self) -> String {
        self.dir.path().join("etc").display().to_string()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }

    /// `postqueue -j`: one JSON object per queued message.
    pub fn queue(&self) -> Vec<serde_json::Value> {
        run(Command::new("postqueue").args(["-c", &self.etc(), "-j"]))
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// `postqueue -f`: deliver what is deferred now.
    pub fn flush(&self) {
        run(Command::new("postqueue").args(["-c", &self.etc(), "-f"]));
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = Command::new("postfix")
            .args(["-c", &self.etc(), "stop"])
            .output();
    }
}
