//! The wording of poem-openapi's parse and validator errors, turned into the sentences a
//! problem body's `errors[].message` carries.

/// Turns poem-openapi's parse and validator wording ("verification failed. minimum(1,
/// exclusive: false)", `failed to parse "integer(int64)": …`) into a sentence a person
/// understands ("must be at least 1"). Our own types' messages ("must be …") pass through.
pub fn human_reason(reason: &str) -> String {
    // `Option<T>` appends where it was; the field name already says that.
    let reason = reason
        .rfind(" (occurred while parsing")
        .map_or(reason, |at| &reason[..at]);
    if let Some(rule) = reason.strip_prefix("verification failed. ") {
        return human_rule(rule);
    }
    if let Some(rest) = reason.strip_prefix("failed to parse \"")
        && let Some((ty, message)) = rest.split_once("\": ")
    {
        if message.starts_with("must ") || message.starts_with("is ") {
            return message.to_owned();
        }
        return must_be_type(ty);
    }
    if let Some(rest) = reason.strip_prefix("Expected input type \"") {
        if rest.ends_with("found null.") {
            return "is required".to_owned();
        }
        if let Some((ty, _)) = rest.split_once('"') {
            return must_be_type(ty);
        }
    }
    let text: String = reason.chars().take(200).collect();
    if text.is_empty() {
        "is invalid".to_owned()
    } else {
        text
    }
}

fn must_be_type(ty: &str) -> String {
    match ty {
        t if t.starts_with("integer") => "must be a whole number".to_owned(),
        t if t.starts_with("number") => "must be a number".to_owned(),
        "boolean" => "must be true or false".to_owned(),
        t if t.starts_with("string") => "must be a string".to_owned(),
        _ => "is not a valid value".to_owned(),
    }
}

fn human_rule(rule: &str) -> String {
    let arg = |name: &str| -> Option<&str> {
        rule.strip_prefix(name)?
            .strip_prefix('(')?
            .strip_suffix(')')
    };
    if let Some(inner) = arg("minimum") {
        let (n, exclusive) = inner
            .split_once(", exclusive: ")
            .unwrap_or((inner, "false"));
        return if exclusive == "true" {
            format!("must be greater than {n}")
        } else {
            format!("must be at least {n}")
        };
    }
    if let Some(inner) = arg("maximum") {
        let (n, exclusive) = inner
            .split_once(", exclusive: ")
            .unwrap_or((inner, "false"));
        return if exclusive == "true" {
            format!("must be less than {n}")
        } else {
            format!("must be at most {n}")
        };
    }
    if let Some(n) = arg("minLength") {
        return if n == "1" {
            "must not be empty".to_owned()
        } else {
            format!("must be at least {n} characters")
        };
    }
    if let Some(n) = arg("maxLength") {
        return format!("must be at most {n} characters");
    }
    if let Some(p) = arg("pattern") {
        return format!("must match {}", p.trim_matches('"'));
    }
    "is invalid".to_owned()
}

#[cfg(test)]
mod tests {
    use super::human_reason;

    #[test]
    fn framework_reasons_read_as_sentences() {
        for (raw, human) in [
            (
                "verification failed. minimum(1, exclusive: false)",
                "must be at least 1",
            ),
            (
                "verification failed. maximum(1000, exclusive: false)",
                "must be at most 1000",
            ),
            ("verification failed. minLength(1)", "must not be empty"),
            (
                "verification failed. maxLength(64)",
                "must be at most 64 characters",
            ),
            (
                "failed to parse \"integer(int64)\": invalid digit found in string",
                "must be a whole number",
            ),
            (
                "failed to parse \"StoreId\": must be 1–64 characters",
                "must be 1–64 characters",
            ),
            (
                "Expected input type \"integer(int64)\", found null.",
                "is required",
            ),
        ] {
            assert_eq!(human_reason(raw), human, "{raw}");
        }
    }
}
