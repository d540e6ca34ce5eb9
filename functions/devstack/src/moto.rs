//! The moto server: found (or installed by `scripts/pyenv`), started on a loopback port, or
//! reused when one already answers there.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{DevStackError, Result};

/// How long a starting moto may take to answer (importing it takes seconds on a loaded
/// machine).
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// Starts moto's WSGI app the way `moto_server` does, and exits as soon as its stdin closes:
/// when the process that started it ends, however it ends (Ctrl-C, a kill, a panic), moto
/// ends too. `threaded=False` serves one request at a time (see [`MotoOptions::serialised`]).
///
/// It also replaces moto 5.2's `TransactWriteItems` (see [`TRANSACTIONS`]) and makes a few
/// hot paths cheaper ([`SPEEDUPS`]).
const LAUNCHER: &str = r#"import os, sys, threading
from werkzeug.serving import make_server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
host, port, threaded = sys.argv[1], int(sys.argv[2]), sys.argv[3] == 'threaded'
def watch_parent():
    sys.stdin.buffer.read()
    os._exit(0)
threading.Thread(target=watch_parent, daemon=True).start()
exec(sys.argv[4])
app = DomainDispatcherApplication(create_backend_app)
app.debug = True
server = make_server(host, port, app, threaded=threaded, request_handler=MotoRequestHandler)
os.environ.setdefault('MOTO_PORT', str(server.port))
print(server.port, flush=True)
server.serve_forever()
"#;

/// DynamoDB's `TransactWriteItems` as DynamoDB does it, for moto 5.2: every condition is
/// checked against the items as they are before anything is written, and only if all hold
/// is every write applied; a cancelled transaction writes nothing. A lock makes transactions
/// serializable with each other.
///
/// moto's own version deep-copies every table the transaction names before it starts and,
/// when one condition fails, puts the copies back in place of the tables. That costs a copy
/// of the whole table (with its stream) per transaction, so a table of a few thousand carts
/// makes every webhook take a tenth of a second; and the put-back table has a new stream
/// shard object, so every shard iterator handed out before keeps reading the old one and
/// sees no new record again: one cancelled transaction silently stops the planner. Should a
/// later moto not have what this needs, moto exits at start (the reason is in its log).
const TRANSACTIONS: &str = r#"
try:
    import moto.dynamodb.models as _m
    _lock = threading.Lock()
    def _transact_write_items(self, transact_items):
        if len(transact_items) > 100:
            raise _m.TooManyTransactionsException()
        with _lock:
            targets, planned, errors = set(), [], []
            for item in transact_items:
                if len(list(item.keys())) > 1:
                    raise _m.TransactWriteSingleOpException
                original_item = None
                try:
                    op_type, op = next(iter(item.items()))
                    if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                        raise ValueError("Unsupported transaction operation")
                    table_name = op["TableName"]
                    if op_type == "Put":
                        attrs = op["Item"]
                        table = self.get_table(table_name)
                        key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                        if table.range_key_attr is not None:
                            key[table.range_key_attr] = attrs[table.range_key_attr]
                    else:
                        key = op["Key"]
                    unique = (str(table_name), str(dict(sorted(key.items()))))
                    if unique in targets:
                        raise _m.MultipleTransactionsException()
                    targets.add(unique)
                    current = self.get_item(table_name, key)
                    condition = op.get("ConditionExpression")
                    if condition is not None:
                        check = _m.get_filter_expression(condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues"))
                        if not check.expr(current):
                            if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                                original_item = current.to_json()["Attributes"]
                            raise _m.ConditionalCheckFailed(item=original_item)
                    planned.append((op_type, op, table_name, key))
                    errors.append((None, None, None))
                except (_m.MultipleTransactionsException, _m.MockValidationException):
                    raise
                except _m.ConditionalCheckFailed as e:
                    errors.append(("ConditionalCheckFailed", str(e.message), original_item))
                except Exception as e:
                    errors.append((type(e).__name__, str(e), original_item))
            if any(code is not None for code, _, _ in errors):
                raise _m.TransactionCanceledException(errors)
            for op_type, op, table_name, key in planned:
                names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
                if op_type == "Put":
                    self.put_item(table_name, op["Item"], condition_expression=op.get("ConditionExpression"), expression_attribute_names=names, expression_attribute_values=values)
                elif op_type == "Delete":
                    self.delete_item(table_name, key, condition_expression=op.get("ConditionExpression"), expression_attribute_names=names, expression_attribute_values=values)
                elif op_type == "Update":
                    self.update_item(table_name, key, update_expression=op["UpdateExpression"], condition_expression=op.get("ConditionExpression"), expression_attribute_names=names, expression_attribute_values=values)
    _m.DynamoDBBackend.transact_write_items = _transact_write_items
except Exception as error:
    raise SystemExit(f"cartback: cannot replace moto's TransactWriteItems (moto {sys.modules.get('moto')}): {error}")
"#;

/// Three changes that make moto several times cheaper per request and change no answer:
///
/// - DynamoDB's item operations (`GetItem`, `PutItem`, `DeleteItem`, `UpdateItem`, `Query`,
///   `Scan`, `TransactWriteItems`) and the stream's `GetShardIterator` and `GetRecords` answer
///   with their result dumped as JSON. moto 5.2 already builds those results in the wire
///   shape and then walks every attribute of every item through botocore's service model to
///   serialize it again, which was a third of moto's time; the bodies are the same JSON
///   (checked against moto's serializer for each of these operations, including binary
///   values and the stream's timestamps, kept to the millisecond as it keeps them). Errors
///   and every other operation go through moto's serializer as before.
/// - The list of moto's service modules, which moto reads from disk (a directory listing and
///   a `stat` per entry) for every request to find the service, is read once.
/// - Answers go out without Nagle's algorithm, so a response written in two parts does not
///   wait for a delayed ACK.
const SPEEDUPS: &str = r#"
import base64 as _b64, datetime as _dt, json as _json, socket as _socket
from moto import backends as _backends
from moto.core.responses import BaseResponse as _BaseResponse
from moto.moto_server.werkzeug_app import MotoRequestHandler as _Handler
_modules = tuple(_backends.list_of_moto_modules())
_backends.list_of_moto_modules = lambda: _modules
_FAST = {
    "dynamodb": {"GetItem", "PutItem", "DeleteItem", "UpdateItem", "Query", "Scan", "TransactWriteItems", "GetShardIterator", "GetRecords"},
    "dynamodbstreams": {"GetShardIterator", "GetRecords"},
}
def _plain(value):
    if isinstance(value, (bytes, bytearray)):
        return _b64.b64encode(value).decode()
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        return int(value.timestamp() * 1000) / 1000
    raise TypeError(type(value).__name__)
_serialized = _BaseResponse.serialized
def _fast_serialized(self, action_result):
    result = action_result.result
    if isinstance(result, dict) and self._get_action() in _FAST.get(self.boto3_service_name, ()):
        try:
            body = _json.dumps(result, default=_plain)
        except TypeError:
            return _serialized(self, action_result)
        headers = {"Content-Type": "application/x-amz-json-1.0"}
        headers.update(self.response_headers)
        return 200, headers, body
    return _serialized(self, action_result)
_BaseResponse.serialized = _fast_serialized
_setup = _Handler.setup
def _no_delay(self):
    _setup(self)
    try:
        self.connection.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
    except OSError:
        pass
_Handler.setup = _no_delay
"#;

/// How to start moto.
#[derive(Debug, Clone, Default)]
pub struct MotoOptions {
    /// The loopback port; when `None`, moto binds a free one itself and reports it.
    pub port: Option<u16>,
    /// Serve one request at a time.
    ///
    /// moto's threaded server runs requests side by side. Its own `TransactWriteItems` is
    /// not atomic under that (a cancelled transaction put back a copy of the whole table,
    /// wiping out what other requests wrote meanwhile); the launcher replaces it with one
    /// that checks every condition before writing and is serializable with other
    /// transactions ([`TRANSACTIONS`]), but single writes still run beside a transaction.
    /// Serving one request at a time makes every request serializable.
    pub serialised: bool,
    /// Where moto's own request log goes (discarded when `None`).
    pub log: Option<PathBuf>,
}

/// A moto server: one this process started (stopped when dropped), or one it reuses.
pub struct Moto {
    child: Option<(Child, ChildStdin)>,
    pub endpoint: String,
    pub port: u16,
    http: reqwest::Client,
}

/// The first of `candidates` (directories) holding `scripts/pyenv`: the workspace root.
pub fn find_pyenv(candidates: &[PathBuf]) -> Option<PathBuf> {
    candidates.iter().find_map(|dir| {
        dir.ancestors()
            .find(|d| d.join("scripts/pyenv").is_file() && d.join("tools").is_dir())
            .map(Path::to_path_buf)
    })
}

/// `moto_server`: `$CARTBACK_MOTO_SERVER`, else the venv `scripts/pyenv` makes (installing
/// moto on first use; its progress goes to stderr).
pub fn moto_binary(workspace: &Path) -> Result<PathBuf> {
    let path = match std::env::var_os("CARTBACK_MOTO_SERVER") {
        Some(path) => PathBuf::from(path),
        None => {
            let script = workspace.join("scripts/pyenv");
            let output = Command::new("bash")
                .arg(&script)
                .stderr(Stdio::inherit())
                .output()
                .map_err(|e| {
                    DevStackError::Moto(format!(
                        "cannot run {} (needs bash and Python 3): {e}",
                        script.display()
                    ))
                })?;
            if !output.status.success() {
                return Err(DevStackError::Moto(format!(
                    "{} failed ({}): it installs moto into a venv with Python 3's venv \
                     module and pip; see the messages above",
                    script.display(),
                    output.status
                )));
            }
            let venv = String::from_utf8_lossy(&output.stdout).trim().to_owned();
            PathBuf::from(venv).join("bin/moto_server")
        }
    };
    if !path.exists() {
        return Err(DevStackError::Moto(format!(
            "moto_server not found at {} (set CARTBACK_MOTO_SERVER or run scripts/pyenv)",
            path.display()
        )));
    }
    Ok(path)
}

/// Reads a child's standard output on a thread of its own until `find` recognises the line
/// that announces the port it listens on, and keeps reading (and dropping) the rest, so a
/// chatty child never blocks on a full pipe. The receiver gets the port, or `None` when the
/// output ended without one (the child exited).
pub fn announced_port(
    stdout: std::process::ChildStdout,
    find: impl Fn(&str) -> Option<u16> + Send + 'static,
) -> std::sync::mpsc::Receiver<Option<u16>> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
        let port = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| find(&line));
        let _ = sender.send(port);
        lines.for_each(drop);
    });
    receiver
}

/// The port moto listens on: the launcher prints it once its socket is bound.
async fn listening_port(stdout: std::process::ChildStdout) -> Result<u16> {
    let announced = announced_port(stdout, |line| line.trim().parse().ok());
    let port = tokio::task::spawn_blocking(move || announced.recv_timeout(START_TIMEOUT))
        .await
        .map_err(|e| DevStackError::Moto(format!("waiting for moto's port: {e}")))?;
    match port {
        Ok(Some(port)) => Ok(port),
        Ok(None) => Err(DevStackError::Moto(
            "moto exited before it said its port: is the port taken? (its log says why)".into(),
        )),
        Err(_) => Err(DevStackError::Moto(format!(
            "moto did not bind a port within {} s",
            START_TIMEOUT.as_secs()
        ))),
    }
}

impl Moto {
    /// Starts moto from `binary` (its venv's Python runs the launcher) and waits until it
    /// answers.
    pub async fn start(binary: &Path, options: &MotoOptions) -> Result<Self> {
        let python = binary
            .parent()
            .map(|bin| bin.join("python"))
            .filter(|python| python.exists())
            .ok_or_else(|| {
                DevStackError::Moto(format!("no venv python next to {}", binary.display()))
            })?;
        let log = match &options.log {
            Some(path) => std::fs::File::create(path)
                .map(Stdio::from)
                .map_err(|e| DevStackError::Moto(format!("{}: {e}", path.display())))?,
            None => Stdio::null(),
        };
        let mode = if options.serialised {
            "serialised"
        } else {
            "threaded"
        };
        let mut child = Command::new(&python)
            .args([
                "-c",
                LAUNCHER,
                "127.0.0.1",
                // Port 0: moto binds a free one itself and prints it (no race with another
                // process for a port chosen here).
                &options.port.unwrap_or(0).to_string(),
                mode,
                &format!("{TRANSACTIONS}\n{SPEEDUPS}"),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| DevStackError::Moto(format!("starting {}: {e}", python.display())))?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| DevStackError::Moto("no pipe to moto's stdin".into()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| DevStackError::Moto("no pipe from moto's stdout".into()))?;
        let port = match listening_port(stdout).await {
            Ok(port) => port,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        let mut moto = Self {
            child: Some((child, stdin)),
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            http: reqwest::Client::new(),
        };
        moto.wait_until_up().await?;
        Ok(moto)
    }

    /// The moto already answering on `port`, if one does (never stopped by us).
    pub async fn reuse(port: u16) -> Option<Self> {
        let moto = Self {
            child: None,
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            http: reqwest::Client::new(),
        };
        moto.answers().await.then_some(moto)
    }

    /// Whether this process started it (and stops it when dropped).
    pub fn started_here(&self) -> bool {
        self.child.is_some()
    }

    async fn answers(&self) -> bool {
        self.http
            .get(format!("{}/moto-api/data.json", self.endpoint))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    }

    async fn wait_until_up(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if self.answers().await {
                return Ok(());
            }
            if let Some(status) = self.exited() {
                return Err(DevStackError::Moto(format!(
                    "moto exited ({status}) before answering on {}: is port {} taken?",
                    self.endpoint, self.port
                )));
            }
            if Instant::now() > deadline {
                return Err(DevStackError::Moto(format!(
                    "moto did not answer on {} within {} s",
                    self.endpoint,
                    START_TIMEOUT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        let (child, _) = self.child.as_mut()?;
        child.try_wait().ok().flatten()
    }

    /// moto's whole state (`GET /moto-api/data.json`).
    pub async fn data(&self) -> Result<Value> {
        let response = self
            .http
            .get(format!("{}/moto-api/data.json", self.endpoint))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| DevStackError::Moto(format!("reading data.json: {e}")))?;
        response
            .json()
            .await
            .map_err(|e| DevStackError::Moto(format!("data.json: {e}")))
    }

    /// Stops moto if this process started it; a reused one keeps running.
    pub fn stop(&mut self) {
        if let Some((mut child, stdin)) = self.child.take() {
            drop(stdin);
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// What moto wrote to its log, when it was started with one (for error messages).
    pub fn log_tail(path: &Path) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(path) {
            let _ = file.read_to_string(&mut text);
        }
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}
