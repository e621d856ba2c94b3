//! `leadladder serve`: traversal, MIME types, the CSP header (the same policy in every file that
//! carries it), 404, HEAD, the request log and the missing-pkg refusal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The repository root (the real web/ and deploy/ files).
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The policy static hosts get from web/_headers: what `serve` must send too. (That the browser
/// enforces it is shown by the browser tests, which inject blocked connections.)
fn policy_of_headers_file() -> String {
    let text = std::fs::read_to_string(repo().join("web/_headers")).unwrap();
    let policies: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Content-Security-Policy:"))
        .map(str::trim)
        .collect();
    assert_eq!(policies.len(), 1, "web/_headers: {text}");
    policies[0].to_string()
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_leadladder"))
}

/// A fake repository: web/ and pkg/ with a few files, and a secret next to them.
fn fake_repo(name: &str, with_pkg: bool) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("leadladder-serve-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let files: &[(&str, &[u8])] = &[
        ("secret.txt", b"TOP-SECRET"),
        ("web/index.html", b"<!doctype html><title>t</title>"),
        ("web/app.js", b"export {};"),
        ("web/style.css", b"body{}"),
        ("web/models/manifest.json", b"{}"),
        ("web/models/demo.int8.safetensors", &[7u8; 1000]),
        ("web/widget/index.html", b"<p>widget</p>"),
        ("web/a b.txt", b"space"),
    ];
    for (path, bytes) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    if with_pkg {
        for (path, bytes) in [
            ("pkg/cpu/leadladder_wasm.js", &b"export default 1;"[..]),
            ("pkg/cpu/leadladder_wasm_bg.wasm", b"\0asm\x01\0\0\0"),
            ("pkg/gpu/leadladder_wasm.js", b"export default 2;"),
        ] {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        }
    }
    dir
}

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(root: &Path) -> Server {
    start_with(root, &[])
}

fn start_with(root: &Path, extra: &[&str]) -> Server {
    let mut child = bin()
        .args(["serve", "--port", "0", "--root"])
        .arg(root)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL printed: {line:?}"));
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    Server { child, addr }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends a raw request (the target is written as-is, so encoded dots reach the server) and reads
/// the whole reply.
fn request(server: &Server, method: &str, target: &str) -> Reply {
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    write!(
        stream,
        "{method} {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        server.addr
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("reply has a head");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_string(), v.trim().to_string())
        })
        .collect();
    Reply {
        status,
        headers,
        body,
    }
}

#[test]
fn serves_files_with_mime_types_csp_and_cache_control() {
    let root = fake_repo("mime", true);
    let server = start(&root);
    let csp = policy_of_headers_file();
    for (target, mime, body) in [
        (
            "/",
            "text/html; charset=utf-8",
            &b"<!doctype html><title>t</title>"[..],
        ),
        (
            "/index.html",
            "text/html; charset=utf-8",
            b"<!doctype html><title>t</title>",
        ),
        ("/app.js", "text/javascript; charset=utf-8", b"export {};"),
        ("/style.css?v=2", "text/css; charset=utf-8", b"body{}"),
        ("/models/manifest.json", "application/json", b"{}"),
        (
            "/pkg/cpu/leadladder_wasm_bg.wasm",
            "application/wasm",
            b"\0asm\x01\0\0\0",
        ),
        (
            "/pkg/gpu/leadladder_wasm.js",
            "text/javascript; charset=utf-8",
            b"export default 2;",
        ),
        ("/widget/", "text/html; charset=utf-8", b"<p>widget</p>"),
        ("/a%20b.txt", "text/plain; charset=utf-8", b"space"),
    ] {
        let r = request(&server, "GET", target);
        assert_eq!(r.status, 200, "{target}");
        assert_eq!(r.header("Content-Type"), Some(mime), "{target}");
        assert_eq!(
            r.header("Content-Security-Policy"),
            Some(csp.as_str()),
            "{target}"
        );
        assert_eq!(r.header("Cache-Control"), Some("no-cache"), "{target}");
        assert_eq!(
            r.header("X-Content-Type-Options"),
            Some("nosniff"),
            "{target}"
        );
        assert_eq!(r.body, body, "{target}");
    }
    // A revalidation with the ETag is answered 304 without a body.
    let first = request(&server, "GET", "/app.js");
    let etag = first.header("ETag").unwrap().to_string();
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    write!(
        stream,
        "GET /app.js HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 304 "), "{raw}");
    assert!(raw.ends_with("\r\n\r\n"), "304 has no body: {raw}");
}

#[test]
fn head_gives_the_length_without_a_body() {
    let root = fake_repo("head", true);
    let server = start(&root);
    let r = request(&server, "HEAD", "/models/demo.int8.safetensors");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some("1000"));
    assert!(r.body.is_empty());
    let r = request(&server, "GET", "/models/demo.int8.safetensors");
    assert_eq!(r.body.len(), 1000);
}

#[test]
fn missing_files_are_404_and_other_methods_405() {
    let root = fake_repo("404", true);
    let server = start(&root);
    for target in ["/nope.js", "/pkg/cpu/nope.wasm", "/models/", "/pkg/"] {
        let r = request(&server, "GET", target);
        assert_eq!(r.status, 404, "{target}");
        assert_eq!(
            r.header("Content-Security-Policy"),
            Some(policy_of_headers_file().as_str())
        );
    }
    let r = request(&server, "POST", "/index.html");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("GET, HEAD"));
}

#[test]
fn directory_traversal_never_reaches_files_outside_web_and_pkg() {
    let root = fake_repo("traversal", true);
    // A symbolic link inside web/ that points outside must not be followed out either.
    #[cfg(unix)]
    std::os::unix::fs::symlink(root.join("secret.txt"), root.join("web/link.txt")).unwrap();
    let server = start(&root);
    for target in [
        "/../secret.txt",
        "/../../secret.txt",
        "/pkg/../secret.txt",
        "/pkg/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/pkg/%2e%2e/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/..%2Fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "/..%5csecret.txt",
        "/.%2e/secret.txt",
        "/./../secret.txt",
        "//../secret.txt",
        "/%00/../secret.txt",
        "secret.txt",
        "/link.txt",
        "/web/../secret.txt",
        "/%252e%252e/secret.txt",
    ] {
        let r = request(&server, "GET", target);
        assert!(
            r.status == 400 || r.status == 404,
            "{target} answered {}",
            r.status
        );
        assert!(
            !String::from_utf8_lossy(&r.body).contains("TOP-SECRET"),
            "{target} leaked the secret"
        );
    }
}

#[test]
fn refuses_to_start_without_the_wasm_packages() {
    let root = fake_repo("nopkg", false);
    let out = bin()
        .args(["serve", "--port", "0", "--root"])
        .arg(&root)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cargo xtask build-web"), "{err}");
    assert!(err.contains("pkg"), "{err}");

    let out = bin()
        .args(["serve", "--port", "0", "--root"])
        .arg(root.join("web"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("web/index.html"));
}

/// The page's policy lives in five places: serve's header, the two pages' `<meta>` tags (the
/// only policy on a host that sends none; the scoring worker inherits it), web/_headers and the
/// nginx snippet. They must say the same.
#[test]
fn every_copy_of_the_policy_is_the_same() {
    let csp = policy_of_headers_file();
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    assert!(csp.contains("worker-src 'self' blob:"), "{csp}");
    for page in ["web/index.html", "web/crm-demo.html"] {
        let html = std::fs::read_to_string(repo().join(page)).unwrap();
        let meta = html
            .split("http-equiv=\"Content-Security-Policy\" content=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("{page} has no CSP <meta> tag"));
        assert_eq!(meta, csp, "{page}");
    }
    let nginx = std::fs::read_to_string(repo().join("deploy/nginx.conf")).unwrap();
    assert!(
        nginx.contains(&format!(
            "add_header Content-Security-Policy \"{csp}\" always;"
        )),
        "deploy/nginx.conf does not carry the policy"
    );
    let server = start(&fake_repo("policy", true));
    let r = request(&server, "GET", "/index.html");
    assert_eq!(r.header("Content-Security-Policy"), Some(csp.as_str()));
}

#[test]
fn log_requests_prints_each_request_line_with_its_query() {
    let root = fake_repo("log", true);
    let mut server = start_with(&root, &["--log-requests"]);
    assert_eq!(request(&server, "GET", "/app.js?x=1").status, 200);
    assert_eq!(request(&server, "POST", "/beacon").status, 405);
    assert_eq!(request(&server, "GET", "/missing").status, 404);
    let _ = server.child.kill();
    let mut log = String::new();
    server
        .child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines,
        [
            "GET /app.js?x=1 200",
            "POST /beacon 405",
            "GET /missing 404"
        ],
        "{log}"
    );
}
