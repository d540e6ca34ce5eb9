//! Personal data out of text we did not write: AWS error messages can quote the address or
//! number a request was about ("…failed the check in region EU-WEST-1: ada@example.com"),
//! and those messages end up in logs and dead-letter queues. Email addresses become
//! `<email>`, `+` and seven or more digits become `<phone>`.

use std::borrow::Cow;

/// `text` with email addresses and international phone numbers replaced.
pub fn personal_data(text: &str) -> Cow<'_, str> {
    if !text.contains('@') && !text.contains('+') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let token_end = rest.find(is_separator).unwrap_or(rest.len());
        let (token, tail) = rest.split_at(token_end);
        if token.is_empty() {
            // A separator: copy it.
            let c = tail.chars().next().unwrap_or(' ');
            out.push(c);
            rest = &tail[c.len_utf8()..];
            continue;
        }
        out.push_str(&redact_token(token));
        rest = tail;
    }
    Cow::Owned(out)
}

fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '"' | '\'' | ',' | ';' | '<' | '>' | '(' | ')' | '[' | ']' | '{' | '}' | '='
        )
}

fn redact_token(token: &str) -> Cow<'_, str> {
    if let Some(at) = token.find('@')
        && at > 0
        && token[at + 1..].contains('.')
    {
        // Keep a trailing full stop of the sentence.
        return if token.ends_with('.') {
            Cow::Borrowed("<email>.")
        } else {
            Cow::Borrowed("<email>")
        };
    }
    if let Some(plus) = token.find('+') {
        let digits = token[plus + 1..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '-')
            .filter(char::is_ascii_digit)
            .count();
        if digits >= 7 {
            let number_end = plus
                + 1
                + token[plus + 1..]
                    .find(|c: char| !(c.is_ascii_digit() || c == '-'))
                    .unwrap_or(token.len() - plus - 1);
            return Cow::Owned(format!("{}<phone>{}", &token[..plus], &token[number_end..]));
        }
    }
    Cow::Borrowed(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ses_and_sns_messages_lose_the_address_and_the_number() {
        assert_eq!(
            personal_data(
                "SendEmail: MessageRejected: Email address is not verified. The following identities failed the check in region EU-WEST-1: ada@example.com, Shop <shop@kuura.example>"
            ),
            "SendEmail: MessageRejected: Email address is not verified. The following identities failed the check in region EU-WEST-1: <email>, Shop <<email>>"
        );
        assert_eq!(
            personal_data(
                "Publish: InvalidParameter: Invalid parameter: PhoneNumber Reason: +358401234567 is not valid."
            ),
            "Publish: InvalidParameter: Invalid parameter: PhoneNumber Reason: <phone> is not valid."
        );
        assert_eq!(personal_data("to=ada@example.com."), "to=<email>.");
    }

    #[test]
    fn ordinary_messages_are_left_alone() {
        let text = "UpdateItem: ConditionalCheckFailedException: The conditional request failed (+1 retry, 3+4)";
        assert_eq!(personal_data(text), text);
        assert!(matches!(
            personal_data("no personal data"),
            Cow::Borrowed(_)
        ));
        assert_eq!(personal_data("@handle and a@b"), "@handle and a@b");
    }
}
