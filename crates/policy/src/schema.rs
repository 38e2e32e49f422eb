//! The JSON Schema of the policy file, generated from the Rust types (`docs/policy.schema.json`),
//! for editors and CI that validate the file before jitgate sees it.

use crate::model::PolicyDocument;

/// The schema as a JSON value (JSON Schema draft 2020-12).
#[must_use]
pub fn schema() -> serde_json::Value {
    let mut value = schemars::schema_for!(PolicyDocument).to_value();
    unwrap_descriptions(&mut value);
    value
}

/// Doc comments are wrapped at 100 columns; a description reads better as one line.
fn unwrap_descriptions(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                match child {
                    serde_json::Value::String(text) if key == "description" => {
                        *text = text
                            .split('\n')
                            .map(str::trim)
                            .collect::<Vec<_>>()
                            .join(" ");
                    }
                    _ => unwrap_descriptions(child),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(unwrap_descriptions),
        _ => {}
    }
}

/// The schema as committed in `docs/policy.schema.json`: pretty-printed, with a final newline.
#[must_use]
pub fn schema_json() -> String {
    let mut text = serde_json::to_string_pretty(&schema()).unwrap_or_default();
    text.push('\n');
    text
}
