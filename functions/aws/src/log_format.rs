//! The functions' JSON log lines, with the Lambda invocation's ids on every line.
//!
//! `lambda_runtime` runs each invocation in a span named `Lambda runtime invoke` with the
//! fields `requestId` and `xrayTraceId`. The JSON formatter prints only the innermost span
//! (`span`), which inside a handler is the handler's own, so without this the request id
//! would be on no line the handlers write. [`WithInvocationIds`] prints each line as the JSON
//! formatter does and adds `requestId` and `xrayTraceId` at the top level when the event is
//! inside an invocation; every other field keeps its place (`message`, `span.cart`…), so the
//! runbook's queries and the metric filters read the same paths.

use std::fmt;

use serde_json::Value;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The span `lambda_runtime` opens around each invocation.
const INVOKE_SPAN: &str = "Lambda runtime invoke";
/// Its fields copied onto every line.
const IDS: [&str; 2] = ["requestId", "xrayTraceId"];

/// A JSON event formatter `F` whose lines also carry the invocation's ids.
pub struct WithInvocationIds<F>(pub F);

impl<S, N, F> FormatEvent<S, N> for WithInvocationIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        let ids = invocation_ids(ctx);
        let object = line.trim_end();
        match object.strip_suffix('}') {
            // The ids are appended inside the object, as text: the formatter's field order
            // (`level`, `message`, the event's fields, `span`) stays as it wrote it.
            Some(open) if !ids.is_empty() && open.len() > 1 => {
                writer.write_str(open)?;
                for (name, value) in ids {
                    write!(writer, ",{}:{value}", Value::String(name))?;
                }
                writer.write_str("}\n")
            }
            // Outside an invocation, or not one JSON object: the line as it was.
            _ => writer.write_str(&line),
        }
    }
}

/// `requestId` and `xrayTraceId` of the invocation the current span is in, if any.
fn invocation_ids<S, N>(ctx: &FmtContext<'_, S, N>) -> Vec<(String, Value)>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    let Some(scope) = ctx.event_scope() else {
        return Vec::new();
    };
    for span in scope.from_root() {
        if span.name() != INVOKE_SPAN {
            continue;
        }
        let extensions = span.extensions();
        let Some(fields) = extensions.get::<FormattedFields<N>>() else {
            return Vec::new();
        };
        let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields) else {
            return Vec::new();
        };
        return IDS
            .iter()
            .filter_map(|name| Some(((*name).to_owned(), fields.get(*name)?.clone())))
            .collect();
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut kept) = self.0.lock() {
                kept.extend_from_slice(buf);
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Lines;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    fn logged(lines: &Lines) -> Vec<Value> {
        let bytes = lines.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    #[test]
    fn every_line_of_an_invocation_carries_its_ids_and_keeps_its_shape() {
        let lines = Lines::default();
        let subscriber = crate::config::json_subscriber(lines.clone(), "info");
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("before any invocation");
            let invoke = tracing::info_span!(
                "Lambda runtime invoke",
                requestId = "8f5c1e2a-req",
                xrayTraceId = "Root=1-abc"
            );
            let _invoke = invoke.enter();
            let handler = tracing::info_span!("handle", cart = "3f0c9a");
            let _handler = handler.enter();
            tracing::info!(step = 2, "sent");
        });
        let raw = String::from_utf8_lossy(&lines.0.lock().map(|b| b.clone()).unwrap_or_default())
            .into_owned();
        assert!(
            raw.contains(r#"{"level":"INFO","message":"sent","step":2,"span":"#),
            "the formatter's order, the message first: {raw}"
        );
        let logged = logged(&lines);
        assert_eq!(logged.len(), 2, "{logged:?}");
        assert!(logged[0].get("requestId").is_none(), "{}", logged[0]);
        let sent = &logged[1];
        assert_eq!(sent["requestId"], "8f5c1e2a-req", "{sent}");
        assert_eq!(sent["xrayTraceId"], "Root=1-abc", "{sent}");
        // The rest as the formatter writes it: the event's fields at the top level, the
        // handler's span under `span`.
        assert_eq!(sent["message"], "sent", "{sent}");
        assert_eq!(sent["step"], 2, "{sent}");
        assert_eq!(sent["span"]["cart"], "3f0c9a", "{sent}");
        assert_eq!(sent["level"], "INFO", "{sent}");
    }
}
