//! A minimal local Lambda Runtime API (HTTP/1.1 on 127.0.0.1) for timing cold starts:
//! `GET /2018-06-01/runtime/invocation/next`, `POST …/invocation/{id}/response`,
//! `POST …/invocation/{id}/error` and `POST …/init/error`, enough for `lambda_runtime`.
//!
//! [`cold_start`] spawns one function binary with the environment Lambda would give it,
//! times spawn → its first `/next` request (init-to-ready) and, when given an event,
//! the first invocation (event handed over → response posted), then ends the process.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const API: &str = "/2018-06-01/runtime";

/// One request the function made, handed to the measuring thread with a way to answer.
struct Incoming {
    method: String,
    path: String,
    body: Vec<u8>,
    at: Instant,
    reply: mpsc::Sender<Reply>,
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn accepted() -> Self {
        Self {
            status: 202,
            headers: Vec::new(),
            body: br#"{"status":"OK"}"#.to_vec(),
        }
    }
}

/// What one cold start showed.
#[derive(Debug, Clone, PartialEq)]
pub enum Measured {
    /// Spawn → first `/next`; then the first invocation, if an event was given.
    Ready {
        init: Duration,
        first_invocation: Option<Result<Duration, String>>,
    },
    /// The function reported `init/error`, exited or hung before asking for work.
    Failed { after: Duration, why: String },
}

/// How to start one function.
pub struct Launch<'a> {
    pub program: &'a Path,
    pub function_name: &'a str,
    /// Variables besides the ones every Lambda function gets (see [`lambda_env`]).
    pub env: &'a [(String, String)],
    pub memory_mb: u32,
    /// The first invocation's payload; `None`: stop at init-to-ready.
    pub event: Option<&'a [u8]>,
    /// Where the function's stdout and stderr go (its JSON logs).
    pub log: &'a Path,
    pub timeout: Duration,
}

/// The variables Lambda sets for a `provided.al2023` function, pointed at this machine:
/// the Runtime API at `api`, AWS at a closed local port (nothing can reach AWS), dummy
/// credentials, no shared config files.
pub fn lambda_env(
    api: &str,
    function_name: &str,
    memory_mb: u32,
    aws_endpoint: &str,
) -> Vec<(String, String)> {
    [
        ("AWS_LAMBDA_RUNTIME_API", api.to_owned()),
        ("AWS_LAMBDA_FUNCTION_NAME", function_name.to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb.to_string()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{function_name}"),
        ),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/11/02/[$LATEST]0123456789abcdef".to_owned(),
        ),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON".to_owned()),
        ("AWS_LAMBDA_LOG_LEVEL", "INFO".to_owned()),
        ("AWS_REGION", "eu-west-1".to_owned()),
        ("AWS_DEFAULT_REGION", "eu-west-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "AKIDCARTBACKBENCH".to_owned()),
        (
            "AWS_SECRET_ACCESS_KEY",
            "cartback-bench-not-a-secret".to_owned(),
        ),
        ("AWS_SESSION_TOKEN", "cartback-bench-session".to_owned()),
        ("AWS_ENDPOINT_URL", aws_endpoint.to_owned()),
        (
            "AWS_CONFIG_FILE",
            "/nonexistent/cartback-bench/config".to_owned(),
        ),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/cartback-bench/credentials".to_owned(),
        ),
        ("LAMBDA_TASK_ROOT", "/var/task".to_owned()),
        ("LAMBDA_RUNTIME_DIR", "/var/runtime".to_owned()),
        ("TZ", ":UTC".to_owned()),
        ("LANG", "en_US.UTF-8".to_owned()),
        ("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// A local port nothing listens on (bound, then released): AWS calls fail at once.
pub fn closed_port() -> io::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

fn read_request(
    reader: &mut BufReader<TcpStream>,
) -> io::Result<Option<(String, String, Vec<u8>)>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut length = 0usize;
    let mut chunked = false;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 {
            return Ok(None);
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
            if name == "content-length" {
                length = value.parse().unwrap_or(0);
            } else if name == "transfer-encoding" && value.eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            chunk.truncate(size);
            body.extend(chunk);
            if size == 0 {
                break;
            }
        }
    } else {
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    }
    Ok(Some((method, path, body)))
}

fn write_reply(stream: &mut TcpStream, reply: &Reply) -> io::Result<()> {
    let reason = match reply.status {
        200 => "OK",
        202 => "Accepted",
        _ => "Not Found",
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        reply.status,
        reply.body.len()
    );
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(&reply.body)?;
    stream.flush()
}

/// Serves one keep-alive connection: each request goes to the measuring thread, which
/// answers (or never does: then the connection is dropped).
fn serve(stream: TcpStream, requests: mpsc::Sender<Incoming>) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let _ = writer.set_nodelay(true);
    let mut reader = BufReader::new(stream);
    while let Ok(Some((method, path, body))) = read_request(&mut reader) {
        let (reply, answer) = mpsc::channel();
        let incoming = Incoming {
            method,
            path,
            body,
            at: Instant::now(),
            reply,
        };
        if requests.send(incoming).is_err() {
            return;
        }
        match answer.recv() {
            Ok(reply) => {
                if write_reply(&mut writer, &reply).is_err() {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

fn invocation(function_name: &str, event: &[u8]) -> Reply {
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() + 30_000);
    Reply {
        status: 200,
        headers: vec![
            (
                "lambda-runtime-aws-request-id".into(),
                "c0ffee00-0000-4000-8000-000000000001".into(),
            ),
            ("lambda-runtime-deadline-ms".into(), deadline.to_string()),
            (
                "lambda-runtime-invoked-function-arn".into(),
                format!("arn:aws:lambda:eu-west-1:123456789012:function:{function_name}"),
            ),
            (
                "lambda-runtime-trace-id".into(),
                "Root=1-6723d2c0-0123456789abcdef01234567;Parent=0123456789abcdef;Sampled=0".into(),
            ),
        ],
        body: event.to_vec(),
    }
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(3).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
}

fn stop(child: &mut Child) {
    // Our own child, by its handle.
    let _ = child.kill();
    let _ = child.wait();
}

/// One cold start of `launch.program` against a fresh local Runtime API.
pub fn cold_start(launch: &Launch<'_>) -> io::Result<Measured> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    let aws_endpoint = format!("http://127.0.0.1:{}", closed_port()?);
    let (requests, incoming) = mpsc::channel::<Incoming>();
    let done = Arc::new(AtomicBool::new(false));
    let acceptor = {
        let done = Arc::clone(&done);
        thread::spawn(move || {
            for stream in listener.incoming() {
                if done.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    let requests = requests.clone();
                    thread::spawn(move || serve(stream, requests));
                }
            }
        })
    };
    let log = File::create(launch.log)?;
    let mut env = lambda_env(
        &address.to_string(),
        launch.function_name,
        launch.memory_mb,
        &aws_endpoint,
    );
    env.extend(launch.env.iter().cloned());

    let started = Instant::now();
    let mut child = Command::new(launch.program)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?;

    let mut init = None;
    let mut handed_over: Option<Instant> = None;
    let mut first_invocation = None;
    let outcome = loop {
        let request = match incoming.recv_timeout(Duration::from_millis(25)) {
            Ok(request) => request,
            Err(RecvTimeoutError::Timeout) => {
                if let Some(status) = child.try_wait()? {
                    break Measured::Failed {
                        after: started.elapsed(),
                        why: format!(
                            "exited with {status} before asking for work: {}",
                            tail(launch.log)
                        ),
                    };
                }
                if started.elapsed() > launch.timeout {
                    break Measured::Failed {
                        after: started.elapsed(),
                        why: format!("no /next within {:?}: {}", launch.timeout, tail(launch.log)),
                    };
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => {
                break Measured::Failed {
                    after: started.elapsed(),
                    why: "the local Runtime API stopped".into(),
                };
            }
        };
        let path = request.path.strip_prefix(API).unwrap_or(&request.path);
        match (request.method.as_str(), path) {
            ("GET", "/invocation/next") => {
                let ready = *init.get_or_insert(request.at.duration_since(started));
                match (launch.event, handed_over) {
                    (Some(event), None) => {
                        handed_over = Some(Instant::now());
                        let _ = request.reply.send(invocation(launch.function_name, event));
                    }
                    // Ready (and invoked, if asked): leave this /next unanswered and stop.
                    _ => {
                        break Measured::Ready {
                            init: ready,
                            first_invocation,
                        };
                    }
                }
            }
            ("POST", "/init/error") => {
                let _ = request.reply.send(Reply::accepted());
                break Measured::Failed {
                    after: request.at.duration_since(started),
                    why: format!("init/error: {}", String::from_utf8_lossy(&request.body)),
                };
            }
            ("POST", p) if p.starts_with("/invocation/") => {
                let took = handed_over.map_or(Duration::ZERO, |h| request.at.duration_since(h));
                first_invocation = Some(if p.ends_with("/response") {
                    Ok(took)
                } else {
                    Err(String::from_utf8_lossy(&request.body).into_owned())
                });
                let _ = request.reply.send(Reply::accepted());
            }
            _ => {
                let _ = request.reply.send(Reply {
                    status: 404,
                    headers: Vec::new(),
                    body: b"{}".to_vec(),
                });
            }
        }
    };
    stop(&mut child);
    done.store(true, Ordering::SeqCst);
    // Wake the acceptor so it sees `done`.
    let _ = TcpStream::connect(address);
    let _ = acceptor.join();
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_read_with_length_or_chunks() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
        let address = listener.local_addr().expect("its address");
        let client = thread::spawn(move || {
            let mut s = TcpStream::connect(address).ok()?;
            s.write_all(b"POST /2018-06-01/runtime/invocation/x/response HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\n\r\nhello").ok()?;
            s.write_all(b"POST /2018-06-01/runtime/init/error HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").ok()?;
            Some(())
        });
        let (stream, _) = listener.accept().expect("a connection");
        let mut reader = BufReader::new(stream);
        let first = read_request(&mut reader).expect("read").expect("a request");
        assert_eq!(first.0, "POST");
        assert_eq!(first.1, "/2018-06-01/runtime/invocation/x/response");
        assert_eq!(first.2, b"hello");
        let second = read_request(&mut reader).expect("read").expect("a request");
        assert_eq!(second.2, b"abcde");
        let _ = client.join();
    }
}
