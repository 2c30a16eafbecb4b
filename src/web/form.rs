//! URL-encoded form bodies with repeated keys (bulk selection).

use std::collections::HashMap;

use axum::body::Bytes;

#[derive(Debug, Default)]
pub struct FormData(HashMap<String, Vec<String>>);

impl FormData {
    pub fn parse(body: &Bytes) -> Self {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(body) {
            map.entry(k.into_owned()).or_default().push(v.into_owned());
        }
        FormData(map)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.first()).map(String::as_str)
    }

    /// A non-empty, trimmed value.
    pub fn text(&self, key: &str) -> Option<String> {
        self.get(key)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    pub fn all(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or(&[])
    }
}
