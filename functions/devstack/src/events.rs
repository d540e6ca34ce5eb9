//! The events AWS hands the functions, built from what moto holds: the DynamoDB stream batch
//! the planner gets, and SES events in the SNS envelope the feedback function gets.

use std::collections::HashMap;

use cartback_core::model::ids::tag_value;
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::{DevStackError, Result};

/// Stream records (as the Streams API returns them) → the Lambda event the planner receives.
pub fn stream_event(
    records: Vec<aws_sdk_dynamodbstreams::types::Record>,
    region: &str,
) -> Result<aws_lambda_events::dynamodb::Event> {
    let mut out = Vec::new();
    for record in records {
        let change = record
            .dynamodb
            .ok_or_else(|| DevStackError::Data("stream record without dynamodb".into()))?;
        let image = |item: Option<
            HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>,
        >|
         -> Result<Value> {
            match item {
                Some(item) => serde_json::to_value(serde_dynamo::Item::from(item))
                    .map_err(|e| DevStackError::Data(format!("stream image: {e}"))),
                None => Ok(Value::Null),
            }
        };
        let mut dynamodb = json!({
            "Keys": image(change.keys)?,
            "NewImage": image(change.new_image)?,
            "OldImage": image(change.old_image)?,
            "SequenceNumber": change.sequence_number,
            "SizeBytes": change.size_bytes.unwrap_or(0),
            "StreamViewType": "NEW_AND_OLD_IMAGES",
            "ApproximateCreationDateTime": 0
        });
        if let Some(map) = dynamodb.as_object_mut() {
            map.retain(|_, v| !v.is_null());
        }
        out.push(json!({
            "eventID": record.event_id,
            "eventName": record.event_name.map(|n| n.as_str().to_owned()),
            "eventVersion": record.event_version,
            "eventSource": "aws:dynamodb",
            "awsRegion": region,
            "dynamodb": dynamodb,
        }));
    }
    serde_json::from_value(json!({ "Records": out }))
        .map_err(|e| DevStackError::Data(format!("stream event: {e}")))
}

/// SNS's Lambda event around SES event JSON, one record per message (the shape of AWS's
/// sample SNS event for Lambda).
pub fn sns_event(messages: &[String], region: &str) -> Result<aws_lambda_events::sns::SnsEvent> {
    let topic = format!(
        "arn:aws:sns:{region}:{}:cartback-ses-events",
        crate::ACCOUNT
    );
    let records: Vec<Value> = messages
        .iter()
        .enumerate()
        .map(|(i, message)| {
            json!({
                "EventVersion": "1.0",
                "EventSubscriptionArn": format!("{topic}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55"),
                "EventSource": "aws:sns",
                "Sns": {
                    "SignatureVersion": "1",
                    "Timestamp": "2026-11-02T09:00:06.000Z",
                    "Signature": "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858fiTDN6bkkOxYDVrY0Ad8L10Hs3zH81mtnPk5uvvolIC1CXGu43obcgFxeL3khZl8IKvO61GWB6jI9b5+gLPoBc1Q=",
                    "SigningCertUrl": format!("https://sns.{region}.amazonaws.com/SimpleNotificationService-example.pem"),
                    "MessageId": format!("95df01b4-ee98-5cb9-9903-4c221d41eb{i:02}"),
                    "Message": message,
                    "MessageAttributes": {},
                    "Type": "Notification",
                    "UnsubscribeUrl": format!("https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={topic}:2bcfbf39"),
                    "TopicArn": topic,
                    "Subject": null
                }
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records }))
        .map_err(|e| DevStackError::Data(format!("SNS event: {e}")))
}

/// Which of our emails an SES event is about.
#[derive(Debug, Clone)]
pub struct SesEventOf<'a> {
    /// SES's message id.
    pub message_id: &'a str,
    /// The recipient.
    pub to: &'a str,
    /// When the email was sent (`mail.timestamp`).
    pub sent_at: Timestamp,
    /// When the open, click, bounce or complaint happened.
    pub happened_at: Timestamp,
    /// The tags the sender put on the email (shop, cart, 1-based step), when the fixture's
    /// own should be replaced.
    pub tags: Option<(&'a str, &'a str, u32)>,
}

/// An SES event in the documented shape (a fixture of `functions/core/tests/fixtures/ses`)
/// about one of our emails.
pub fn ses_event(fixture: &str, of: &SesEventOf<'_>) -> Result<String> {
    let mut event: Value = serde_json::from_str(fixture)
        .map_err(|e| DevStackError::Data(format!("SES event fixture: {e}")))?;
    let block = match event.get("eventType").and_then(Value::as_str) {
        Some("Open") => "open",
        Some("Click") => "click",
        Some("Bounce") => "bounce",
        Some("Complaint") => "complaint",
        Some("Delivery") => "delivery",
        other => {
            return Err(DevStackError::Data(format!(
                "no timestamp block for SES event type {other:?}"
            )));
        }
    };
    let stamp = |t: Timestamp| json!(t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
    event["mail"]["timestamp"] = stamp(of.sent_at);
    event["mail"]["messageId"] = json!(of.message_id);
    event["mail"]["destination"] = json!([of.to]);
    event["mail"]["commonHeaders"]["messageId"] = json!(of.message_id);
    event[block]["timestamp"] = stamp(of.happened_at);
    if let Some((shop, cart, step)) = of.tags {
        let tags = &mut event["mail"]["tags"];
        tags["shop_ref"] = json!([tag_value(shop)]);
        tags["cart_ref"] = json!([tag_value(cart)]);
        tags["step"] = json!([step.to_string()]);
    }
    match block {
        "bounce" => {
            if let Some(recipients) = event["bounce"]["bouncedRecipients"].as_array_mut() {
                for recipient in recipients {
                    recipient["emailAddress"] = json!(of.to);
                }
            }
        }
        "complaint" => {
            if let Some(recipients) = event["complaint"]["complainedRecipients"].as_array_mut() {
                for recipient in recipients {
                    recipient["emailAddress"] = json!(of.to);
                }
            }
        }
        _ => {}
    }
    Ok(event.to_string())
}
