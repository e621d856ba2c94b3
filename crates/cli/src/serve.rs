//! `leadladder serve`: a small static file server for the page (`web/` at `/`) and the wasm
//! packages (`pkg/` at `/pkg/`).
//!
//! Plain `std` networking, one thread per connection, `Connection: close`. Every response carries
//! the page's Content-Security-Policy; paths are decoded and checked segment by segment and the
//! resolved file must stay under its base directory, so nothing outside `web/` and `pkg/` is ever
//! read. `--log-requests` prints each request line (the browser tests audit the page's requests
//! with it).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

/// The policy every page runs under (also set as a `<meta>` tag in each HTML file, in
/// web/_headers and in deploy/nginx.conf; a test keeps them equal). `connect-src 'self'` keeps
/// fetch, XHR, beacons, EventSource and WebSocket on the page's origin; `worker-src blob:` lets the
/// page start its scoring worker from a blob: URL, so the worker inherits this policy on any host.
pub const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
connect-src 'self'; style-src 'self'; img-src 'self' blob: data:; worker-src 'self' blob:; \
form-action 'none'";

/// The wasm packages the page loads; the server refuses to start without them.
const REQUIRED_PKG_FILES: [&str; 2] = ["pkg/cpu/leadladder_wasm.js", "pkg/gpu/leadladder_wasm.js"];

/// Longest request head (request line + headers) accepted.
const MAX_HEAD_BYTES: usize = 16 * 1024;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  leadladder serve                          # http://127.0.0.1:8080, this directory as the repository
  leadladder serve --port 9000 --root ~/src/leadladder
  leadladder serve --port 0                 # any free port; the URL is printed")]
pub struct Args {
    /// TCP port (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// The repository root: the directory holding web/ and pkg/.
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// Address to listen on. Keep the default unless other machines must reach the page.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Print one line per request to stderr: method, request target as sent (query string
    /// included) and status, e.g. `GET /app.js 200`. Off by default.
    #[arg(long)]
    log_requests: bool,
}

/// Where requests are served from (canonical paths), and whether to log them.
#[derive(Debug, Clone)]
struct Roots {
    web: PathBuf,
    pkg: PathBuf,
    log_requests: bool,
}

pub fn run(args: &Args) -> Result<()> {
    let mut roots = check_root(&args.root)?;
    roots.log_requests = args.log_requests;
    let listener = TcpListener::bind((args.host.as_str(), args.port))
        .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
    let addr = listener
        .local_addr()
        .context("listening socket has no address")?;
    let host = if addr.ip().is_ipv6() {
        format!("[{}]", addr.ip())
    } else {
        addr.ip().to_string()
    };
    println!(
        "leadladder: serving {} on http://{host}:{}/",
        roots.web.display(),
        addr.port()
    );
    println!("(press Ctrl+C to stop)");
    std::io::stdout()
        .flush()
        .context("cannot write to stdout")?;

    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                let roots = roots.clone();
                let spawned =
                    std::thread::Builder::new()
                        .name("serve-conn".into())
                        .spawn(move || {
                            if let Err(e) = handle(stream, &roots) {
                                eprintln!("leadladder serve: {e:#}");
                            }
                        });
                if let Err(e) = spawned {
                    eprintln!("leadladder serve: cannot start a connection thread: {e}");
                }
            }
            Err(e) => eprintln!("leadladder serve: accept failed: {e}"),
        }
    }
    Ok(())
}

/// Checks that `root` holds the page and the wasm packages; returns their canonical paths.
fn check_root(root: &Path) -> Result<Roots> {
    let web = root.join("web");
    if !web.join("index.html").is_file() {
        bail!(
            "{} has no web/index.html: pass the repository root with --root",
            root.display()
        );
    }
    for rel in REQUIRED_PKG_FILES {
        if !root.join(rel).is_file() {
            bail!(
                "{} is missing: the wasm packages are not built; run `cargo xtask build-web` first",
                root.join(rel).display()
            );
        }
    }
    let web = web
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", web.display()))?;
    let pkg = root.join("pkg");
    let pkg = pkg
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", pkg.display()))?;
    Ok(Roots {
        web,
        pkg,
        log_requests: false,
    })
}

struct Response {
    status: u16,
    reason: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Body,
}

enum Body {
    Empty,
    Text(String),
    File(File, u64),
}

impl Response {
    fn error(status: u16, reason: &'static str, message: &str) -> Response {
        Response {
            status,
            reason,
            headers: vec![
                ("Content-Type", "text/plain; charset=utf-8".into()),
                ("Cache-Control", "no-store".into()),
            ],
            body: Body::Text(format!("{status} {reason}: {message}\n")),
        }
    }
}

fn handle(stream: TcpStream, roots: &Roots) -> Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(60)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let (response, head_only) = match read_head(&mut reader) {
        Ok(Some(req)) => {
            let head_only = req.method == "HEAD";
            let response = respond(&req, roots);
            if roots.log_requests {
                eprintln!("{} {} {}", req.method, req.target, response.status);
            }
            (response, head_only)
        }
        Ok(None) => return Ok(()),
        Err(HeadError::TooLarge) => {
            if roots.log_requests {
                eprintln!("- - 431 (request head too large)");
            }
            (
                Response::error(
                    431,
                    "Request Header Fields Too Large",
                    "request head too large",
                ),
                false,
            )
        }
        Err(HeadError::Malformed(why)) => {
            if roots.log_requests {
                eprintln!("- - 400 ({why})");
            }
            (Response::error(400, "Bad Request", why), false)
        }
        Err(HeadError::Io(e)) => return Err(e.into()),
    };
    write_response(stream, response, head_only)
}

struct Request {
    method: String,
    target: String,
    if_none_match: Option<String>,
}

enum HeadError {
    TooLarge,
    Malformed(&'static str),
    Io(std::io::Error),
}

/// Reads the request line and headers; `None` when the client closed without sending anything.
fn read_head(reader: &mut impl BufRead) -> std::result::Result<Option<Request>, HeadError> {
    let mut lines: Vec<String> = Vec::new();
    let mut total = 0usize;
    loop {
        let mut raw = Vec::new();
        let n = reader
            .by_ref()
            .take((MAX_HEAD_BYTES - total + 1) as u64)
            .read_until(b'\n', &mut raw)
            .map_err(HeadError::Io)?;
        if n == 0 {
            if lines.is_empty() {
                return Ok(None);
            }
            return Err(HeadError::Malformed("request head ended early"));
        }
        total += n;
        if total > MAX_HEAD_BYTES {
            return Err(HeadError::TooLarge);
        }
        let line = String::from_utf8(raw)
            .map_err(|_| HeadError::Malformed("request head is not UTF-8"))?;
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            if lines.is_empty() {
                continue; // tolerate a stray CRLF before the request line
            }
            break;
        }
        lines.push(line);
    }
    let mut parts = lines[0].split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Malformed(
            "request line is not METHOD TARGET VERSION",
        ));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(HeadError::Malformed("only HTTP/1.x is spoken here"));
    }
    let if_none_match = lines[1..].iter().find_map(|h| {
        let (name, value) = h.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("if-none-match")
            .then(|| value.trim().to_string())
    });
    Ok(Some(Request {
        method: method.to_string(),
        target: target.to_string(),
        if_none_match,
    }))
}

fn respond(req: &Request, roots: &Roots) -> Response {
    if req.method != "GET" && req.method != "HEAD" {
        let mut r = Response::error(405, "Method Not Allowed", "only GET and HEAD are served");
        r.headers.push(("Allow", "GET, HEAD".into()));
        return r;
    }
    let path = match resolve(&req.target, roots) {
        Ok(p) => p,
        Err(Resolve::Bad(why)) => return Response::error(400, "Bad Request", why),
        Err(Resolve::NotFound) => return Response::error(404, "Not Found", "no such file"),
    };
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(_) => return Response::error(404, "Not Found", "no such file"),
    };
    let meta = match file.metadata() {
        Ok(m) if m.is_file() => m,
        _ => return Response::error(404, "Not Found", "no such file"),
    };
    let len = meta.len();
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let etag = format!("\"{len:x}-{mtime:x}\"");
    let mut headers = vec![
        ("Content-Type", mime_type(&path).to_string()),
        // Revalidate every time (cheap with the ETag): a rebuilt pkg/ must never meet a stale
        // JavaScript glue file from the browser cache.
        ("Cache-Control", "no-cache".into()),
        ("ETag", etag.clone()),
    ];
    if req.if_none_match.as_deref() == Some(etag.as_str()) {
        headers.retain(|(name, _)| *name != "Content-Type");
        return Response {
            status: 304,
            reason: "Not Modified",
            headers,
            body: Body::Empty,
        };
    }
    Response {
        status: 200,
        reason: "OK",
        headers,
        body: Body::File(file, len),
    }
}

enum Resolve {
    Bad(&'static str),
    NotFound,
}

/// Maps a request target to a file under `roots`: `/pkg/...` to `pkg/`, everything else to
/// `web/`, a directory to its `index.html`. Rejects `..`, backslashes, NUL and encoded slashes.
fn resolve(target: &str, roots: &Roots) -> std::result::Result<PathBuf, Resolve> {
    let path = target.split(['?', '#']).next().unwrap_or("");
    if !path.starts_with('/') {
        return Err(Resolve::Bad("the request target must be an absolute path"));
    }
    let mut segments = Vec::new();
    for raw in path.split('/').filter(|s| !s.is_empty()) {
        let seg = percent_decode(raw).ok_or(Resolve::Bad("bad percent-encoding in the path"))?;
        if seg == "." || seg == ".." {
            return Err(Resolve::Bad("'.' and '..' are not allowed in paths"));
        }
        if seg.contains(['/', '\\', '\0', ':']) {
            return Err(Resolve::Bad("the path holds a forbidden character"));
        }
        segments.push(seg);
    }
    let (base, rest) = match segments.split_first() {
        Some((first, rest)) if first == "pkg" => (&roots.pkg, rest),
        _ => (&roots.web, segments.as_slice()),
    };
    let mut candidate = base.clone();
    for seg in rest {
        candidate.push(seg);
    }
    // Only plain names may have been pushed (no root, prefix or parent components).
    let only_names = candidate
        .strip_prefix(base)
        .is_ok_and(|rel| rel.components().all(|c| matches!(c, Component::Normal(_))));
    if !only_names {
        return Err(Resolve::Bad("path escapes the served directory"));
    }
    if candidate.is_dir() {
        candidate.push("index.html");
    }
    // Symbolic links may point anywhere: the resolved file must still be under the base.
    let real = candidate.canonicalize().map_err(|_| Resolve::NotFound)?;
    if !real.starts_with(base) {
        return Err(Resolve::NotFound);
    }
    Ok(real)
}

/// Decodes `%XX` escapes; `None` for a malformed escape or a result that is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The Content-Type for a served file, by extension.
fn mime_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "csv" => "text/csv; charset=utf-8",
        "txt" | "md" => "text/plain; charset=utf-8",
        "ts" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn write_response(mut stream: TcpStream, response: Response, head_only: bool) -> Result<()> {
    let len = match &response.body {
        Body::Empty => 0,
        Body::Text(t) => t.len() as u64,
        Body::File(_, len) => *len,
    };
    let mut head = format!("HTTP/1.1 {} {}\r\n", response.status, response.reason);
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Security-Policy: {CSP}\r\n"));
    head.push_str("X-Content-Type-Options: nosniff\r\n");
    head.push_str("Referrer-Policy: no-referrer\r\n");
    if response.status != 304 {
        head.push_str(&format!("Content-Length: {len}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    stream.write_all(head.as_bytes())?;
    if !head_only {
        match response.body {
            Body::Empty => {}
            Body::Text(t) => stream.write_all(t.as_bytes())?,
            Body::File(file, len) => {
                let copied = std::io::copy(&mut file.take(len), &mut stream)?;
                if copied != len {
                    bail!("file changed while it was sent ({copied} of {len} bytes)");
                }
            }
        }
    }
    stream.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b").as_deref(), Some("a b"));
        assert_eq!(percent_decode("%2e%2E").as_deref(), Some(".."));
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%ff"), None);
    }

    #[test]
    fn mime_types() {
        assert_eq!(mime_type(Path::new("a/b.wasm")), "application/wasm");
        assert_eq!(
            mime_type(Path::new("x.JS")),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            mime_type(Path::new("m.safetensors")),
            "application/octet-stream"
        );
    }
}
