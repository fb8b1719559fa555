//! JSON as `dump`, `stats` write it: indented, but each array of numbers
//! or strings on one line, so a page range `[7, 12]` or a record's
//! operations take one line, not one per element.

use serde_json::Value;

/// `v` as indented JSON and a newline, each array of scalars on one line.
pub fn json_text(v: &Value) -> String {
    let mut s = String::new();
    write_json(v, 0, &mut s);
    s.push('\n');
    s
}

fn write_json(v: &Value, indent: usize, out: &mut String) {
    // A scalar or a string always serializes; so does a map key.
    let scalar = |v: &Value| serde_json::to_string(v).expect("a JSON scalar serializes");
    let pad = "  ".repeat(indent + 1);
    match v {
        Value::Array(a) if a.iter().all(|x| !x.is_array() && !x.is_object()) => {
            let items: Vec<String> = a.iter().map(scalar).collect();
            *out += &format!("[{}]", items.join(", "));
        }
        Value::Array(a) => {
            *out += "[\n";
            for (i, x) in a.iter().enumerate() {
                *out += &pad;
                write_json(x, indent + 1, out);
                *out += if i + 1 < a.len() { ",\n" } else { "\n" };
            }
            *out += &format!("{}]", "  ".repeat(indent));
        }
        Value::Object(m) if m.is_empty() => *out += "{}",
        Value::Object(m) => {
            *out += "{\n";
            for (i, (k, x)) in m.iter().enumerate() {
                *out += &format!("{pad}{}: ", scalar(&Value::String(k.clone())));
                write_json(x, indent + 1, out);
                *out += if i + 1 < m.len() { ",\n" } else { "\n" };
            }
            *out += &format!("{}}}", "  ".repeat(indent));
        }
        _ => *out += &scalar(v),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_back_with_scalar_arrays_on_one_line() {
        let v = json!({
            "ranges": [[7, 12], [15, 15]], "ops": ["put \"a\"", "b"], "empty": {},
            "nested": {"x": null, "y": [], "z": 1.5}, "name": "tab\there",
        });
        let text = json_text(&v);
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), v);
        assert!(text.contains("\n    [7, 12],\n    [15, 15]\n"), "{text}");
        assert!(text.contains(r#""ops": ["put \"a\"", "b"]"#), "{text}");
    }
}
