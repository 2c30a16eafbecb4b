//! Real mail peers on 127.0.0.1 for the tests: a private Dovecot (IMAP) and an
//! SMTP server (aiosmtpd) that delivers into the Maildirs Dovecot serves.
//! Missing peers fail the test in CI and skip it loudly elsewhere.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::TryStreamExt;

use super::missing_peer;

pub const PASSWORD: &str = "secret-pass";

/// A free TCP port on 127.0.0.1 (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn id_of(flag: &str, user: Option<&str>) -> u32 {
    let mut c = Command::new("id");
    c.arg(flag);
    if let Some(u) = user {
        c.arg(u);
    }
    let out = c.output().expect("id");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("numeric id")
}

fn is_root() -> bool {
    id_of("-u", None) == 0
}

/// The uid/gid that owns the mail: Dovecot will not run mail processes as root.
fn mail_owner() -> (u32, u32, String) {
    if is_root() {
        (
            id_of("-u", Some("dovecot")),
            id_of("-g", Some("dovecot")),
            "dovecot".into(),
        )
    } else {
        let name =
            String::from_utf8_lossy(&Command::new("id").arg("-un").output().expect("id").stdout)
                .trim()
                .to_string();
        (id_of("-u", None), id_of("-g", None), name)
    }
}

fn chown_tree(path: &Path, uid: u32, gid: u32) {
    if is_root() {
        let _ = Command::new("chown")
            .arg("-R")
            .arg(format!("{uid}:{gid}"))
            .arg(path)
            .status();
    }
}

/// Waits for an IMAP or SMTP greeting on `port`.
async fn wait_for_greeting(port: u16, prefix: &[u8]) -> bool {
    use tokio::io::AsyncReadExt;
    for _ in 0..100 {
        if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            let mut buf = [0u8; 64];
            if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await
                && buf[..n].starts_with(prefix)
            {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

pub struct Dovecot {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    uid: u32,
    gid: u32,
}

impl Dovecot {
    /// Starts a private Dovecot with the given users (password [`PASSWORD`]).
    pub async fn start(users: &[&str]) -> Option<Dovecot> {
        Self::start_with(users, None).await
    }

    /// Also takes XOAUTH2 and OAUTHBEARER, checking each token at the
    /// introspection endpoint (RFC 7662) given; passwords still work.
    pub async fn start_oauth2(users: &[&str], introspection_url: &str) -> Option<Dovecot> {
        Self::start_with(users, Some(introspection_url)).await
    }

    async fn start_with(users: &[&str], introspection: Option<&str>) -> Option<Dovecot> {
        if !Path::new("/usr/sbin/dovecot").exists() {
            missing_peer(
                "Dovecot",
                "/usr/sbin/dovecot not installed (apt-get install dovecot-imapd)",
            );
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let (uid, gid, owner) = mail_owner();
        let root = dir.path();
        for sub in ["run", "state", "mail"] {
            std::fs::create_dir_all(root.join(sub)).expect("mkdir");
        }
        let passwd: String = users
            .iter()
            .map(|u| {
                format!(
                    "{u}:{{PLAIN}}{PASSWORD}:{uid}:{gid}::{}::\n",
                    root.join("mail").join(u).display()
                )
            })
            .collect();
        std::fs::write(root.join("passwd"), passwd).expect("passwd");
        let port = free_port();
        let r = root.display();
        let login_user = if is_root() {
            "dovenull".to_string()
        } else {
            owner.clone()
        };
        let chroot = if is_root() { "" } else { "chroot =" };
        let (mechanisms, oauth2) = match introspection {
            Some(url) => {
                std::fs::write(
                    root.join("oauth2.conf.ext"),
                    format!(
                        "introspection_url = {url}\nintrospection_mode = post\n\
                         username_attribute = username\nactive_attribute = active\nactive_value = true\n"
                    ),
                )
                .expect("oauth2 conf");
                (
                    "plain login xoauth2 oauthbearer",
                    format!(
                        "passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  \
                         args = {r}/oauth2.conf.ext\n}}\n"
                    ),
                )
            }
            None => ("plain login", String::new()),
        };
        let conf = format!(
            "base_dir = {r}/run\nstate_dir = {r}/state\nlog_path = {r}/dovecot.log\n\
protocols = imap\nlisten = 127.0.0.1\nssl = no\ndisable_plaintext_auth = no\nauth_mechanisms = {mechanisms}\n\
first_valid_uid = 1\nfirst_valid_gid = 1\ndefault_internal_user = {owner}\ndefault_login_user = {login_user}\n\
mail_location = maildir:{r}/mail/%n\n\
{oauth2}passdb {{\n  driver = passwd-file\n  mechanisms = plain login\n  args = scheme=PLAIN username_format=%n {r}/passwd\n}}\n\
userdb {{\n  driver = passwd-file\n  args = username_format=%n {r}/passwd\n}}\n\
service imap-login {{\n  {chroot}\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
service anvil {{\n  {chroot}\n}}\n"
        );
        std::fs::write(root.join("dovecot.conf"), conf).expect("conf");
        chown_tree(&root.join("mail"), uid, gid);
        let mut d = Dovecot {
            port,
            dir,
            child: None,
            uid,
            gid,
        };
        d.spawn().await;
        Some(d)
    }

    async fn spawn(&mut self) {
        let child = Command::new("/usr/sbin/dovecot")
            .args(["-F", "-c"])
            .arg(self.dir.path().join("dovecot.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dovecot");
        self.child = Some(child);
        if !wait_for_greeting(self.port, b"* OK").await {
            let log =
                std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default();
            panic!("Dovecot did not greet on port {}:\n{log}", self.port);
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let _ = c.wait();
        }
    }

    pub async fn restart(&mut self) {
        self.stop();
        self.spawn().await;
    }

    pub fn mail_root(&self) -> PathBuf {
        self.dir.path().join("mail")
    }

    pub fn owner(&self) -> (u32, u32) {
        (self.uid, self.gid)
    }

    /// Messages delivered to `user`'s Maildir (files in new/ and cur/).
    pub fn delivered(&self, user: &str) -> Vec<Vec<u8>> {
        let mut files = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(rd) = std::fs::read_dir(self.mail_root().join(user).join(sub)) {
                files.extend(rd.map(|e| e.expect("entry").path()));
            }
        }
        files.sort();
        files
            .iter()
            .map(|f| std::fs::read(f).expect("read mail"))
            .collect()
    }

    /// Puts messages straight into `user`'s Maildir `folder` (fast: tmp/ then
    /// rename into new/, as an MDA does). `folder` "INBOX" or a subfolder name.
    pub fn load(&self, user: &str, folder: &str, messages: &[Vec<u8>]) {
        let mut dir = self.mail_root().join(user);
        if folder != "INBOX" {
            dir = dir.join(format!(".{folder}"));
        }
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(dir.join(sub)).expect("maildir");
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        for (i, m) in messages.iter().enumerate() {
            let name = format!(
                "{}.M{}P{}Q{i}.docket-test,S={}",
                nanos / 1_000_000_000,
                nanos % 1_000_000,
                std::process::id(),
                m.len()
            );
            std::fs::write(dir.join("tmp").join(&name), m).expect("write");
            std::fs::rename(dir.join("tmp").join(&name), dir.join("new").join(&name))
                .expect("rename");
        }
        chown_tree(&self.mail_root().join(user), self.uid, self.gid);
    }

    /// An IMAP session for `user` (as a mail client).
    pub async fn session(&self, user: &str) -> async_imap::Session<tokio::net::TcpStream> {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect imap");
        let mut client = async_imap::Client::new(tcp);
        client
            .read_response()
            .await
            .expect("greeting")
            .expect("greeting");
        client
            .login(user, PASSWORD)
            .await
            .map_err(|(e, _)| e)
            .expect("login")
    }

    /// Flags of every message in `folder`, as strings.
    pub async fn flags(&self, user: &str, folder: &str) -> Vec<Vec<String>> {
        let mut s = self.session(user).await;
        let mb = s.select(folder).await.expect("select");
        let mut out = Vec::new();
        if mb.exists > 0 {
            let fetched: Vec<_> = s
                .fetch("1:*", "FLAGS")
                .await
                .expect("fetch")
                .try_collect()
                .await
                .expect("collect");
            for f in fetched {
                out.push(f.flags().map(|fl| format!("{fl:?}")).collect());
            }
        }
        s.logout().await.expect("logout");
        out
    }

    /// Every message in `user`'s INBOX, read over IMAP as a mail client would.
    pub async fn fetch_all(&self, user: &str) -> Vec<Vec<u8>> {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect imap");
        let mut client = async_imap::Client::new(tcp);
        client
            .read_response()
            .await
            .expect("greeting")
            .expect("greeting");
        let mut session = client
            .login(user, PASSWORD)
            .await
            .map_err(|(e, _)| e)
            .expect("login");
        let mailbox = session.select("INBOX").await.expect("select");
        let mut out = Vec::new();
        if mailbox.exists > 0 {
            let fetched: Vec<_> = session
                .fetch("1:*", "BODY.PEEK[]")
                .await
                .expect("fetch")
                .try_collect()
                .await
                .expect("collect");
            for f in fetched {
                if let Some(body) = f.body() {
                    out.push(body.to_vec());
                }
            }
        }
        session.logout().await.expect("logout");
        out
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
    }
}

/// aiosmtpd delivering into a Dovecot's Maildirs.
pub struct SmtpSink {
    pub port: u16,
    root: PathBuf,
    owner: (u32, u32),
    child: Option<Child>,
    /// Set: only XOAUTH2 clients whose token this endpoint vouches for send.
    introspection: Option<String>,
}

impl SmtpSink {
    pub async fn start(dovecot: &Dovecot) -> Option<SmtpSink> {
        Self::start_with(dovecot, None).await
    }

    /// Demands AUTH XOAUTH2 and checks each token at the introspection
    /// endpoint given (as Dovecot does), 535 when it is not active.
    pub async fn start_oauth2(dovecot: &Dovecot, introspection_url: &str) -> Option<SmtpSink> {
        Self::start_with(dovecot, Some(introspection_url.to_string())).await
    }

    async fn start_with(dovecot: &Dovecot, introspection: Option<String>) -> Option<SmtpSink> {
        let ok = Command::new("/usr/bin/python3")
            .args(["-c", "import aiosmtpd"])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            missing_peer("aiosmtpd", "python3-aiosmtpd not installed");
            return None;
        }
        let mut s = SmtpSink {
            port: free_port(),
            root: dovecot.mail_root(),
            owner: dovecot.owner(),
            child: None,
            introspection,
        };
        s.spawn().await;
        Some(s)
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub async fn spawn(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/smtp_sink.py");
        let mut cmd = Command::new("/usr/bin/python3");
        cmd.arg(script);
        if let Some(url) = &self.introspection {
            cmd.args(["--introspect", url]);
        }
        let child = cmd
            .arg(self.port.to_string())
            .arg(&self.root)
            .arg(self.owner.0.to_string())
            .arg(self.owner.1.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start smtp sink");
        self.child = Some(child);
        assert!(
            wait_for_greeting(self.port, b"220").await,
            "SMTP sink did not greet"
        );
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}
